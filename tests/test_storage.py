"""Storage: how a local SQLite file is opened."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import optuna

from jaxsweep.storage import open_storage


def test_sqlite_keeps_a_write_ahead_log_and_stays_readable(tmp_path: Path) -> None:
    database = tmp_path / "study.db"
    study = optuna.create_study(storage=open_storage(f"sqlite:///{database}"), study_name="s")
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=3)
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT count(*) FROM trials").fetchone()[0] == 3  # another reader
