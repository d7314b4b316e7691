"""Storage URLs: checking them, creating the study, and never showing a password."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import optuna

from jaxsweep.errors import UserError

SCHEMES = ("sqlite", "postgresql+psycopg2", "postgresql", "mysql+pymysql", "mysql")
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
            "sqlite:///path.db, postgresql+psycopg2://user@host/db, mysql+pymysql://…)",
        )


def sqlite_path(url: str) -> Path | None:
    """The database file of a sqlite URL, so its folder can be created; None otherwise."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///"))


def open_storage(
    url: str, where: str = "storage", heartbeat: tuple[int, int, int] | None = None
) -> optuna.storages.BaseStorage:
    """Open (creating a SQLite file's folder). ``heartbeat`` = (interval, grace, max_retry)
    turns on Optuna's heartbeat: trials of a killed worker are failed and retried."""
    check_url(url, where)
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {}
    if heartbeat is not None:
        interval, grace, retries = heartbeat
        options = {
            "heartbeat_interval": interval,
            "grace_period": grace,
            "heartbeat_stale_trial_callback": optuna.storages.RetryFailedTrialCallback(retries),
        }
    try:
        return optuna.storages.RDBStorage(url, **options)
    except Exception as exc:  # SQLAlchemy raises driver-specific errors
        raise UserError(
            where, f"cannot open {mask(url)}: {mask(str(exc).splitlines()[0])}"
        ) from None


def locate(results_dir: Path | None, url: str | None, study: str | None) -> tuple[str, str]:
    """Storage URL and study name from a results folder or an explicit ``--storage``/``--study``.
    A storage holding a single study needs no study name."""
    if url is None:
        if results_dir is None:
            raise UserError("arguments", "give a results folder or --storage URL")
        database = results_dir / "study.db"
        if not database.is_file():
            raise UserError(str(results_dir), "no study.db here (is it a results/<study> folder?)")
        url = f"sqlite:///{database.as_posix()}"
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


class Heartbeat(threading.Thread):
    """Records a heartbeat for each running trial every interval, from a thread, so that a long
    compiled training call never looks like a dead worker."""

    def __init__(self, storage: optuna.storages.BaseStorage) -> None:
        super().__init__(daemon=True, name="jaxsweep-heartbeat")
        self.storage = storage
        self.trial_ids: set[int] = set()
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def run(self) -> None:
        interval = self.storage.get_heartbeat_interval()  # type: ignore[attr-defined]
        while not self.stopped.wait(interval):
            with self.lock:
                ids = list(self.trial_ids)
            for trial_id in ids:
                self.storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]

    def beat(self, trial_ids: list[int], running: bool) -> None:
        with self.lock:
            for trial_id in trial_ids:
                if running:
                    self.storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
                    self.trial_ids.add(trial_id)
                else:
                    self.trial_ids.discard(trial_id)
