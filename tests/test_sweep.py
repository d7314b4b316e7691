"""Samplers and pruners from the sweep file, on real Optuna studies."""

from __future__ import annotations

from pathlib import Path

import jax
import optuna
import pytest

from jaxsweep.config import load_sweep
from jaxsweep.storage import open_storage
from jaxsweep.sweep import make_pruner, make_sampler, prepare, run_search
from tests.conftest import tiny_sweep, write_yaml


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


def test_mixed_proposals_compile_once_per_cohort(tmp_path: Path) -> None:
    """Successive populations of different proposals reuse the first population's program."""
    space = write_yaml(
        tmp_path / "space.yaml",
        {
            "n_layers": {"type": "int", "low": 1, "high": 2},  # one size bucket: depth <= 2,
            "units": {"type": "int", "low": 17, "high": 32},  # widths 17-32
            "width_shape": {"type": "categorical", "choices": ["constant", "funnel"]},
            "activation": {"type": "categorical", "choices": ["relu", "tanh", "elu"]},
            "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
            "batch_norm": {"type": "categorical", "choices": [False, True]},
            "use_dropout": {"type": "categorical", "choices": [False, True]},
            "dropout": {"type": "float", "low": 0.1, "high": 0.5, "when": {"use_dropout": [True]}},
            "batch_size": 16,
        },
    )
    config = load_sweep(
        tiny_sweep(tmp_path, search_space=str(space), population=8, trials=24, epochs=2)
    )
    prepared = prepare(config)
    study = optuna.create_study(
        sampler=make_sampler(config), storage=open_storage(f"sqlite:///{tmp_path / 'study.db'}")
    )
    compiles: list[str] = []

    def count(event: str, _duration: float, **_: object) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    after_each: list[int] = []
    jax.monitoring.register_event_duration_secs_listener(count)
    try:
        run_search(prepared, study, lambda progress: after_each.append(len(compiles)))
    finally:
        jax.monitoring.unregister_event_duration_listener(count)
    structures = {
        (
            t.user_attrs["config"]["model"]["activation"],
            tuple(t.user_attrs["config"]["model"]["widths"]),
        )
        for t in study.trials
    }
    assert len(study.trials) == 24 and len(structures) > 12  # mixed proposals
    assert len(after_each) == 4  # before any, then one program per population of 8
    assert after_each[1] > 0  # the first population compiled (after_each[0]: before any)
    assert after_each[-1] == after_each[1]  # the next two compiled nothing
