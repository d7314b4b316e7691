"""Several `jaxsweep run` processes on one study: a SQLite file, a journal file and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import optuna
import pytest
from sqlalchemy.engine import make_url

from jaxsweep.storage.urls import open_storage
from tests.conftest import one_structure_space, tiny_sweep

WORKERS = 2  # they race for the last trials; each is a JAX process on 2 cores
TRIALS = 10
ATTEMPTS = 3  # fresh studies tried until the workers overlap (see shared_run)
# A PostgreSQL server the test may create (and drop) a database on: a URL to an existing
# database, as a user with CREATEDB. Set JAXSWEEP_TEST_POSTGRES to point elsewhere (a password
# in it is used to connect; the test's own URL then carries PASSWORD instead).
ADMIN_URL = os.environ.get(
    "JAXSWEEP_TEST_POSTGRES", "postgresql+psycopg2://postgres@127.0.0.1:5432/postgres"
)
PASSWORD = "pw-never-shown-4f1c"  # trust auth accepts any password, so the URL may carry one
# On a CI service (CI=true, as they set it) a missing server or driver is a failure: a skip
# there would let the only PostgreSQL test pass unseen. Elsewhere it skips, with the reason.
ON_CI = os.environ.get("CI", "").lower() in {"true", "1"}


def unavailable(reason: str) -> NoReturn:
    if ON_CI:
        pytest.fail(f"{reason} (CI=true: the PostgreSQL test must run)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh database for one test, uniquely named and dropped afterwards; the URL carries a
    password, to check it is never shown."""
    try:
        import psycopg2
    except ImportError:
        unavailable("psycopg2 is not installed (it comes with the dev extra)")
    admin = make_url(ADMIN_URL)
    try:
        connection = psycopg2.connect(
            host=admin.host,
            port=admin.port,
            user=admin.username,
            password=admin.password,
            dbname=admin.database,
            connect_timeout=5,
        )
    except psycopg2.OperationalError as exc:
        shown = admin.render_as_string(hide_password=True)
        unavailable(f"no PostgreSQL server at {shown} (JAXSWEEP_TEST_POSTGRES): {exc}".strip())
    connection.autocommit = True
    name = f"jaxsweep_test_{uuid.uuid4().hex[:12]}"
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.set(password=PASSWORD, database=name).render_as_string(hide_password=False)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        connection.close()


def run_workers(sweep: Path) -> list[subprocess.CompletedProcess[str]]:
    command = [sys.executable, "-m", "jaxsweep", "run", str(sweep)]
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(WORKERS)
    ]
    results = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=300)
        results.append(subprocess.CompletedProcess(command, process.returncode, stdout, stderr))
    return results


def workers_sweep(folder: Path, storage: str, study: str) -> Path:
    space = one_structure_space(folder)  # one structure: one compile, shared through the XLA cache
    return tiny_sweep(
        folder,
        study=study,
        trials=TRIALS,
        epochs=2,
        population=2,
        search_space=str(space),
        storage=storage,
    )


def shared_run(folder: Path, url: str) -> list[subprocess.CompletedProcess[str]]:
    """Runs the workers on one study until they have shared it: on a loaded machine one worker
    can meet the budget alone while the other is still importing JAX, which passes but proves
    nothing about sharing. Each attempt takes a fresh study; what the workers printed comes
    back."""
    for attempt in range(ATTEMPTS):
        study = f"shared-{attempt}"
        results = run_workers(workers_sweep(folder, url, study))
        for result in results:
            assert result.returncode == 0, result.stderr
            assert "Traceback" not in result.stderr
        complete = check_one_study(url, study)  # an attempt not shared still meets its budget
        if len({t.user_attrs["worker"] for t in complete}) > 1:
            return results
    pytest.fail(f"in {ATTEMPTS} attempts one worker always met the budget alone")


def check_one_study(url: str, name: str) -> list[optuna.trial.FrozenTrial]:
    """The study holds exactly the budget's complete trials; those come back."""
    study = optuna.load_study(study_name=name, storage=open_storage(url))
    states = optuna.trial.TrialState
    complete = study.get_trials(states=(states.COMPLETE,))
    assert len(complete) == TRIALS
    assert len({t.number for t in complete}) == TRIALS
    for trial in study.get_trials(states=(states.FAIL, states.RUNNING, states.WAITING)):
        # the only trials not complete: ones asked at the same moment as another worker's
        # last trials, failed before they were sampled or trained
        assert trial.state == states.FAIL and trial.params == {}
        assert trial.user_attrs["stopped"].startswith("surplus")
    return complete


@pytest.mark.parametrize("file", ["journal:///{}/shared.log", "sqlite:///{}/shared.db"])
def test_workers_share_a_file(tmp_path: Path, file: str) -> None:
    """On SQLite each worker keeps its own running trials (``trial_cache``) and must still see
    every other worker's: the budget is met exactly."""
    url = file.format(tmp_path.as_posix())
    shared_run(tmp_path, url)


def test_workers_share_postgresql_and_never_show_its_password(
    tmp_path: Path, postgres_url: str
) -> None:
    results = shared_run(tmp_path, postgres_url)
    for result in results:
        assert PASSWORD not in result.stdout + result.stderr
        assert "***" in result.stdout  # the URL is shown, masked
    written = [p for p in (tmp_path / "results").rglob("*") if p.is_file()]
    assert {"trials.csv", "best_params.yaml"} <= {p.name for p in written}
    for path in written:
        assert PASSWORD.encode() not in path.read_bytes(), path
