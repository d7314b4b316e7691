"""Samplers and pruners from the sweep file, on real Optuna studies."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from jaxsweep.config import load_sweep
from jaxsweep.sweep import make_pruner, make_sampler
from tests.conftest import tiny_sweep


@pytest.mark.parametrize("kind", ["tpe", "random", "cmaes"])
def test_each_sampler_proposes_seeded_values(tmp_path: Path, kind: str) -> None:
    config = load_sweep(tiny_sweep(tmp_path, sampler={"type": kind, "n_startup_trials": 2}))
    runs = []
    for _ in range(2):
        study = optuna.create_study(sampler=make_sampler(config))
        for _ in range(5):
            trial = study.ask()
            x, y = trial.suggest_float("x", -1, 1), trial.suggest_float("y", -1, 1)
            study.tell(trial, x**2 + y**2)
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]  # the sweep's seed makes proposals repeatable


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("none", optuna.pruners.NopPruner),
        ("median", optuna.pruners.MedianPruner),
        ("successive_halving", optuna.pruners.SuccessiveHalvingPruner),
        ("hyperband", optuna.pruners.HyperbandPruner),
    ],
)
def test_each_pruner_is_built_from_the_sweep_file(tmp_path: Path, kind: str, cls: type) -> None:
    assert isinstance(make_pruner(load_sweep(tiny_sweep(tmp_path, pruner={"type": kind}))), cls)
