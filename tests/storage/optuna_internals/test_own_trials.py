"""The SQLite worker's cache (``own_trials``): its own running trials are never read back, and
every worker still sees the study as the database holds it."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.storages._rdb import models

from jaxsweep.storage.optuna_internals import OwnTrialsCache, storage_of, trial_id
from jaxsweep.storage.urls import open_storage

WORKER = (60, 120, 0)  # a sweep worker's heartbeat: interval, grace, retries


def _fields(trial: optuna.trial.FrozenTrial) -> tuple:
    return (
        trial.number,
        trial.state,
        trial.values,
        trial.params,
        trial.distributions,
        trial.user_attrs,
        trial.system_attrs,
        trial.intermediate_values,
    )


def _fresh_view(database: Path) -> list[tuple]:
    """The study as a process that has never read it before sees it."""
    study = optuna.load_study(study_name="s", storage=f"sqlite:///{database}")
    return [_fields(t) for t in study.get_trials()]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # jaxsweep beats itself (heartbeat.py)
def test_a_worker_sees_its_own_running_trials_as_the_database_holds_them(tmp_path: Path) -> None:
    database = tmp_path / "study.db"
    url = f"sqlite:///{database}"
    mine = optuna.create_study(storage=open_storage(url, heartbeat=WORKER), study_name="s")
    other = optuna.load_study(study_name="s", storage=open_storage(url, heartbeat=WORKER))
    assert isinstance(storage_of(mine), OwnTrialsCache)
    running = []
    for i in range(3):
        trial = mine.ask()
        trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_categorical("act", ["relu", "tanh"])
        trial.set_user_attr("config", {"widths": (8, 4), "rate": float("inf")})  # JSON-stored
        storage_of(mine).set_trial_system_attr(trial_id(trial), "note", [i])  # as heartbeat.py
        for step in range(3):
            trial.report(0.1 * step + i, step)
        running.append(trial)
    theirs = other.ask()
    theirs.suggest_float("x", 0.0, 1.0)
    mine.tell(running[0], 0.5)
    mine.tell(running[1], state=optuna.trial.TrialState.PRUNED)
    assert [_fields(t) for t in mine.get_trials()] == _fresh_view(database)
    # the other worker's changes reach this one: its report, then its trial's end
    theirs.report(0.7, 0)
    assert mine.get_trials()[3].intermediate_values == {0: 0.7}
    other.tell(theirs, 0.9)
    assert mine.get_trials()[3].state == optuna.trial.TrialState.COMPLETE
    assert [_fields(t) for t in mine.get_trials()] == _fresh_view(database)
    assert [_fields(t) for t in other.get_trials()] == _fresh_view(database)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_asking_reads_no_running_trial_of_its_own_again(tmp_path: Path) -> None:
    """Optuna's cache reads every running trial again on each ask: a population's asks cost
    O(population²) trial reads. The worker's own running trials are not read back: a worker
    alone on a study reads only its new trial, which Optuna reads to write its parameter."""
    loaded: list[models.TrialModel] = []

    def count(trial: models.TrialModel, _: object) -> None:
        loaded.append(trial)

    sqlalchemy.event.listen(models.TrialModel, "load", count)
    try:
        url = f"sqlite:///{tmp_path / 'study.db'}"
        study = optuna.create_study(storage=open_storage(url, heartbeat=WORKER), study_name="s")
        for _ in range(32):
            study.ask().suggest_float("x", 0.0, 1.0)
        loaded.clear()
        study.ask().suggest_float("x", 0.0, 1.0)  # the 33rd, beside 32 running
        assert len(loaded) <= 1  # the new trial at most, not the 32 running
        plain = optuna.load_study(study_name="s", storage=url)  # Optuna's own cache
        plain.ask().suggest_float("x", 0.0, 1.0)
        assert len(loaded) > 2 * 33  # what the worker's cache spares it
    finally:
        sqlalchemy.event.remove(models.TrialModel, "load", count)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_parameter_is_in_the_database_as_it_is_sampled(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=open_storage(url, heartbeat=WORKER), study_name="s")
    fresh = optuna.load_study(study_name="s", storage=url)
    trials = [study.ask() for _ in range(3)]
    for trial in trials:
        trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_categorical("act", ["relu", "tanh"])
    assert [t.params for t in fresh.get_trials()] == [t.params for t in trials]
    assert [t.params for t in study.get_trials()] == [t.params for t in trials]
    with pytest.raises(ValueError, match="different distribution kind"):
        study.ask().suggest_int("x", 0, 1)  # refused as Optuna refuses it
