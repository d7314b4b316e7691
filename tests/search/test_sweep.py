"""The sweep loop on real Optuna studies: new proposals compile nothing once their cohorts have,
and a population's programs take turns by cohort."""

from __future__ import annotations

from pathlib import Path

import jax
import optuna

from jaxsweep.config import load_sweep
from jaxsweep.search.member_config import resolve
from jaxsweep.search.population import cohort_of
from jaxsweep.search.prepare import prepare
from jaxsweep.search.study import make_sampler
from jaxsweep.search.sweep import in_turns, run_search
from jaxsweep.storage.urls import open_storage
from tests.conftest import tiny_sweep, write_yaml


def test_mixed_proposals_compile_once_per_cohort(tmp_path: Path) -> None:
    """A second sweep of three times the trials, all new proposals, compiles nothing."""
    space = write_yaml(
        tmp_path / "space.yaml",
        {
            "n_layers": {"type": "int", "low": 1, "high": 2},  # padded to 2 x 32
            "units": {"type": "int", "low": 17, "high": 32},
            "width_shape": {"type": "categorical", "choices": ["constant", "funnel"]},
            "activation": {"type": "categorical", "choices": ["relu", "tanh", "elu"]},
            "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
            "batch_norm": {"type": "categorical", "choices": [False, True]},
            "use_dropout": {"type": "categorical", "choices": [False, True]},
            "dropout": {"type": "float", "low": 0.1, "high": 0.5, "when": {"use_dropout": [True]}},
            "batch_size": 16,
        },
    )
    compiles: list[str] = []

    def count(event: str, _duration: float, **_: object) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    counts, structures = [], set()
    jax.monitoring.register_event_duration_secs_listener(count)
    try:
        for seed, trials in ((0, 16), (1, 48)):  # early stopping frees slots: they are refilled
            config = load_sweep(
                tiny_sweep(
                    tmp_path / str(seed),
                    search_space=str(space),
                    population=8,
                    trials=trials,
                    epochs=4,
                    seed=seed,
                )
            )
            storage = open_storage(f"sqlite:///{tmp_path / f'{seed}.db'}")
            study = optuna.create_study(sampler=make_sampler(config), storage=storage)
            run_search(prepare(config), study)
            assert len(study.trials) == trials
            structures |= {
                (t.params["activation"], t.params["n_layers"], t.params["units"])
                for t in study.trials
            }
            counts.append(len(compiles))
    finally:
        jax.monitoring.unregister_event_duration_listener(count)
    assert len(structures) > 30  # mixed proposals
    assert counts[0] > 0 and counts[1] == counts[0], counts


def test_the_programs_of_a_population_take_turns_by_cohort() -> None:
    members = {32: ["a1", "a2", "a3"], 16: ["b1"], 4: ["c1", "c2", "c3", "c4"]}
    cohorts = {
        cohort_of(resolve({"batch_size": batch}, "multiclass", 3), "multiclass"): of_batch
        for batch, of_batch in members.items()
    }
    sizes = dict.fromkeys(cohorts, 2)  # programs of 2, as a CPU splits a wide population
    order = [group for _, group, _ in in_turns(cohorts, sizes, 4)]  # type: ignore[arg-type]
    assert order == [["a1", "a2"], ["b1"], ["c1", "c2"], ["a3"], ["c3", "c4"]]
