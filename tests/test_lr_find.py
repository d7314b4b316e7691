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

from jaxsweep.data import Dataset
from jaxsweep.lr_find import make_range_test, population_range_test, read_curve, suggest
from jaxsweep.lr_stage import RECORDED_STEPS, recorded_steps
from jaxsweep.population import cohort_of, device_data, hyper_of, member_keys, stack_hypers
from jaxsweep.space import load_space, resolve
from tests.conftest import run_cli, write_yaml

MIN_LR, MAX_LR, STEPS = 1e-4, 10.0, 200


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_the_diverging_rate_of_sgd_on_least_squares_is_within_a_factor_2_of_2_over_l(
    scale: float,
) -> None:
    # f(w) = |Xw - y|^2 / 2n; gradient descent diverges above lr = 2 / L, L the largest
    # eigenvalue of X'X / n. Minibatch SGD as the finder runs it, with its own schedule,
    # optimizer and reading rule. (Full-batch descent is read later, near 3x: along the top
    # eigenvector its error is ~0 by then and takes many steps to grow.)
    rng = np.random.default_rng(0)
    n, steps = 256, 400
    X = jnp.asarray(rng.normal(size=(n, 5)) * scale, jnp.float32)
    y = X @ jnp.arange(1.0, 6.0) + jnp.asarray(rng.normal(size=n), jnp.float32)
    exact = 2.0 / float(np.linalg.eigvalsh(np.asarray(X.T @ X) / n).max())
    tx = optax.inject_hyperparams(optax.sgd)(
        learning_rate=optax.exponential_decay(MIN_LR, steps - 1, MAX_LR / MIN_LR)
    )

    @jax.jit
    def step(w, state, rows):
        loss, grad = jax.value_and_grad(lambda v: 0.5 * jnp.mean((X[rows] @ v - y[rows]) ** 2))(w)
        rate = state.hyperparams["learning_rate"]  # the rate this step uses
        updates, state = tx.update(grad, state, w)
        return optax.apply_updates(w, updates), state, loss, rate

    w, state, rates, losses = jnp.zeros(5), tx.init(jnp.zeros(5)), [], []
    for _ in range(steps):
        w, state, loss, rate = step(w, state, rng.permutation(n)[:32])
        rates.append(float(rate))
        losses.append(float(loss))
    curve = read_curve("sgd", "least squares", np.array(rates), np.array(losses), 0.98, 4.0)
    assert curve.diverged_at is not None
    assert exact / 2 <= curve.diverging_lr <= exact * 2


@pytest.mark.parametrize("diverges_at", [None, 250, 0])
def test_the_study_records_evenly_spaced_steps_up_to_the_last_before_divergence(
    diverges_at: int | None,
) -> None:
    rates = np.geomspace(MIN_LR, MAX_LR, 400)
    losses = 1.0 / (1.0 + np.arange(400.0))
    if diverges_at is not None:
        losses[diverges_at:] = np.inf
    curve = read_curve("adam", "member", rates, losses, 0.5, 4.0)
    assert curve.diverged_at == diverges_at
    steps = recorded_steps(curve)
    if diverges_at == 0:
        assert steps == []
        return
    end = diverges_at or 400
    assert steps[-1] == end - 1 and len(steps) <= RECORDED_STEPS
    assert set(np.diff(steps)) == {math.ceil(end / RECORDED_STEPS)}


def test_the_vmapped_finder_gives_each_member_its_own_curve(iris: Dataset) -> None:
    configs = [
        resolve({"optimizer": opt, "units": 8, "batch_size": 16}, "multiclass", 3)
        for opt in ("adam", "adam", "adam")
    ]
    cohort = cohort_of(configs[0], "multiclass")
    hyper = stack_hypers([hyper_of(c, iris.train.y, cohort) for c in configs])
    keys = member_keys(1, [0, 1, 2])
    data = device_data(iris)
    rates, losses = population_range_test(cohort, 60, MIN_LR, MAX_LR)(keys, hyper, data)
    alone = jax.jit(make_range_test(cohort, 60, MIN_LR, MAX_LR))
    for i in range(3):
        member_hyper = jax.tree.map(lambda a, i=i: a[i], hyper)
        rates_i, losses_i = alone(keys[i], member_hyper, data)
        np.testing.assert_allclose(rates_i, rates[i], rtol=1e-6)
        # At small rates the curves agree to float32 rounding; at large ones rounding grows,
        # so there compare what the finder reads off them: the diverging rate, within a step.
        small = np.asarray(rates_i) < 1e-2
        np.testing.assert_allclose(losses_i[small], losses[i][small], rtol=1e-5, atol=1e-6)
        read = [
            read_curve("adam", "", np.asarray(r), np.asarray(loss), 0.9, 4.0).diverging_lr
            for r, loss in ((rates_i, losses_i), (rates[i], losses[i]))
        ]
        assert read[0] == pytest.approx(read[1], rel=0.25)
    assert not np.allclose(losses[0], losses[1])  # different seeds, different curves


def test_suggestions_are_medians_with_spread_and_a_window_below_divergence() -> None:
    rates = np.geomspace(MIN_LR, MAX_LR, STEPS)
    curves = []
    for diverge in (0.1, 0.2, 0.4):
        losses = np.where(rates < diverge, 1.0 / (1 + 100 * rates), 1e3)
        curves.append(read_curve("sgd", str(diverge), rates, losses, 0.5, 4.0))
    suggestion = suggest(curves)["sgd"]
    assert suggestion.learning_rate == pytest.approx(0.1, rel=0.1)  # half the median 0.2
    assert suggestion.spread[0] < suggestion.learning_rate < suggestion.spread[1]
    low, high = suggestion.window
    assert low < suggestion.learning_rate < high < 0.2


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
    # The search drew Adam's learning rates from the window the range test suggested.
    search = optuna.load_study(study_name="digits", storage=f"sqlite:///{results / 'study.db'}")
    low, high = adam["window"]
    assert all(low <= t.params["learning_rate"] <= high for t in search.trials)
    again = run_cli("lr-find", str(folder / "sweep.yaml"))
    assert again.returncode == 0 and "reused" in again.stdout
    assert len(study.trials) == 2
