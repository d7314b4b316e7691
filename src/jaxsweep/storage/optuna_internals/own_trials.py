"""A sweep worker's view of a SQLite study, where its own running trials are never read back.

Optuna's cache of an RDB storage reads every unfinished trial again, in full, on every read of
the study's trials, because another process may have changed it. A sweep worker reads the study
twice on every ``ask`` (Optuna's queue of waiting trials, then the sampler) while a whole
population of its trials runs, so asking a population cost O(population²) trial reads: 10.4 s
of a 28.2-s fixed-space sweep of 256 trials on SQLite (17.4 s with this view). No other process
writes to a trial this worker runs (Optuna's heartbeat fails a trial only once its worker has
gone silent), so the worker keeps its own running trials' copies up to date as it writes them,
as Optuna's in-memory storage does, and reads only the other trials. A trial it finishes is read
back once, with what the database recorded.

Only for SQLite: a read there sees every trial below the newest one it returns, because SQLite
allocates a trial's id and commits it under one write lock. The view can therefore remember
the newest trial id it has read and ask only for the trials above it and the others' unfinished
ones. On a database server, a trial with a lower id may still commit after a higher one, so
there workers keep Optuna's own cache.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any

import optuna
import sqlalchemy
from optuna.distributions import BaseDistribution
from optuna.storages._cached_storage import _StudyInfo
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.trial import FrozenTrial, TrialState


class OwnTrialsCache(optuna.storages._CachedStorage):
    """Optuna's cache of an RDB storage that also keeps the running trials created through it."""

    def __init__(self, backend: optuna.storages.RDBStorage) -> None:
        super().__init__(backend)
        self._own: set[int] = set()  # running trials created here: their cached copy is current
        self._newest: dict[int, int] = {}  # study id -> the newest trial id read

    def create_new_trial(self, study_id: int, template_trial: FrozenTrial | None = None) -> int:
        trial_id = super().create_new_trial(study_id, template_trial)
        with self._lock:
            # Its id stays above the newest one read, so the next read still brings the trials
            # other workers committed before it.
            if self._cached(trial_id).state == TrialState.RUNNING:
                self._own.add(trial_id)
        return trial_id

    def _read_trials_from_remote_storage(self, study_id: int) -> None:
        """Optuna's own, but for three things: this worker's running trials are left out, the
        trials read are those above the newest id read, not above the newest finished, and
        nothing is read when those are all this worker's own."""
        with self._lock:
            study = self._studies.setdefault(study_id, _StudyInfo())
            newest = self._newest.get(study_id, -1)
            others = study.unfinished_trial_ids - self._own
            if not others and self._only_own_above(study_id, study, newest):
                return
            trials = self._backend._get_trials(study_id, None, others, newest)
            self._add_trials_to_cache(study_id, trials)
            for trial in trials:
                newest = max(newest, trial._trial_id)
                if trial.state.is_finished():
                    study.unfinished_trial_ids.discard(trial._trial_id)
                    study.last_finished_trial_id = max(
                        study.last_finished_trial_id, trial._trial_id
                    )
                else:
                    study.unfinished_trial_ids.add(trial._trial_id)
            self._newest[study_id] = newest

    def _only_own_above(self, study_id: int, study: _StudyInfo, newest: int) -> bool:
        """Whether every trial above ``newest`` is a running trial of this worker (its copy
        is current), read as their ids alone: a full read is six queries, of every field.
        Alone on a study, each of a worker's reads found only its own new trials (a warm
        256-trial fixed-space sweep ran 96-97 trials/s with this check, 80-82 without). If so,
        they count as read, and as unfinished, so that each is read back once it finishes."""
        with _create_scoped_session(self._backend.scoped_session) as session:
            query = session.query(models.TrialModel.trial_id).filter(
                models.TrialModel.study_id == study_id, models.TrialModel.trial_id > newest
            )
            above = {trial_id for (trial_id,) in query}
        if not above <= self._own:
            return False
        study.unfinished_trial_ids |= above
        self._newest[study_id] = max(above, default=newest)
        return True

    def get_trial(self, trial_id: int) -> FrozenTrial:
        with self._lock:
            if trial_id in self._own:
                # a copy: a Trial edits the one it holds (its reports, its attributes)
                return copy.deepcopy(self._cached(trial_id))
        return super().get_trial(trial_id)

    def set_trial_param(
        self,
        trial_id: int,
        param_name: str,
        param_value_internal: float,
        distribution: BaseDistribution,
    ) -> None:
        super().set_trial_param(trial_id, param_name, param_value_internal, distribution)
        value = distribution.to_external_repr(param_value_internal)
        self.written(trial_id, params={param_name: value}, distributions={param_name: distribution})

    def set_trial_intermediate_value(self, trial_id: int, step: int, value: float) -> None:
        super().set_trial_intermediate_value(trial_id, step, value)
        self.written(trial_id, intermediate_values={step: value})

    def set_trial_user_attr(self, trial_id: int, key: str, value: Any) -> None:
        super().set_trial_user_attr(trial_id, key, value)
        self.written(trial_id, user_attrs={key: as_stored(value)})

    def set_trial_system_attr(self, trial_id: int, key: str, value: Any) -> None:
        super().set_trial_system_attr(trial_id, key, value)
        self.written(trial_id, system_attrs={key: as_stored(value)})

    def set_trial_state_values(
        self, trial_id: int, state: TrialState, values: Sequence[float] | None = None
    ) -> bool:
        with self._lock:
            # Read back at the next read of the study, with its end time and values as stored.
            self._own.discard(trial_id)
        return super().set_trial_state_values(trial_id, state, values)

    def _cached(self, trial_id: int) -> FrozenTrial:
        study_id, number = self._trial_id_to_study_id_and_number[trial_id]
        return self._studies[study_id].trials[number]

    def written(self, trial_id: int, **entries: dict[Any, Any]) -> None:
        """Add ``entries``, as written to the database, to the named dict fields of an own trial's
        copy (``bulk_writes`` writes past the methods above). Copy-on-write, as
        Optuna's in-memory storage: lists of trials already handed out keep the trial as it
        was."""
        with self._lock:
            if trial_id not in self._own:
                return
            trial = copy.copy(self._cached(trial_id))
            for field, added in entries.items():
                setattr(trial, field, {**getattr(trial, field), **added})
            study_id, number = self._trial_id_to_study_id_and_number[trial_id]
            self._studies[study_id].trials[number] = trial


def check_updatable(database: optuna.storages.RDBStorage, session: Any, ids: set[int]) -> None:
    """Optuna's own refusal to change a finished trial (one another worker's heartbeat failed,
    say), for all the trials in one read."""
    read = session.execute(
        sqlalchemy.select(models.TrialModel.trial_id, models.TrialModel.state).where(
            models.TrialModel.trial_id.in_(ids)
        )
    )
    for trial_id, state in read:
        database.check_trial_is_updatable(trial_id, state)


def as_stored(value: Any) -> Any:
    """An attribute as the database gives it back (JSON: tuples become lists, and so on)."""
    return json.loads(json.dumps(value))
