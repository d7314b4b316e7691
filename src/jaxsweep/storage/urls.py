"""Storage URLs: checking them, creating the study, and never showing a password."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import optuna
import sqlalchemy

from jaxsweep.errors import UserError
from jaxsweep.storage.optuna_internals import OwnTrialsCache

SCHEMES = ("sqlite", "journal", "postgresql+psycopg2", "postgresql", "mysql+pymysql", "mysql")
# Files a results folder may hold its study in, by the scheme that reads them.
LOCAL_FILES = {"sqlite": "study.db", "journal": "journal.log"}
_PASSWORD = re.compile(r"(?P<head>://[^:/@]+:)(?P<password>[^@]*)(?P<tail>@)")


def mask(url: str) -> str:
    """The URL with its password, if any, replaced by ***."""
    return _PASSWORD.sub(r"\g<head>***\g<tail>", url)


def check_url(url: str, where: str = "storage") -> None:
    """Refuse a storage URL we cannot use, before anything is written."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in SCHEMES:
        raise UserError(
            where,
            f"unknown storage scheme in {mask(url)!r} (accepted: "
            "sqlite:///path.db, journal:///path.log, postgresql+psycopg2://user@host/db, "
            "mysql+pymysql://…)",
        )
    if scheme == "journal":
        path = local_path(url)
        if path is None or not path.name or path.is_dir():
            raise UserError(where, f"a journal storage is a file: journal:///path.log, not {url!r}")


def local_path(url: str) -> Path | None:
    """The file of a sqlite or journal URL (``scheme:///relative`` or ``scheme:////absolute``,
    as SQLAlchemy writes them), so its folder can be created; None for a server."""
    for scheme in LOCAL_FILES:
        if url.startswith(f"{scheme}:///"):
            return Path(url.removeprefix(f"{scheme}:///"))
    return None


def open_storage(
    url: str, where: str = "storage", heartbeat: tuple[int, int, int] | None = None
) -> optuna.storages.BaseStorage:
    """Open (creating a local file's folder). ``heartbeat`` = (interval, grace, max_retry)
    opens it for a sweep worker: it turns on Optuna's heartbeat, so that trials of a killed
    worker are failed and retried (Optuna's journal storage has none: ``jaxsweep.storage.heartbeat``
    keeps one for it), and on SQLite the worker keeps its own running trials (``own_trials``)."""
    check_url(url, where)
    path = local_path(url)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(
                where, f"cannot make the folder {path.parent} for {mask(url)!r} ({exc.strerror})"
            ) from None
    if path is not None and url.startswith("journal:"):
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    options: dict[str, Any] = {}
    if heartbeat is not None:
        interval, grace, retries = heartbeat
        options = {
            "heartbeat_interval": interval,
            "grace_period": grace,
            "heartbeat_stale_trial_callback": optuna.storages.RetryHeartbeatStaleTrialCallback(
                retries
            ),
        }
    try:
        storage = _rdb_storage(url, options)
    except Exception as exc:  # SQLAlchemy raises driver-specific errors
        raise UserError(
            where, f"cannot open {mask(url)}: {mask(str(exc).splitlines()[0])}"
        ) from None
    if heartbeat is not None and url.startswith("sqlite:"):
        return OwnTrialsCache(storage)
    return storage


def _rdb_storage(url: str, options: dict[str, Any]) -> optuna.storages.RDBStorage:
    storage = _created(url, options)
    if url.startswith("sqlite:"):
        _write_ahead(storage.engine)
    return storage


def _created(url: str, options: dict[str, Any]) -> optuna.storages.RDBStorage:
    """Workers started together on an empty database all create Optuna's tables; all but one
    lose that race with a duplicate-object error, and then find the tables made."""
    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(url, **options)
        except sqlalchemy.exc.DBAPIError as exc:
            if not _lost_race(exc):
                raise
            time.sleep(0.2 * (attempt + 1))
    return optuna.storages.RDBStorage(url, **options)  # the last try's error goes to the caller


def _lost_race(exc: sqlalchemy.exc.DBAPIError) -> bool:
    """PostgreSQL and MySQL report a table made meanwhile as a duplicate object; SQLite as an
    operational error: "table … already exists" (seen with 6 processes on a new file)."""
    if isinstance(exc, sqlalchemy.exc.IntegrityError | sqlalchemy.exc.ProgrammingError):
        return True
    return isinstance(exc, sqlalchemy.exc.OperationalError) and "already exists" in str(exc)


def _write_ahead(engine: sqlalchemy.Engine) -> None:
    """SQLite with a write-ahead log and normal syncing: a trial's writes cost about half as
    much (64 trials of 10 reports: 2.25 s, then 1.26 s), the dashboard reads while a sweep
    writes, and a killed process loses nothing (a power cut may lose the last commits)."""

    @sqlalchemy.event.listens_for(engine, "connect")
    def pragmas(connection: Any, _: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    engine.dispose()  # connections made before the listener are not reused


def locate(results_dir: Path | None, url: str | None, study: str | None) -> tuple[str, str]:
    """Storage URL and study name from a results folder or an explicit ``--storage``/``--study``.
    A storage holding a single study needs no study name."""
    if url is None:
        if results_dir is None:
            raise UserError("arguments", "give a results folder or --storage URL")
        found = [
            (s, results_dir / f) for s, f in LOCAL_FILES.items() if (results_dir / f).is_file()
        ]
        if not found:
            raise UserError(
                str(results_dir),
                f"no {' or '.join(LOCAL_FILES.values())} here (is it a results/<study> folder?)",
            )
        scheme, file = found[0]
        url = f"{scheme}:///{file.as_posix()}"
    check_url(url, "--storage")
    names = optuna.get_all_study_names(open_storage(url, "--storage"))
    if study is None:
        study = names[0] if len(names) == 1 else _last_stage(names, results_dir)
    if study not in names:
        raise UserError(
            "--study", f"no study {study!r} in {mask(url)} (studies: {', '.join(names) or 'none'})"
        )
    return url, study


def _last_stage(names: list[str], results_dir: Path | None) -> str | None:
    """A sweep's folder holds a study per stage; its result is the last stage's (the schedule
    stage's when it ran, else the search's): the one best_params.yaml describes."""
    if results_dir is None:
        return None
    schedule = f"{results_dir.name}-schedule"
    return schedule if schedule in names else results_dir.name
