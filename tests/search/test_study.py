"""Samplers and pruners from the sweep file, on real Optuna studies."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from jaxsweep.config import SweepConfig, load_sweep
from jaxsweep.search.study import make_pruner, make_sampler
from tests.conftest import tiny_sweep


def proposals(config: SweepConfig, trials: int = 6) -> list[tuple[float, float]]:
    """What the sweep's sampler proposes for a two-parameter objective, told as it goes."""
    study = optuna.create_study(sampler=make_sampler(config))
    for _ in range(trials):
        trial = study.ask()
        x, y = trial.suggest_float("x", -1, 1), trial.suggest_float("y", -1, 1)
        study.tell(trial, x**2 + y**2)
    return [(t.params["x"], t.params["y"]) for t in study.trials]


def sweep_with(folder: Path, sweep_seed: int = 0, **sampler: object) -> SweepConfig:
    return load_sweep(
        tiny_sweep(folder, seed=sweep_seed, sampler={"n_startup_trials": 2} | sampler)
    )


@pytest.mark.parametrize("kind", ["tpe", "random", "cmaes"])
def test_each_sampler_proposes_seeded_values(tmp_path: Path, kind: str) -> None:
    first = proposals(sweep_with(tmp_path, sweep_seed=1, type=kind))
    assert proposals(sweep_with(tmp_path, sweep_seed=1, type=kind)) == first  # repeatable
    assert proposals(sweep_with(tmp_path, sweep_seed=2, type=kind)) != first  # the seed is used
    # the sampler's own seed, when given, comes before the sweep's
    assert proposals(sweep_with(tmp_path, sweep_seed=2, type=kind, seed=1)) == first


def test_the_sampler_type_and_its_startup_trials_change_the_proposals(tmp_path: Path) -> None:
    runs = {kind: proposals(sweep_with(tmp_path, type=kind)) for kind in ("tpe", "random", "cmaes")}
    after_startup = {kind: tuple(run[2:]) for kind, run in runs.items()}  # past 2 random ones
    assert len(set(after_startup.values())) == 3
    # TPE's startup trials are its random sampler's draws: with 6 of them, all six are
    assert proposals(sweep_with(tmp_path, type="tpe", n_startup_trials=6)) == runs["random"]
    assert runs["tpe"][2:] != runs["random"][2:]


def nan_pruned_from(pruner: optuna.pruners.BasePruner, trials: int, last: int) -> set[int]:
    """For each of ``trials`` trials, the first step at which a NaN report is pruned (or
    ``last + 1``): where ``pruner`` first judges a trial."""
    study = optuna.create_study(pruner=pruner, direction="maximize")
    firsts = set()
    for _ in range(trials):
        trial = study.ask()
        step = 0
        while step <= last:
            trial.report(float("nan"), step)
            if trial.should_prune():
                break
            step += 1
        firsts.add(step)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return firsts


def test_the_median_pruner_waits_its_startup_trials_and_warmup_steps(tmp_path: Path) -> None:
    median = {"type": "median", "n_startup_trials": 3, "n_warmup_steps": 2}
    pruner = make_pruner(load_sweep(tiny_sweep(tmp_path, pruner=median)))
    study = optuna.create_study(pruner=pruner, direction="maximize")

    def judged(value: float, step: int) -> bool:
        trial = study.ask()
        for s in range(step + 1):
            trial.report(value, s)
        verdict = trial.should_prune()
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return verdict

    for completed in range(3):
        assert not judged(0.0, step=5), completed  # fewer than 3 finished trials: no verdict
        trial = study.ask()
        for s in range(6):
            trial.report(1.0, s)
        study.tell(trial, 1.0)
    assert not judged(0.0, step=1)  # steps 0 and 1 are the warm-up
    assert judged(0.0, step=2)


@pytest.mark.parametrize(
    ("pruner", "epochs", "first_judged"),
    [
        ({"type": "none"}, 9, {10}),
        ({"type": "successive_halving", "min_resource": 2, "reduction_factor": 3}, 9, {2}),
        # a bracket a rung: its first promotion at min_resource x factor ** bracket, up to epochs
        ({"type": "hyperband", "min_resource": 1, "reduction_factor": 3}, 9, {1, 3, 9}),
        ({"type": "hyperband", "min_resource": 2, "reduction_factor": 2}, 8, {2, 4, 8}),
    ],
    ids=lambda v: str(v.get("type")) if isinstance(v, dict) else None,
)
def test_each_pruner_is_built_with_the_sweep_files_parameters(
    tmp_path: Path, pruner: dict, epochs: int, first_judged: set[int]
) -> None:
    config = load_sweep(tiny_sweep(tmp_path, pruner=pruner, epochs=epochs))
    assert nan_pruned_from(make_pruner(config), trials=40, last=epochs) == first_judged
