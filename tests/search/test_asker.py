"""Trials asked of Optuna, grouped by cohort: the cohorts with the fewest steps first; trials
asked ahead, while a program trains."""

from __future__ import annotations

from pathlib import Path

import optuna

from jaxsweep.config import load_sweep
from jaxsweep.search.asker import Asker, propose_from_space
from jaxsweep.search.prepare import prepare
from jaxsweep.search.study import make_sampler
from jaxsweep.search.sweep import run_search
from jaxsweep.storage.heartbeat import Heartbeat
from tests.conftest import tiny_sweep, write_yaml


def test_cohorts_with_the_fewest_steps_train_first(tmp_path: Path) -> None:
    rate = {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}
    batches = {"type": "categorical", "choices": [4, 32]}
    space = write_yaml(
        tmp_path / "space.yaml", {"units": 8, "learning_rate": rate, "batch_size": batches}
    )
    config = load_sweep(
        tiny_sweep(
            tmp_path,
            search_space=str(space),
            population=8,
            trials=8,
            epochs=2,
            early_stopping={"patience": None},
        )
    )
    study = optuna.create_study(sampler=make_sampler(config))
    run_search(prepare(config), study)
    done = {
        size: [t.datetime_complete for t in study.trials if t.params["batch_size"] == size]
        for size in (4, 32)
    }
    assert done[4] and done[32], done  # both cohorts in the one population
    assert max(done[32]) <= min(done[4])  # batches of 32: 8 times fewer steps an epoch


def test_trials_asked_ahead_are_held_within_the_budget_and_a_population_then_refill_slots(
    tmp_path: Path,
) -> None:
    config = load_sweep(tiny_sweep(tmp_path, population=4, trials=6))
    prepared = prepare(config)
    study = optuna.create_study(sampler=make_sampler(config))
    heartbeat = Heartbeat(study, config.heartbeat)
    asker = Asker(prepared, study, 6, "search", propose_from_space(prepared), heartbeat)
    asker.ask_ahead(10)
    assert len(asker.held) == 4  # a population's worth at most
    asker.ask_ahead(10)
    assert len(asker.held) == 4
    cohort = asker.cohort(asker.held[0])
    of_cohort = [slot for slot in asker.held if asker.cohort(slot) == cohort]
    assert asker.refill(cohort, len(of_cohort)) == of_cohort  # the held ones, no new asks
    assert len(study.trials) == 4
    asker.take_held()
    asker.ask_ahead(10)
    assert len(study.trials) == 6  # the budget's 6 trials are all running: no more asked
