"""A population's reports and attributes written to a durable study at once.

Optuna writes each report and each attribute on its own: a database storage in a transaction
of its own, after reading the trial it writes to; a journal file as an appended line under the
file's lock. A population reports all of its members at once, so here the whole population's
reports (or attributes) are one insert after one read of the trials' states, or one append.
In memory they go through Optuna's API one by one. Either way each ``Trial`` and the worker's
cache (``own_trials``) see what was written, as Optuna's own writes leave them, and a finished
trial refuses them, as Optuna refuses a write.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import optuna
import sqlalchemy
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.storages.journal._storage import JournalOperation

from jaxsweep.storage.optuna_internals.own_trials import OwnTrialsCache, as_stored, check_updatable

Report = tuple[optuna.Trial, int, float]  # a trial's value at a step (an epoch)
Attributes = tuple[optuna.Trial, dict[str, Any]]  # user attributes of a trial


def report_all(reports: Sequence[Report]) -> None:
    """``trial.report(value, step)`` for each report; a step a trial already reported keeps its
    first value, as Optuna keeps it."""
    new: list[Report] = []
    seen: set[tuple[int, int]] = set()
    for trial, step, value in reports:
        key = (trial._trial_id, step)
        if step not in trial._cached_frozen_trial.intermediate_values and key not in seen:
            new.append((trial, step, value))
            seen.add(key)
    storage = _storage(new)
    if isinstance(storage, optuna.storages.RDBStorage):
        _insert_reports(storage, new)
    elif isinstance(storage, optuna.storages.JournalStorage):
        logs = [{"trial_id": t._trial_id, "step": s, "intermediate_value": v} for t, s, v in new]
        _append(storage, JournalOperation.SET_TRIAL_INTERMEDIATE_VALUE, logs)
    else:
        for trial, step, value in new:
            trial.report(value, step)
        return
    for trial, step, value in new:
        trial._cached_frozen_trial.intermediate_values[step] = value
        _remember(trial, intermediate_values={step: value})


def set_user_attrs_all(attributes: Sequence[Attributes]) -> None:
    """``trial.set_user_attr(key, value)`` for each trial's attributes (JSON-serialisable
    values); an attribute already set is replaced."""
    merged: dict[int, Attributes] = {}  # a key given twice for a trial: the last value
    for trial, attrs in attributes:
        merged.setdefault(trial._trial_id, (trial, {}))[1].update(attrs)
    attributes = list(merged.values())
    storage = _storage(attributes)
    if isinstance(storage, optuna.storages.RDBStorage):
        _insert_attributes(storage, attributes)
    elif isinstance(storage, optuna.storages.JournalStorage):
        logs = [
            {"trial_id": trial._trial_id, "user_attr": {key: value}}  # one a line, as replayed
            for trial, attrs in attributes
            for key, value in attrs.items()
        ]
        _append(storage, JournalOperation.SET_TRIAL_USER_ATTR, logs)
    else:
        for trial, attrs in attributes:
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
        return
    for trial, attrs in attributes:
        trial._cached_frozen_trial.user_attrs.update(attrs)
        _remember(trial, user_attrs={key: as_stored(value) for key, value in attrs.items()})


def _storage(writes: Sequence[tuple[Any, ...]]) -> optuna.storages.BaseStorage | None:
    """The storage behind the trials' (past Optuna's cache); None when there is nothing to
    write."""
    if not writes:
        return None
    storage = writes[0][0].storage
    return storage._backend if isinstance(storage, optuna.storages._CachedStorage) else storage


def _insert_reports(database: optuna.storages.RDBStorage, reports: Sequence[Report]) -> None:
    rows = []
    for trial, step, value in reports:
        stored, kind = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr(value)
        rows.append(
            {
                "trial_id": trial._trial_id,
                "step": step,
                "intermediate_value": stored,
                "intermediate_value_type": kind,
            }
        )
    with _create_scoped_session(database.scoped_session) as session:
        check_updatable(database, session, {t._trial_id for t, _, _ in reports})
        session.execute(sqlalchemy.insert(models.TrialIntermediateValueModel), rows)


def _insert_attributes(
    database: optuna.storages.RDBStorage, attributes: Sequence[Attributes]
) -> None:
    table = models.TrialUserAttributeModel
    keys = [(trial._trial_id, key) for trial, attrs in attributes for key in attrs]
    rows = [
        {"trial_id": trial._trial_id, "key": key, "value_json": json.dumps(value)}
        for trial, attrs in attributes
        for key, value in attrs.items()
    ]
    with _create_scoped_session(database.scoped_session) as session:
        check_updatable(database, session, {t._trial_id for t, _ in attributes})
        # Replaced as Optuna's upsert replaces them, in a form every database accepts.
        session.execute(
            sqlalchemy.delete(table).where(sqlalchemy.tuple_(table.trial_id, table.key).in_(keys))
        )
        session.execute(sqlalchemy.insert(table), rows)


def _append(
    journal: optuna.storages.JournalStorage, operation: int, logs: list[dict[str, Any]]
) -> None:
    """The operations as Optuna's journal storage writes each one, appended under one lock,
    then replayed: replaying refuses this worker's writes to a finished trial."""
    with journal._thread_lock:
        worker = journal._replay_result.worker_id
        records = [{"op_code": operation, "worker_id": worker, **log} for log in logs]
        journal._backend.append_logs(records)
        journal._sync_with_backend()


def _remember(trial: optuna.Trial, **entries: dict[Any, Any]) -> None:
    """Keep a SQLite worker's copy of its running trial as the database now holds it."""
    if isinstance(trial.storage, OwnTrialsCache):
        trial.storage.written(trial._trial_id, **entries)
