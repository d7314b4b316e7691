"""A trial's id, a study's storage, and tell without its read-back: Optuna's private handles as
``trials`` uses them; each test fails if Optuna changes them."""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.study._tell import _tell_with_warning

from jaxsweep.storage.optuna_internals import storage_of, tell_without_readback, trial_id
from tests.storage.optuna_internals.test_init import _parameters


def test_trial_ids_and_the_study_storage_are_where_the_heartbeat_reads_them() -> None:
    study = optuna.create_study()
    trial = study.ask()
    assert storage_of(study) is study._storage
    assert storage_of(study).get_trial(trial_id(trial)).number == trial.number
    assert trial._cached_frozen_trial.number == trial.number  # bulk_writes updates this copy


def test_telling_without_the_readback_ends_trials_as_tell_does(tmp_path: Path) -> None:
    assert _parameters(_tell_with_warning)[:4] == ["study", "trial", "value_or_values", "state"]
    url = f"sqlite:///{tmp_path / 'study.db'}"
    ours, theirs = (optuna.create_study(storage=url, study_name=name) for name in "ab")
    endings = [(0.5, None), (None, optuna.trial.TrialState.PRUNED)]
    for value, state in endings:
        tell_without_readback(ours, ours.ask(), value, state)
        theirs.tell(theirs.ask(), value, state)
    fresh = [optuna.load_study(study_name=name, storage=url).trials for name in "ab"]
    assert [(t.state, t.values) for t in fresh[0]] == [(t.state, t.values) for t in fresh[1]]
