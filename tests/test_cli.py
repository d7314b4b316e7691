"""End to end: the real ``jaxsweep`` command in a subprocess, a real SQLite study."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import optuna
import pandas as pd
import pytest
import yaml

from tests.conftest import run_cli, tiny_sweep

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


@pytest.fixture(scope="module")
def finished_sweep(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess]:
    folder = tmp_path_factory.mktemp("sweep")
    sweep = tiny_sweep(
        folder, pruner={"type": "median", "n_startup_trials": 2, "n_warmup_steps": 1}
    )
    return folder, run_cli("run", str(sweep))


def load(folder: Path) -> optuna.Study:
    return optuna.load_study(
        study_name="tiny", storage=f"sqlite:///{folder / 'results' / 'tiny' / 'study.db'}"
    )


def test_run_fills_the_study_and_writes_the_best_params(finished_sweep) -> None:
    folder, result = finished_sweep
    assert result.returncode == 0, result.stderr
    study = load(folder)
    assert len(study.get_trials(states=FINISHED)) == 8
    best = yaml.safe_load((folder / "results" / "tiny" / "best_params.yaml").read_text())
    assert best["trial"] == study.best_trial.number
    assert best["value"] == pytest.approx(study.best_value)
    assert best["params"] == study.best_trial.params
    assert best["metric"] == "accuracy" and best["stage"] == "search"
    assert best["config"]["model"]["output_activation"] == "softmax"
    assert best["config"]["train"]["loss"] == "cross_entropy"
    assert "best trial" in result.stdout


def test_every_trial_reports_each_trained_epoch(finished_sweep) -> None:
    folder, _ = finished_sweep
    for trial in load(folder).get_trials(states=FINISHED):
        assert sorted(trial.intermediate_values) == list(range(1, trial.user_attrs["epochs"] + 1))
        assert "learning_rate" in trial.params  # real Optuna params


def test_trials_csv_has_a_row_per_trial(finished_sweep) -> None:
    folder, _ = finished_sweep
    table = pd.read_csv(folder / "results" / "tiny" / "trials.csv")
    assert len(table) == len(load(folder).trials)
    assert {"number", "state", "value", "stage", "duration", "params_learning_rate"} <= set(
        table.columns
    )
    assert set(table["stage"]) == {"search"}


def test_plots_are_written_and_uploaded_as_artifacts(finished_sweep) -> None:
    folder, _ = finished_sweep
    plots = folder / "results" / "tiny" / "plots"
    for name in ("optimization_history", "param_importances", "parallel_coordinate"):
        assert (plots / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    uploaded = optuna.artifacts.get_all_artifact_meta(load(folder))
    assert {"optimization_history.png", "param_importances.png"} <= {a.filename for a in uploaded}


def test_the_stock_optuna_command_reads_the_study(finished_sweep) -> None:
    folder, _ = finished_sweep
    optuna_cli = shutil.which("optuna") or str(Path(__import__("sys").executable).parent / "optuna")
    storage = f"sqlite:///{folder / 'results' / 'tiny' / 'study.db'}"
    result = subprocess.run(
        [optuna_cli, "best-trial", "--study-name", "tiny", "--storage", storage, "-f", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(result.stdout)["number"] == load(folder).best_trial.number


def test_rerunning_a_finished_sweep_adds_no_trials(finished_sweep) -> None:
    folder, _ = finished_sweep
    result = run_cli("run", str(folder / "sweep.yaml"))
    assert result.returncode == 0, result.stderr
    assert len(load(folder).trials) == 8


def test_validate_prints_the_resolved_config_and_writes_nothing(tmp_path: Path) -> None:
    result = run_cli("validate", str(tiny_sweep(tmp_path)))
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    assert document["resolved"]["data"]["task"] == "multiclass"
    assert document["storage"].endswith("results/tiny/study.db")
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("change", "args", "expected"),
    [
        ({"epochs": "many"}, [], "key 'epochs'"),
        ({"data": {"source": "nowhere.csv"}}, [], "not found"),
        ({}, ["--population", "0"], "--population: key 'population'"),
        ({}, ["--storage", "redis://localhost"], "unknown storage scheme"),
        ({"metric": {"name": "rmse"}}, [], "'rmse' does not fit a multiclass task"),
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


@pytest.mark.parametrize("command", [[], ["run"], ["validate"]])
def test_help_explains_each_command(command: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout
