"""The LR range test: the divergence rule, vmapped == alone, windows used by the search."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import optax
import optuna
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
from jaxsweep.search.lr_stage import RECORDED_STEPS, recorded_steps, search_windows
from jaxsweep.search.member_config import resolve
from jaxsweep.search.population import (
    cohort_of,
    device_data,
    member_hyper,
    member_keys,
    stack_hypers,
)
from jaxsweep.search.space import load_space
from tests.conftest import run_cli, write_yaml

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


@pytest.mark.parametrize("diverges_at", [None, 250, 0])
def test_the_study_records_evenly_spaced_steps_up_to_the_last_before_divergence(
    diverges_at: int | None,
) -> None:
    rates = np.geomspace(MIN_LR, MAX_LR, 400)
    losses = 1.0 / (1.0 + np.arange(400.0))
    if diverges_at is not None:
        losses[diverges_at:] = np.inf
    curve = read_curve("adam", "member", rates, losses, 0.5, DEFAULT.turn_up)
    assert curve.diverged_at == diverges_at
    steps = recorded_steps(curve)
    if diverges_at == 0:
        assert steps == []
        return
    end = diverges_at or 400
    assert steps[-1] == end - 1 and len(steps) <= RECORDED_STEPS
    assert set(np.diff(steps)) == {math.ceil(end / RECORDED_STEPS)}


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


def test_suggestions_are_medians_with_spread_and_a_window_up_to_the_diverging_rate() -> None:
    rates = np.geomspace(MIN_LR, MAX_LR, STEPS)
    curves = []
    for diverge in (0.1, 0.2, 0.4):
        losses = np.where(rates < diverge, 1.0 / (1 + 100 * rates), 1e3)
        curves.append(read_curve("sgd", str(diverge), rates, losses, 0.5, DEFAULT.turn_up))
    suggestion = suggest(curves)["sgd"]
    assert suggestion.learning_rate == pytest.approx(0.1, rel=0.1)  # half the median 0.2
    assert suggestion.spread[0] < suggestion.learning_rate < suggestion.spread[1]
    low, high = suggestion.window
    assert low < suggestion.learning_rate < high == pytest.approx(suggestion.diverging)
    assert suggestion.diverging == pytest.approx(0.2, rel=0.1)


def test_the_search_window_is_clipped_to_the_spaces_own_range(tmp_path: Path) -> None:
    result = {
        "adam": {"window": [1e-3, 1e-1]},  # overlaps the space's 1e-4..3e-2
        "sgd": {"window": [0.06, 0.9]},  # lies above it
    }
    rate = {"type": "float", "low": 1e-4, "high": 3e-2, "log": True}
    optimizer = {"type": "categorical", "choices": ["sgd", "adam"]}
    space = load_space(
        write_yaml(tmp_path / "a.yaml", {"optimizer": optimizer, "learning_rate": rate}),
        "multiclass",
    )
    windows, notes = search_windows(result, space)
    assert windows == [("adam", 1e-3, 3e-2)]
    assert len(notes) == 1 and "sgd" in notes[0] and "0.06 - 0.9" in notes[0]
    # The optimizer without a window draws from the space's range, the other from its window.
    space = type(space)(space.path, space.params, tuple(windows))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        values = space.sample(trial)
        low, high = {"sgd": (1e-4, 3e-2), "adam": (1e-3, 3e-2)}[values["optimizer"]]
        assert low <= values["learning_rate"] <= high
        study.tell(trial, 0.0)
    fixed = load_space(write_yaml(tmp_path / "f.yaml", {"learning_rate": 0.01}), "multiclass")
    assert search_windows(result, fixed) == ([], [])
    listed = {"learning_rate": {"type": "categorical", "choices": [0.01, 0.1]}}
    assert search_windows(
        result, load_space(write_yaml(tmp_path / "l.yaml", listed), "multiclass")
    ) == ([], [])
    absent = load_space(write_yaml(tmp_path / "n.yaml", {"units": 8}), "multiclass")
    assert search_windows(result, absent)[0] == [("adam", 1e-3, 1e-1), ("sgd", 0.06, 0.9)]


def test_the_search_draws_each_optimizers_rate_from_its_window(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path / "s.yaml",
        {
            "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
            "learning_rate": {"type": "float", "low": 1e-6, "high": 10.0, "log": True},
        },
    )
    space = load_space(path, "multiclass")
    space = type(space)(space.path, space.params, (("sgd", 0.01, 0.1), ("adam", 1e-4, 1e-3)))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        values = space.sample(trial)
        low, high = {"sgd": (0.01, 0.1), "adam": (1e-4, 1e-3)}[values["optimizer"]]
        assert low <= values["learning_rate"] <= high
        study.tell(trial, 0.0)


def test_lr_find_stage_writes_its_outputs_and_a_rerun_reuses_them(
    staged_sweep: tuple[Path, str],
) -> None:
    folder, stdout = staged_sweep
    results = folder / "results" / "digits"
    assert "recorded in study digits-lr_find" in stdout
    result = json.loads((results / "lr_find.json").read_text())
    adam = result["suggestions"]["adam"]
    assert adam["members"] == 2 and adam["window"][0] < adam["learning_rate"] < adam["window"][1]
    assert (results / "lr_find.png").read_bytes()[:4] == b"\x89PNG"
    study = optuna.load_study(
        study_name="digits-lr_find", storage=f"sqlite:///{results / 'study.db'}"
    )
    assert len(study.trials) == 2 and all(t.intermediate_values for t in study.trials)
    # The search drew Adam's learning rates from the window the range test suggested, within
    # the space's own range (small.yaml: 1e-4 to 3e-2).
    search = optuna.load_study(study_name="digits", storage=f"sqlite:///{results / 'study.db'}")
    low, high = max(adam["window"][0], 1e-4), min(adam["window"][1], 3e-2)
    assert all(low <= t.params["learning_rate"] <= high for t in search.trials)
    again = run_cli("lr-find", str(folder / "sweep.yaml"))
    assert again.returncode == 0 and "reused" in again.stdout
    assert len(study.trials) == 2


def test_lr_find_says_in_one_line_when_the_window_misses_the_spaces_range(
    tmp_path: Path,
) -> None:
    rate = {"type": "float", "low": 1e-9, "high": 1e-8, "log": True}  # far below any window
    write_yaml(tmp_path / "space.yaml", {"units": 8, "learning_rate": rate})
    sweep = write_yaml(
        tmp_path / "sweep.yaml",
        {
            "study": "low",
            "data": {"source": "iris"},
            "search_space": "space.yaml",
            "lr_find": {"steps": 40, "architectures": 1, "seeds": 1},
            "results": str(tmp_path / "results"),
        },
    )
    result = run_cli("lr-find", str(sweep))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "lies outside" in line]
    assert len(lines) == 1 and "adam" in lines[0] and "1e-09 - 1e-08" in lines[0]
    assert "space's range" in result.stdout  # the table's window column
