"""Storage: how a local SQLite file is opened."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import sqlalchemy
from optuna.storages._rdb import models

from jaxsweep.storage.optuna_internals.own_trials import OwnTrialsCache, write_params
from jaxsweep.storage.urls import open_storage


def test_sqlite_keeps_a_write_ahead_log_and_stays_readable(tmp_path: Path) -> None:
    database = tmp_path / "study.db"
    study = optuna.create_study(storage=open_storage(f"sqlite:///{database}"), study_name="s")
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=3)
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM trials").fetchone()[0] == 3  # another reader


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
    assert isinstance(mine._storage, OwnTrialsCache)
    running = []
    for i in range(3):
        trial = mine.ask()
        trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_categorical("act", ["relu", "tanh"])
        trial.set_user_attr("config", {"widths": (8, 4), "rate": float("inf")})  # JSON-stored
        mine._storage.set_trial_system_attr(trial._trial_id, "note", [i])  # as heartbeat.py
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
    O(population²) trial reads. The worker's own running trials are not read back, nor is
    its new trial (its parameter is held back, unread): a worker alone on a study reads no
    trial while it asks."""
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
        assert not loaded  # not the 32 running, nor the new one
        plain = optuna.load_study(study_name="s", storage=url)  # Optuna's own cache
        plain.ask().suggest_float("x", 0.0, 1.0)
        assert len(loaded) > 2 * 33  # what the worker's cache spares it
    finally:
        sqlalchemy.event.remove(models.TrialModel, "load", count)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_worker_writes_a_populations_parameters_in_one_transaction(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=open_storage(url, heartbeat=WORKER), study_name="s")

    def sample(trial: optuna.Trial) -> None:
        trial.suggest_float("x", 0.0, 1.0)
        if trial.suggest_categorical("act", ["relu", "tanh"]) == "relu" or trial.number == 0:
            trial.suggest_int("units", 1, 100)

    first = study.ask()
    sample(first)  # names new to the worker: written at once, checked by the database
    fresh = optuna.load_study(study_name="s", storage=url)
    assert fresh.trials[0].params == first.params
    inserts: list[str] = []

    def count(_: object, __: object, statement: str, *args: object) -> None:
        if statement.startswith("INSERT INTO trial_params"):
            inserts.append(statement)

    sqlalchemy.event.listen(study._storage._backend.engine, "before_cursor_execute", count)
    trials = [study.ask() for _ in range(4)]
    for trial in trials:
        sample(trial)
    held = [{**t.params} for t in trials]
    assert not inserts
    assert [t.params for t in fresh.get_trials()[1:]] == [{}] * 4  # not written yet
    assert [t.params for t in study.get_trials()[1:]] == held  # the worker sees them already
    write_params(study)
    assert len(inserts) == 1  # one statement for all (8 to 12 parameters), not one each
    assert [t.params for t in fresh.get_trials()[1:]] == held
    # held back and not yet written: written before the trial's end, which must follow them
    late = study.ask()
    sample(late)
    study.tell(late, 0.5)
    assert fresh.get_trials()[-1].params == late.params
    with pytest.raises(ValueError, match="different distribution kind"):
        study.ask().suggest_int("x", 0, 1)  # refused as Optuna refuses it


OPEN_AT_ONCE = """
import sys, warnings
import optuna
from jaxsweep.storage.urls import open_storage
warnings.simplefilter("ignore")
storage = open_storage(sys.argv[1], heartbeat=(60, 120, 0))
optuna.create_study(storage=storage, study_name="s", load_if_exists=True)
"""


def test_workers_started_together_all_open_a_new_sqlite_file(tmp_path: Path) -> None:
    """They race to create Optuna's tables; SQLite tells the losers "table … already exists".
    A race, so a detector by chance: without the retry this failed 1 run in 3."""
    url = f"sqlite:///{tmp_path / 'new.db'}"
    command = [sys.executable, "-c", OPEN_AT_ONCE, url]
    processes = [subprocess.Popen(command, stderr=subprocess.PIPE, text=True) for _ in range(6)]
    errors = [process.communicate(timeout=120)[1] for process in processes]
    assert [process.returncode for process in processes] == [0] * 6, errors
    assert optuna.get_all_study_names(url) == ["s"]
