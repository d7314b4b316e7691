"""The LR range test: the divergence rule, the smoothing, vmapped == alone, and suggestions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxsweep.config import LrFindConfig
from jaxsweep.data.dataset import Dataset
from jaxsweep.engine.lr_find import (
    make_range_test,
    population_range_test,
    read_curve,
    smooth,
    suggest,
)
from jaxsweep.search.member_config import resolve
from jaxsweep.search.population import (
    cohort_of,
    device_data,
    member_hyper,
    member_keys,
    stack_hypers,
)

MIN_LR, MAX_LR, STEPS = 1e-4, 10.0, 200
DEFAULT = LrFindConfig()


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_on_least_squares_the_loss_of_sgd_turns_up_below_2_over_l_within_a_factor_5(
    scale: float,
) -> None:
    # f(w) = |Xw - y|^2 / 2n; gradient descent diverges above lr = 2 / L, L the largest
    # eigenvalue of X'X / n. Minibatch SGD as the finder runs it, with its own schedule,
    # optimizer and reading rule: the loss turns up (minibatch noise grows with the rate) before
    # 2 / L, and the reading stays near it.
    rng = np.random.default_rng(0)
    n, steps = 256, 400
    X = jnp.asarray(rng.normal(size=(n, 5)) * scale, jnp.float32)
    y = X @ jnp.arange(1.0, 6.0) + jnp.asarray(rng.normal(size=n), jnp.float32)
    exact = 2.0 / float(np.linalg.eigvalsh(np.asarray(X.T @ X) / n).max())
    batches = jnp.asarray(np.stack([rng.permutation(n)[:32] for _ in range(steps)]))
    ramp = optax.exponential_decay(MIN_LR, steps - 1, MAX_LR / MIN_LR)

    def loss_of(w: jax.Array, rows: jax.Array) -> jax.Array:
        return 0.5 * jnp.mean((X[rows] @ w - y[rows]) ** 2)

    def step(w: jax.Array, t_rows: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        t, rows = t_rows
        loss, grad = jax.value_and_grad(loss_of)(w, rows)
        return w - ramp(t) * grad, loss  # optax.sgd's update

    scan = jax.jit(lambda: jax.lax.scan(step, jnp.zeros(5), (jnp.arange(steps), batches))[1])
    losses = scan()
    rates = np.asarray(ramp(jnp.arange(steps)))
    curve = read_curve(
        "sgd", "least squares", rates, np.asarray(losses), DEFAULT.smoothing, DEFAULT.turn_up
    )
    assert curve.diverged_at is not None and exact / 5 <= curve.diverging_lr <= exact


def test_the_smoothing_has_no_lag() -> None:
    # A V-shaped noisy loss with its minimum at step 200: the smoothed minimum stays there. A
    # forward moving average alone (Smith's and fastai's) puts it where the weight of the steps
    # since the minimum reaches one half, log(2) / (1 - beta) = 34 steps later at 0.98.
    steps = np.arange(400.0)
    noise = np.random.default_rng(0).normal(scale=0.05, size=400)
    losses = 1.0 + np.abs(steps - 200) / 100 + noise
    assert abs(int(np.argmin(smooth(losses, 0.98))) - 200) <= 4
    forward, average = np.empty(400), 0.0
    for i, loss in enumerate(losses):
        average = 0.98 * average + 0.02 * loss
        forward[i] = average / (1 - 0.98 ** (i + 1))
    assert int(np.argmin(forward)) > 220


def test_the_diverging_rate_is_where_the_loss_turns_up_for_good() -> None:
    # Down to a minimum of 0.45 near step 255; then a bump above 1.25 x the minimum (steps
    # 260-269) that comes back down to 0.5; from step 300 a rise that lasts, crossing 1.25 x 0.45
    # at step 312.5, through a noisy climb whose steps down are steeper than any before the
    # minimum (Smith's steepest descent is at step 150).
    steps = np.arange(400)
    rates = np.geomspace(1e-6, 10.0, 400)
    losses = np.where(steps < 260, 0.45 + 1.5 / (1 + np.exp((steps - 150) / 15)), 0.5)
    losses[260:270] = 0.8
    rise = 0.5 + 0.005 * (steps - 300)
    losses = np.where(steps >= 300, rise + np.where(steps % 2, 0.3, -0.3) * (steps > 340), losses)
    curve = read_curve("adam", "member", rates, losses, 0.5, 1.25)
    assert 240 <= curve.minimum_at < 260
    assert curve.diverged_at is not None and abs(curve.diverged_at - 313) <= 3
    assert curve.diverging_lr == rates[curve.diverged_at]
    assert abs(np.log(curve.steepest_lr / rates[150])) < np.log(rates[160] / rates[150])
    # A loss that explodes before it rises: it diverges where it exploded.
    exploding = np.where(steps < 250, losses, np.inf)
    assert read_curve("adam", "member", rates, exploding, 0.5, 1.25).diverged_at == 250


def test_a_loss_that_never_turns_up_is_read_where_it_fell_a_hundredfold() -> None:
    # A small table the network memorises: the loss falls all the way to the top of the range
    # (wine's fell to 1e-6 at a rate of 10). Reading the top as the diverging rate suggested 5.
    steps = np.arange(400)
    rates = np.geomspace(1e-6, 10.0, 400)
    noise = 1 + 0.05 * np.random.default_rng(0).normal(size=400)
    falling = np.exp(-np.maximum(steps - 150, 0) / 20.0) * noise  # 1 until step 150, then down
    curve = read_curve("sgd", "member", rates, falling, DEFAULT.smoothing, DEFAULT.turn_up)
    hundredfold = 150 + 20 * np.log(100)  # step 242
    assert curve.diverged_at is None and curve.fitted_at is not None
    assert abs(curve.fitted_at - hundredfold) <= 8  # the smoothing rounds the fall off
    assert curve.diverging_lr == rates[curve.fitted_at]
    # One that falls less than a hundredfold keeps the range's top.
    shallow = 0.5 + 0.5 * falling
    curve = read_curve("sgd", "member", rates, shallow, DEFAULT.smoothing, DEFAULT.turn_up)
    assert curve.fitted_at is None and curve.diverging_lr == rates[-1]


def test_the_vmapped_finder_gives_each_member_its_own_curve(iris: Dataset) -> None:
    configs = [
        resolve({"optimizer": opt, "units": 8, "batch_size": 16}, "multiclass", 3)
        for opt in ("adam", "adam", "adam")
    ]
    cohort = cohort_of(configs[0], "multiclass")
    hyper = stack_hypers([member_hyper(c, iris.train.y, cohort) for c in configs])
    keys = member_keys(1, [0, 1, 2])
    data = device_data(iris)
    rates, losses = population_range_test(cohort, 60, MIN_LR, MAX_LR)(keys, hyper, data)
    alone = jax.jit(make_range_test(cohort, 60, MIN_LR, MAX_LR))
    for i in range(3):
        own = jax.tree.map(lambda a, i=i: a[i], hyper)
        rates_i, losses_i = alone(keys[i], own, data)
        np.testing.assert_allclose(rates_i, rates[i], rtol=1e-6)
        # At small rates the curves agree to float32 rounding; at large ones rounding grows,
        # so there compare what the finder reads off them: the diverging rate, within a step.
        small = np.asarray(rates_i) < 1e-2
        np.testing.assert_allclose(losses_i[small], losses[i][small], rtol=1e-5, atol=1e-6)
        read = [
            read_curve(
                "adam", "", np.asarray(r), np.asarray(loss), 0.9, DEFAULT.turn_up
            ).diverging_lr
            for r, loss in ((rates_i, losses_i), (rates[i], losses[i]))
        ]
        assert read[0] == pytest.approx(read[1], rel=0.25)
    assert not np.allclose(losses[0], losses[1])  # different seeds, different curves


def test_suggestions_are_medians_with_spread_and_a_window_past_the_diverging_rate() -> None:
    rates = np.geomspace(MIN_LR, MAX_LR, STEPS)
    curves = []
    for diverge in (0.1, 0.2, 0.4):
        losses = np.where(rates < diverge, 1.0 / (1 + 1e4 * rates), 1e3)  # steepest at 1e-4
        curves.append(read_curve("sgd", str(diverge), rates, losses, 0.5, DEFAULT.turn_up))
    suggestion = suggest(curves)["sgd"]
    assert suggestion.learning_rate == pytest.approx(0.1, rel=0.1)  # half the median 0.2
    assert suggestion.spread[0] < suggestion.learning_rate < suggestion.spread[1]
    low, high = suggestion.window
    assert low == pytest.approx(suggestion.learning_rate / 10)
    assert suggestion.steepest < low / 10  # reported, but it does not widen the window
    assert high == pytest.approx(1.5 * suggestion.diverging)
    assert suggestion.diverging == pytest.approx(0.2, rel=0.1)
