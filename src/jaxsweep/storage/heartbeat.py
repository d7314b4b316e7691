"""Liveness of running trials, so that a killed worker's trials are failed and retried.

RDB storages keep Optuna's own heartbeat. Optuna's journal storage has none, so there the
heartbeat is a trial system attribute holding the worker's clock time, and a trial silent for
longer than the grace period is failed and retried by the same callback Optuna uses."""

from __future__ import annotations

import threading
import time

import optuna
from optuna.exceptions import UpdateFinishedTrialError
from optuna.trial import TrialState

from jaxsweep.config import HeartbeatConfig
from jaxsweep.storage.optuna_internals import storage_of, trial_id

ATTR = "jaxsweep:heartbeat"


class Heartbeat(threading.Thread):
    """Records a heartbeat for each running trial every interval, from a thread, so that a long
    compiled training call never looks like a dead worker."""

    def __init__(self, study: optuna.Study, config: HeartbeatConfig) -> None:
        super().__init__(daemon=True, name="jaxsweep-heartbeat")
        # Optuna's own optimize() loop records heartbeats through these same private handles.
        self.study, self.storage = study, storage_of(study)
        self.config = config
        self.native = getattr(self.storage, "get_heartbeat_interval", lambda: None)() is not None
        self.trial_ids: set[int] = set()
        self.lock = threading.Lock()
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.config.interval):
            with self.lock:
                for trial_id in list(self.trial_ids):
                    self._record(trial_id)

    def beat(self, trial_ids: list[int], running: bool) -> None:
        with self.lock:
            for trial_id in trial_ids:
                if running:
                    self._record(trial_id)  # at once: a trial never beating is never stale
                    self.trial_ids.add(trial_id)
                else:
                    self.trial_ids.discard(trial_id)

    def _record(self, trial_id: int) -> None:
        if self.native:
            self.storage.record_heartbeat(trial_id)  # type: ignore[attr-defined]
            return
        try:
            self.storage.set_trial_system_attr(trial_id, ATTR, time.time())
        except UpdateFinishedTrialError:  # another worker judged it stale: nothing to keep alive
            self.trial_ids.discard(trial_id)

    def fail_stale(self) -> None:
        """Fail the trials of workers silent past the grace period and queue their retries."""
        if self.native:
            optuna.storages.fail_stale_trials(self.study)
            return
        retry = optuna.storages.RetryHeartbeatStaleTrialCallback(self.config.max_retry)
        oldest = time.time() - self.config.grace
        for trial in self.study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if trial.system_attrs.get(ATTR, oldest) >= oldest:
                continue
            try:
                self.storage.set_trial_state_values(trial_id(trial), TrialState.FAIL)
            except UpdateFinishedTrialError:  # another worker failed it first
                continue
            retry(self.study, self.storage.get_trial(trial_id(trial)))
