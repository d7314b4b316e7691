"""End to end: the real ``jaxsweep`` command in a subprocess, a real SQLite study."""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from jaxsweep.storage.heartbeat import ATTR as HEARTBEAT
from jaxsweep.storage.urls import open_storage
from tests.conftest import one_structure_space, run_cli, tiny_sweep, wait_for

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@pytest.fixture(scope="module")
def finished_sweep(staged_sweep: tuple[Path, str]) -> tuple[Path, str]:
    return staged_sweep


def load(folder: Path, name: str = "digits", storage: str | None = None) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=open_storage(storage or storage_of(folder)))


def storage_of(folder: Path) -> str:
    return f"sqlite:///{folder / 'results' / 'digits' / 'study.db'}"


def test_run_fills_the_study_and_writes_the_best_params(finished_sweep) -> None:
    folder, stdout = finished_sweep
    assert len(load(folder).get_trials(states=FINISHED)) == 8
    # best_params.yaml: the schedule stage's best trial if it beat the search's, else the search's
    search, schedule = load(folder), load(folder, "digits-schedule")
    won = schedule.best_value > search.best_value
    stage, study = ("schedule", schedule) if won else ("search", search)
    best = yaml.safe_load((folder / "results" / "digits" / "best_params.yaml").read_text())
    assert best["trial"] == study.best_trial.number
    assert best["value"] == pytest.approx(study.best_value)
    assert best["params"] == study.best_trial.params
    assert best["metric"] == "accuracy" and best["stage"] == stage
    assert best["config"]["model"]["output_activation"] == "softmax"
    assert best["config"]["train"]["loss"] == "cross_entropy"
    assert "best trial" in stdout
    # the schedule's params, then the network and training they complete
    units = " x ".join(map(str, best["config"]["model"]["widths"]))
    assert re.search(rf"network\W+{units} units, {best['config']['model']['activation']}", stdout)
    assert re.search(rf"training\W+{best['config']['train']['optimizer']}, rate", stdout)


def test_every_trial_reports_each_trained_epoch(finished_sweep) -> None:
    folder, _ = finished_sweep
    for trial in load(folder).get_trials(states=FINISHED):
        assert sorted(trial.intermediate_values) == list(range(1, trial.user_attrs["epochs"] + 1))
        assert "learning_rate" in trial.params  # real Optuna params


def test_trials_csv_has_a_row_per_trial(finished_sweep) -> None:
    folder, _ = finished_sweep
    table = pd.read_csv(folder / "results" / "digits" / "trials.csv")
    assert len(table) == len(load(folder).trials) + len(load(folder, "digits-schedule").trials)
    assert {"number", "state", "value", "stage", "duration", "params_learning_rate"} <= set(
        table.columns
    )
    assert set(table["stage"]) == {"search", "schedule"}


def test_plots_are_written_and_uploaded_as_artifacts(finished_sweep) -> None:
    folder, _ = finished_sweep
    plots = folder / "results" / "digits" / "plots"
    for name in ("optimization_history", "param_importances", "parallel_coordinate"):
        assert (plots / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    uploaded = optuna.artifacts.get_all_artifact_meta(load(folder))
    assert {"optimization_history.png", "param_importances.png"} <= {a.filename for a in uploaded}


def test_the_stock_optuna_command_reads_the_study(finished_sweep) -> None:
    folder, _ = finished_sweep
    optuna_cli = shutil.which("optuna") or str(Path(sys.executable).parent / "optuna")
    result = subprocess.run(
        [
            optuna_cli,
            "best-trial",
            "--study-name",
            "digits",
            "--storage",
            storage_of(folder),
            "-f",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout)["number"] == load(folder).best_trial.number


def test_rerunning_a_finished_sweep_adds_no_trials(finished_sweep) -> None:
    folder, _ = finished_sweep
    counts = [len(load(folder, name).trials) for name in ("digits", "digits-schedule")]
    result = run_cli("run", str(folder / "sweep.yaml"))
    assert result.returncode == 0, result.stderr
    assert "reused" in result.stdout  # the LR range test is not run again
    assert [len(load(folder, n).trials) for n in ("digits", "digits-schedule")] == counts


@pytest.mark.parametrize(  # the whole corpus runs in-process in test_bad_inputs.py
    ("change", "args", "expected"),
    [
        ({"epochs": "many"}, [], "key 'epochs'"),
        ({"metric": {"name": "rmse"}}, ["--population", "2"], "'rmse' does not fit a multiclass"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path, change: dict, args: list[str], expected: str
) -> None:
    result = run_cli("run", str(tiny_sweep(tmp_path, **change)), *args)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and expected in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "results").exists()


def test_ctrl_c_stops_cleanly_writes_results_and_exits_130(tmp_path: Path) -> None:
    space = one_structure_space(tmp_path)  # one structure: one compile
    sweep = tiny_sweep(
        tmp_path, study="digits", trials=400, epochs=2, population=2, search_space=str(space)
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "jaxsweep", "run", str(sweep)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    database = tmp_path / "results" / "digits" / "study.db"
    wait_for(lambda: finished(database) >= 4, "4 trials finished", process)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stdout and str(tmp_path / "results" / "digits") in stdout
    study = load(tmp_path)
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    assert 4 <= len(study.get_trials(states=FINISHED)) < 400
    assert (tmp_path / "results" / "digits" / "trials.csv").exists()


def test_the_time_budget_stops_every_stage_writes_results_and_exits_0(tmp_path: Path) -> None:
    space = one_structure_space(tmp_path)  # one structure: one compile
    sweep = tiny_sweep(
        tmp_path,
        study="digits",
        trials=1000,
        epochs=100_000,  # trials that would never end: the budget must cut them
        population=2,
        early_stopping={"patience": None},
        stages=["search", "schedule"],
        search_space=str(space),
    )
    result = run_cli("run", str(sweep), "--timeout", "15s")
    assert result.returncode == 0, result.stderr
    assert "time budget of 15 s reached" in result.stdout
    assert "not started: schedule" in " ".join(result.stdout.split())  # rich wraps lines
    study = load(tmp_path)
    assert not study.get_trials(states=(optuna.trial.TrialState.RUNNING,))
    cut = study.get_trials(states=(optuna.trial.TrialState.FAIL,))
    assert cut and all(t.user_attrs["stopped"].startswith("timeout") for t in cut)
    assert (tmp_path / "results" / "digits" / "trials.csv").exists()
    names = optuna.get_all_study_names(storage_of(tmp_path))
    assert "digits-schedule" not in names  # the budget covers the stages after the search


def finished(database: Path, states: tuple = FINISHED) -> int:
    """Trials (finished ones by default) of a study that another process is writing. Read with
    plain SQL: opening it through Optuna could race the writer at creating its tables."""
    names = [state.name for state in states]
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            query = f"SELECT count(*) FROM trials WHERE state IN ({','.join('?' * len(names))})"
            return db.execute(query, names).fetchone()[0]
    except sqlite3.Error:  # not created yet
        return 0


def running_with_heartbeats(database: Path) -> bool:
    """Whether the study has running trials and Optuna's heartbeat table a row for each."""
    query = (
        "SELECT count(*), count(h.trial_id) FROM trials t "
        "LEFT JOIN trial_heartbeats h ON h.trial_id = t.trial_id WHERE t.state = 'RUNNING'"
    )
    try:
        with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
            running, beating = db.execute(query).fetchone()
    except sqlite3.Error:  # not created yet
        return False
    return running > 0 and beating == running


@pytest.mark.parametrize("journal", [False, True], ids=["sqlite", "journal"])
def test_a_killed_run_resumes_retrying_its_running_trials(tmp_path: Path, journal: bool) -> None:
    space = one_structure_space(tmp_path)
    url = f"journal:///{(tmp_path / 'study.log').as_posix()}" if journal else None
    sweep = tiny_sweep(
        tmp_path,
        study="digits",
        trials=4,
        epochs=400,
        early_stopping={"patience": 400},  # long populations: the kill must land inside one
        population=2,
        search_space=str(space),
        heartbeat={"interval": 1, "grace": 2},
        storage=url,
    )
    database = tmp_path / "results" / "digits" / "study.db"

    def mid_population() -> bool:
        """Some trials finished and others running, every one of which has beaten once: a
        trial that never beat is never stale, and the rerun would wait for it for ever."""
        if not journal:
            return finished(database) >= 2 and running_with_heartbeats(database)
        try:  # the journal file is read, never written, by this process
            study = optuna.load_study(study_name="digits", storage=open_storage(url))
        except KeyError:  # not created yet
            return False
        running = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,))
        done = study.get_trials(deepcopy=False, states=FINISHED)
        return (
            len(done) >= 2 and bool(running) and all(HEARTBEAT in t.system_attrs for t in running)
        )

    process = subprocess.Popen(
        [sys.executable, "-m", "jaxsweep", "run", str(sweep)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(mid_population, "trials finished and others running, with heartbeats", process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    # A kill inside a journal append leaves Optuna's lock file behind, which the rerun would
    # wait out for the lock's 30 s grace period (Optuna's behaviour, not the one tested here).
    (tmp_path / "study.log.lock").unlink(missing_ok=True)
    before = load(tmp_path, storage=url)
    complete = {t.number: t.params for t in before.get_trials(states=FINISHED)}
    running = [t.number for t in before.get_trials(states=(optuna.trial.TrialState.RUNNING,))]
    assert complete and running, "the kill should land mid-population"
    # No wait for the grace period here: the rerun finds the dead worker's trials running,
    # waits for them as for another worker's, and fails and retries them once they are stale.
    result = run_cli("run", str(sweep))
    assert result.returncode == 0, result.stderr
    after = load(tmp_path, storage=url)
    assert len(after.get_trials(states=FINISHED)) == 4  # the budget counts finished trials
    assert {t.number: t.params for t in after.trials if t.number in complete} == complete
    states = {t.number: t.state for t in after.trials}
    assert all(states[n] == optuna.trial.TrialState.FAIL for n in running)
    retried = {
        optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number(t)
        for t in after.trials
    }
    assert set(running) <= retried
