"""The LR range test (Leslie Smith's LR finder), vmapped over optimizers x architectures x seeds.

Each member trains with a learning rate that grows exponentially from ``min_lr`` to ``max_lr``
(``optax.exponential_decay`` with a rate above one). Its loss curve is smoothed without lag, and
its diverging rate is where the smoothed loss turns up for good after its minimum, or, on a curve
that never turns up, where it has fallen a hundredfold (``read_curve``).
Per optimizer, the suggestion is the article's rule, half the diverging rate, taken as the median
over members (architectures and seeds) so that it is stable; Smith's steepest-descent point and
the spread across members are reported beside it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsweep.cache.programs import Stored
from jaxsweep.engine import threefry
from jaxsweep.engine.cohort import Cohort, Data, Hyper, steps_per_epoch
from jaxsweep.engine.model import MLP
from jaxsweep.engine.optimizers import make_optimizer
from jaxsweep.engine.train import init_variables, make_step, shuffled_rows, train_steps

# The search window around a suggestion s: [s / BELOW, s * ABOVE], up to 1.5 times the
# diverging rate. Against a grid of constant rates (benchmarks/lr_truth.py, 6 seeds) it held the
# best rate for 17 of 20 optimizer x table pairs, 1.5 decades wide (median). Ending at 2 s and
# starting at Smith's steepest point where that was lower, it held 16 in 1.6 decades: on a curve
# that is flat and noisy before its descent (diabetes) the steepest point sits at the range's
# first steps (2e-5 for SGD, RMSE 73 against 56 at the best rate).
WINDOW_BELOW, WINDOW_ABOVE = 10.0, 3.0
SKIP_START = 10  # Smith: the first steps' slope is noise
EXPLODED = 4.0  # a running average this many times its lowest: the loss has exploded
# A curve that never turns up (a small table the network memorises: wine's loss falls to 1e-6 at a
# rate of 10) reads its diverging rate where the smoothed loss is this share of its start: past
# it the network fits its training rows, and larger rates only memorise faster. Against
# benchmarks/lr_truth.py's grid, wine's suggestions were 5 (accuracy 0.33 for SGD) without it.
FITTED = 0.01


@dataclass(frozen=True)
class Curve:
    """One member's test: the rates, raw and smoothed losses, and what was read off them."""

    optimizer: str
    label: str
    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray  # NaN from the step where the loss exploded
    minimum_at: int  # index of the smoothed loss's minimum
    diverged_at: int | None  # index of the first step of the turn up; None if it never turned
    fitted_at: int | None  # a curve that never turned: where its loss had fallen to FITTED
    diverging_lr: float
    steepest_lr: float

    @property
    def minimum_lr(self) -> float:
        return float(self.learning_rates[self.minimum_at])


@dataclass(frozen=True)
class Suggestion:
    optimizer: str
    learning_rate: float  # the article's rule: half the diverging rate, median over members
    diverging: float  # the diverging rate, median over members
    steepest: float  # Smith's steepest descent point, median over members
    spread: tuple[float, float]  # min and max of the members' half-diverging rates
    window: tuple[float, float]  # the search stage's learning-rate range
    members: int
    curves: list[Curve] = field(default_factory=list, repr=False)


def make_range_test(cohort: Cohort, steps: int, min_lr: float, max_lr: float):
    """A pure function of one member: ``(key, hyper, data) -> (learning rates, losses)``."""
    model = MLP(cohort.layout)
    schedule = optax.exponential_decay(
        min_lr, transition_steps=steps - 1, decay_rate=max_lr / min_lr
    )

    def member(key: jax.Array, hyper: Hyper, data: Data) -> tuple[jax.Array, jax.Array]:
        init_key, order_key, noise_key = threefry.split(key, 3)
        params, batch_stats = init_variables(model, init_key, hyper, data.X_train[:1])
        tx = make_optimizer(cohort, hyper, learning_rate=schedule)
        n_train = data.X_train.shape[0]
        passes = -(-steps // steps_per_epoch(n_train, cohort.batch_size))
        rows = shuffled_rows(threefry.split(order_key, passes), n_train, cohort.batch_size, steps)
        step = make_step(cohort, model, tx, hyper, data)
        _, step_losses = train_steps(step, (params, batch_stats, tx.init(params)), rows, noise_key)
        return schedule(jnp.arange(steps)), step_losses

    return member


@functools.cache
def population_range_test(cohort: Cohort, steps: int, min_lr: float, max_lr: float) -> Stored:
    member = make_range_test(cohort, steps, min_lr, max_lr)
    static = (cohort, steps, min_lr, max_lr)
    return Stored("range_test", jax.vmap(member, in_axes=(0, 0, None)), static)


def smooth(losses: np.ndarray, beta: float) -> np.ndarray:
    """Zero-lag smoothing: a bias-corrected exponential moving average (Smith's and fastai's),
    run forwards, then backwards over its output. The forward average alone lags by about
    ``beta / (1 - beta)`` steps, 49 at 0.98: over 400 steps from 1e-6 to 10 that is a factor of
    7 in the rate, so every point read off it sat at a higher rate than the loss it described."""
    return _average(_average(losses, beta)[::-1], beta)[::-1]


def _average(values: np.ndarray, beta: float) -> np.ndarray:
    average, out = 0.0, np.empty(len(values))
    for i, value in enumerate(values):
        average = beta * average + (1 - beta) * value
        out[i] = average / (1 - beta ** (i + 1))
    return out


def exploded_at(losses: np.ndarray, beta: float) -> int:
    """The first step whose loss has exploded: non-finite, or its running (forward) average above
    ``EXPLODED`` times the lowest one before it. Nothing from there on is smoothed or read: a
    loss of 1e30 would swamp every average around it. ``len(losses)`` when none has."""
    forward = _average(np.where(np.isfinite(losses), losses, np.inf), beta)
    lowest = np.minimum.accumulate(np.where(np.isfinite(forward), forward, np.inf))
    bad = ~np.isfinite(forward) | (forward > EXPLODED * lowest)
    return int(np.argmax(bad)) if bad.any() else len(losses)


def read_curve(
    optimizer: str,
    label: str,
    rates: np.ndarray,
    losses: np.ndarray,
    beta: float,
    turn_up: float,
) -> Curve:
    """Read a member's curve. Its *diverging rate* is where the smoothed loss turns up for
    good: the first step past the minimum from which the smoothed loss stays above ``turn_up``
    times the minimum (or the loss explodes). Noise past the minimum that comes back down is
    not a turn; a rise that never comes back is, from its first step. A curve that never turns
    up is read where it has fallen to ``FITTED`` times its start (the range's top if it never
    falls that far). Smith's steepest descent is searched before the minimum only: past it the
    loss climbs, and its noise has no descent to find."""
    end = exploded_at(losses, beta)
    smoothed = np.full(len(losses), np.nan)
    if end == 0:  # the very first loss was not finite
        first = float(rates[0])
        return Curve(optimizer, label, rates, losses, smoothed, 0, 0, None, first, first)
    smoothed[:end] = smooth(losses[:end], beta)
    lowest = int(np.argmin(smoothed[:end]))
    below = np.flatnonzero(smoothed[:end] <= turn_up * smoothed[lowest])
    diverged_at: int | None = int(below[-1]) + 1  # the last step still near the minimum, +1
    fitted_at = None
    if diverged_at == len(losses):
        diverged_at = None
        fitted = np.flatnonzero(smoothed[:end] <= FITTED * smoothed[0])
        fitted_at = int(fitted[0]) if len(fitted) else None
    reading = diverged_at if diverged_at is not None else fitted_at
    diverging_lr = float(rates[-1] if reading is None else rates[reading])
    usable = slice(min(SKIP_START, max(0, lowest - 1)), lowest + 1)
    if lowest + 1 - usable.start >= 2:
        slope = np.gradient(smoothed[usable], np.log(rates[usable]))
        steepest = float(rates[usable][int(np.argmin(slope))])
    else:
        steepest = float(rates[0])
    return Curve(
        optimizer,
        label,
        rates,
        losses,
        smoothed,
        lowest,
        diverged_at,
        fitted_at,
        diverging_lr,
        steepest,
    )


def suggest(curves: list[Curve]) -> dict[str, Suggestion]:
    """Per optimizer: geometric medians over its members (architectures x seeds)."""
    result = {}
    for optimizer in dict.fromkeys(c.optimizer for c in curves):
        mine = [c for c in curves if c.optimizer == optimizer]
        halves = np.array([c.diverging_lr / 2 for c in mine])
        rate = geometric_median(halves)
        steepest = geometric_median(np.array([c.steepest_lr for c in mine]))
        window = (rate / WINDOW_BELOW, rate * WINDOW_ABOVE)
        result[optimizer] = Suggestion(
            optimizer,
            rate,
            2 * rate,
            steepest,
            (float(halves.min()), float(halves.max())),
            window,
            len(mine),
            mine,
        )
    return result


def geometric_median(values: np.ndarray) -> float:
    """The median on a log scale: rates are compared by their ratios."""
    return float(np.exp(np.median(np.log(values))))
