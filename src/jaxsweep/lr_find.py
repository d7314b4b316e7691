"""The LR range test (Leslie Smith's LR finder), vmapped over optimizers x architectures x seeds.

Each member trains with a learning rate that grows exponentially from ``min_lr`` to ``max_lr``
(``optax.exponential_decay`` with a rate above one). Its loss curve is smoothed; the member stops
counting where the smoothed loss first exceeds ``diverge_factor`` times its best. Per optimizer,
the suggestion is the article's rule, half the diverging rate, taken as the median over members
(architectures and seeds) so that it is stable; Smith's steepest-descent point and the spread
across members are reported beside it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsweep import shuffle, threefry
from jaxsweep.model import MLP
from jaxsweep.stored import Stored
from jaxsweep.train import Cohort, Data, Hyper, init_variables, make_optimizer, make_step

# The search window around a suggestion s: [min(steepest, s / BELOW), s * ABOVE]. With s half the
# diverging rate, the top of the window stays below where training diverges.
WINDOW_BELOW, WINDOW_ABOVE = 10.0, 1.5
SKIP_START = 10  # Smith: the first steps' slope is noise


@dataclass(frozen=True)
class Curve:
    """One member's test: the rates, raw and smoothed losses, and what was read off them."""

    optimizer: str
    label: str
    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed: np.ndarray
    diverged_at: int | None  # index of the first diverging step; None if it never diverged
    diverging_lr: float
    steepest_lr: float


@dataclass(frozen=True)
class Suggestion:
    optimizer: str
    learning_rate: float  # the article's rule: half the diverging rate, median over members
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
        per_epoch = max(1, n_train // cohort.batch_size)
        epochs = -(-steps // per_epoch)
        orders = jax.vmap(lambda k: shuffle.permutation(k, n_train))(
            threefry.split(order_key, epochs)
        )
        rows = jnp.resize(orders.reshape(-1), steps * cohort.batch_size).reshape(steps, -1)
        step = make_step(cohort, model, tx, hyper, data)
        carry = (params, batch_stats, tx.init(params))
        _, step_losses = jax.lax.scan(step, carry, (rows, threefry.split(noise_key, steps)))
        return schedule(jnp.arange(steps)), step_losses

    return member


@functools.cache
def population_range_test(cohort: Cohort, steps: int, min_lr: float, max_lr: float) -> Stored:
    member = make_range_test(cohort, steps, min_lr, max_lr)
    static = (cohort, steps, min_lr, max_lr)
    return Stored("range_test", jax.vmap(member, in_axes=(0, 0, None)), static)


def smooth(losses: np.ndarray, beta: float) -> np.ndarray:
    """Bias-corrected exponential moving average, as in Smith's and fastai's finders."""
    average, out = 0.0, np.empty(len(losses))
    for i, loss in enumerate(losses):
        average = beta * average + (1 - beta) * loss
        out[i] = average / (1 - beta ** (i + 1))
    return out


def read_curve(
    optimizer: str,
    label: str,
    rates: np.ndarray,
    losses: np.ndarray,
    beta: float,
    diverge_factor: float,
) -> Curve:
    smoothed = smooth(np.where(np.isfinite(losses), losses, np.inf), beta)
    best = np.minimum.accumulate(np.where(np.isfinite(smoothed), smoothed, np.inf))
    bad = ~np.isfinite(smoothed) | (smoothed > diverge_factor * best)
    diverged_at = int(np.argmax(bad)) if bad.any() else None
    end = diverged_at if diverged_at is not None else len(rates)
    diverging_lr = float(rates[end - 1] if diverged_at is None else rates[diverged_at])
    usable = slice(min(SKIP_START, max(0, end - 2)), end)
    if end - usable.start >= 2:
        slope = np.gradient(smoothed[usable], np.log(rates[usable]))
        steepest = float(rates[usable][int(np.argmin(slope))])
    else:
        steepest = float(rates[0])
    return Curve(optimizer, label, rates, losses, smoothed, diverged_at, diverging_lr, steepest)


def suggest(curves: list[Curve]) -> dict[str, Suggestion]:
    """Per optimizer: geometric medians over its members (architectures x seeds)."""
    result = {}
    for optimizer in dict.fromkeys(c.optimizer for c in curves):
        mine = [c for c in curves if c.optimizer == optimizer]
        halves = np.array([c.diverging_lr / 2 for c in mine])
        rate = float(np.exp(np.median(np.log(halves))))
        steepest = float(np.exp(np.median(np.log([c.steepest_lr for c in mine]))))
        window = (min(steepest, rate / WINDOW_BELOW), rate * WINDOW_ABOVE)
        result[optimizer] = Suggestion(
            optimizer,
            rate,
            steepest,
            (float(halves.min()), float(halves.max())),
            window,
            len(mine),
            mine,
        )
    return result
