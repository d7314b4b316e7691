"""Contracts with Optuna's private API: each test names a private hook jaxsweep relies on
(``jaxsweep.storage.optuna_internals``) and fails if Optuna changes it. The behaviour built on
these hooks is tested beside its module (``test_own_trials``, ``test_bulk_writes``,
``test_trials``)."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from optuna.storages import JournalStorage, RDBStorage
from optuna.storages._cached_storage import _CachedStorage, _StudyInfo
from optuna.storages._rdb import models
from optuna.storages._rdb.storage import _create_scoped_session
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal._storage import JournalOperation

from jaxsweep.storage.optuna_internals import BEYOND, LOWEST, check_version
from tests.conftest import REPO


def _parameters(function: Callable[..., object]) -> list[str]:
    return list(inspect.signature(function).parameters)


def test_the_installed_optuna_is_in_the_tested_range() -> None:
    check_version()  # raises outside it
    pyproject = REPO / "pyproject.toml"
    assert f'"optuna>={LOWEST},<{BEYOND}"' in pyproject.read_text()  # the range users install


@pytest.mark.parametrize("version", ["4.8.0", "6.0.0", "7.1"])
def test_an_optuna_outside_the_tested_range_is_refused_in_one_line(version: str) -> None:
    with pytest.raises(ImportError) as refused:
        check_version(version)
    message = str(refused.value)
    assert "\n" not in message and version in message and f"optuna>={LOWEST},<{BEYOND}" in message


def test_the_cli_says_so_and_exits_1_when_optuna_is_outside_the_range(tmp_path: Path) -> None:
    """Run the CLI with an Optuna that reports another version (a shim in front of the real
    one on the path): one line, exit 1, no traceback."""
    shim = tmp_path / "sitecustomize.py"
    shim.write_text("import optuna\noptuna.__version__ = '6.0.0'\n")
    run = subprocess.run(
        [sys.executable, "-m", "jaxsweep", "validate", "sweeps/digits.yaml"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        timeout=120,
    )
    assert run.returncode == 1, run.stderr
    assert "optuna>=4.9,<6" in run.stderr and "Traceback" not in run.stderr


def test_the_cached_storage_hooks_keep_their_shape() -> None:
    """``own_trials.OwnTrialsCache`` subclasses Optuna's RDB cache, overrides its read of the
    remote trials and reads its state."""
    assert _parameters(_CachedStorage._read_trials_from_remote_storage) == ["self", "study_id"]
    assert _parameters(_CachedStorage._add_trials_to_cache) == ["self", "study_id", "trials"]
    assert _parameters(RDBStorage._get_trials) == [
        "self",
        "study_id",
        "states",
        "included_trial_ids",
        "trial_id_greater_than",
    ]
    info = _StudyInfo()
    assert info.trials == {} and info.unfinished_trial_ids == set()
    assert info.last_finished_trial_id == -1
    cached = _CachedStorage(RDBStorage("sqlite:///:memory:"))
    for state in ("_backend", "_studies", "_trial_id_to_study_id_and_number", "_lock"):
        assert hasattr(cached, state), state


def test_the_database_hooks_keep_their_shape() -> None:
    """``own_trials`` and ``bulk_writes`` write Optuna's tables in sessions of its own."""
    assert _parameters(_create_scoped_session)[0] == "scoped_session"
    assert {"trial_id", "study_id", "state"} <= set(models.TrialModel.__table__.columns.keys())
    assert {"trial_id", "key", "value_json"} <= set(
        models.TrialUserAttributeModel.__table__.columns.keys()
    )
    values = models.TrialIntermediateValueModel.__table__.columns.keys()
    assert {"trial_id", "step", "intermediate_value", "intermediate_value_type"} <= set(values)
    stored = models.TrialIntermediateValueModel.intermediate_value_to_stored_repr(float("inf"))
    assert stored[1] == models.TrialIntermediateValueModel.TrialIntermediateValueType.INF_POS
    assert _parameters(RDBStorage.check_trial_is_updatable) == ["self", "trial_id", "trial_state"]


def test_the_journal_hooks_keep_their_shape(tmp_path: Path) -> None:
    """``bulk_writes`` appends a population's operations as Optuna's journal writes each one."""
    journal = JournalStorage(JournalFileBackend(str(tmp_path / "journal.log")))
    assert JournalOperation.SET_TRIAL_INTERMEDIATE_VALUE and JournalOperation.SET_TRIAL_USER_ATTR
    assert isinstance(journal._replay_result.worker_id, str)
    assert callable(journal._backend.append_logs) and callable(journal._sync_with_backend)
    with journal._thread_lock:
        pass
