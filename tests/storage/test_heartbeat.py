"""Heartbeats of running trials: a trial silent past the grace period is failed and retried."""

from __future__ import annotations

import contextlib
import sqlite3
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from jaxsweep.config import HeartbeatConfig
from jaxsweep.storage.heartbeat import ATTR, Heartbeat
from jaxsweep.storage.optuna_internals import storage_of, trial_id
from jaxsweep.storage.urls import open_storage

CONFIG = HeartbeatConfig(interval=1, grace=60, max_retry=1)  # beats every second


def journal_study(folder: Path) -> optuna.Study:
    storage = open_storage(f"journal:///{folder / 'study.log'}")
    return optuna.create_study(storage=storage, study_name="s")


def test_on_a_journal_a_silent_trial_is_failed_and_retried(tmp_path: Path) -> None:
    study = journal_study(tmp_path)
    heartbeat = Heartbeat(study, CONFIG)
    assert not heartbeat.native  # a journal has no heartbeat of Optuna's
    silent, alive, never = study.ask(), study.ask(), study.ask()
    heartbeat.beat([trial_id(silent), trial_id(alive)], running=True)
    assert ATTR in study.trials[alive.number].system_attrs  # at once, not after an interval
    storage_of(study).set_trial_system_attr(trial_id(silent), ATTR, time.time() - 600)
    heartbeat.fail_stale()
    states = {t.number: t.state for t in study.trials}
    assert states[silent.number] == TrialState.FAIL
    assert states[alive.number] == states[never.number] == TrialState.RUNNING  # never beat: kept
    retry = optuna.storages.RetryHeartbeatStaleTrialCallback
    retried = [t for t in study.trials if retry.retried_trial_number(t) == silent.number]
    assert [t.state for t in retried] == [TrialState.WAITING]


def test_the_thread_beats_every_interval_for_running_trials_only(tmp_path: Path) -> None:
    study = journal_study(tmp_path)
    heartbeat = Heartbeat(study, CONFIG)
    running, done = study.ask(), study.ask()
    heartbeat.beat([trial_id(running), trial_id(done)], running=True)
    heartbeat.beat([trial_id(done)], running=False)
    first = {t.number: t.system_attrs[ATTR] for t in study.trials}
    heartbeat.start()
    try:
        deadline = time.monotonic() + 10
        while study.trials[running.number].system_attrs[ATTR] == first[running.number]:
            assert time.monotonic() < deadline, "no beat within 10 s of a 1 s interval"
            time.sleep(0.05)
    finally:
        heartbeat.stopped.set()
        heartbeat.join()
    assert study.trials[done.number].system_attrs[ATTR] == first[done.number]


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # jaxsweep beats itself
def test_on_a_database_optunas_own_heartbeat_is_recorded(tmp_path: Path) -> None:
    database = tmp_path / "study.db"
    storage = open_storage(f"sqlite:///{database}", heartbeat=(1, 60, 1))
    study = optuna.create_study(storage=storage, study_name="s")
    heartbeat = Heartbeat(study, CONFIG)
    assert heartbeat.native
    trial = study.ask()
    heartbeat.beat([trial_id(trial)], running=True)
    assert ATTR not in study.trials[0].system_attrs
    with contextlib.closing(sqlite3.connect(database)) as db:
        query = "SELECT count(*) FROM trial_heartbeats WHERE trial_id = ?"
        assert db.execute(query, (trial_id(trial),)).fetchone()[0] == 1
