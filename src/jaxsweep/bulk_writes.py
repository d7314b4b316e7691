"""A population's reports and attributes written to a database study in one transaction.

Optuna's database storage writes each report and each attribute in a transaction of its own,
and first reads the trial it writes to. A population reports all of its members at once, so
here the whole population's reports (or attributes) are one insert, after one read of the
trials' states. On other storages (in memory, a journal file) they go through Optuna's API one
by one, as before. Either way each ``Trial`` and the worker's cache (``trial_cache``) see what
was written, as Optuna's own writes leave them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import optuna
import sqlalchemy
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session

from jaxsweep.trial_cache import OwnTrialsCache, as_stored

Report = tuple[optuna.Trial, int, float]  # a trial's value at a step (an epoch)
Attributes = tuple[optuna.Trial, dict[str, Any]]  # user attributes of a trial


def report_all(reports: Sequence[Report]) -> None:
    """``trial.report(value, step)`` for each report; steps a trial already reported are kept
    (as Optuna keeps them). Values must be finite or not, as ``Trial.report`` accepts them."""
    new: list[Report] = []
    seen: set[tuple[int, int]] = set()
    for trial, step, value in reports:
        key = (trial._trial_id, step)
        if step not in trial._cached_frozen_trial.intermediate_values and key not in seen:
            new.append((trial, step, value))
            seen.add(key)
    database = _database(new)
    if database is None:
        for trial, step, value in new:
            trial.report(value, step)
        return
    rows = []
    for trial, step, value in new:
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
        _check_updatable(database, session, [t for t, _, _ in new])
        session.execute(sqlalchemy.insert(models.TrialIntermediateValueModel), rows)
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
    database = _database(attributes)
    if database is None:
        for trial, attrs in attributes:
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
        return
    table = models.TrialUserAttributeModel
    keys = [(trial._trial_id, key) for trial, attrs in attributes for key in attrs]
    rows = [
        {"trial_id": trial._trial_id, "key": key, "value_json": json.dumps(value)}
        for trial, attrs in attributes
        for key, value in attrs.items()
    ]
    with _create_scoped_session(database.scoped_session) as session:
        _check_updatable(database, session, [t for t, _ in attributes])
        # Replaced as Optuna's upsert replaces them, in a form every database accepts.
        session.execute(
            sqlalchemy.delete(table).where(sqlalchemy.tuple_(table.trial_id, table.key).in_(keys))
        )
        session.execute(sqlalchemy.insert(table), rows)
    for trial, attrs in attributes:
        trial._cached_frozen_trial.user_attrs.update(attrs)
        _remember(trial, user_attrs={key: as_stored(value) for key, value in attrs.items()})


def _database(
    writes: Sequence[tuple[optuna.Trial, Any] | Report],
) -> optuna.storages.RDBStorage | None:
    """The database the trials are stored in, or None: another storage, or nothing to write."""
    if not writes:
        return None
    storage = writes[0][0].storage
    if isinstance(storage, optuna.storages._CachedStorage):
        storage = storage._backend
    return storage if isinstance(storage, optuna.storages.RDBStorage) else None


def _check_updatable(
    database: optuna.storages.RDBStorage, session: Any, trials: Sequence[optuna.Trial]
) -> None:
    """Optuna's own refusal to change a finished trial (one another worker's heartbeat failed,
    say), for all the trials in one read."""
    ids = {trial._trial_id for trial in trials}
    read = session.execute(
        sqlalchemy.select(models.TrialModel.trial_id, models.TrialModel.state).where(
            models.TrialModel.trial_id.in_(ids)
        )
    )
    for trial_id, state in read:
        database.check_trial_is_updatable(trial_id, state)


def _remember(trial: optuna.Trial, **entries: dict[Any, Any]) -> None:
    """Keep a SQLite worker's copy of its running trial as the database now holds it."""
    if isinstance(trial.storage, OwnTrialsCache):
        trial.storage.written(trial._trial_id, **entries)
