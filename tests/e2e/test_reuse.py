"""run → best → train → load_model(...).predict, the dashboard, and the README's example."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml

import jaxsweep
from jaxsweep.config import load_sweep
from jaxsweep.data.dataset import load_dataset
from tests.conftest import REPO, run_cli, wait_for


@pytest.fixture(scope="module")
def trained(staged_sweep: tuple[Path, str]) -> tuple[Path, Path, str]:
    """The shared staged sweep (study 'digits', on iris for speed), its best trial retrained."""
    folder, _ = staged_sweep
    sweep = folder / "sweep.yaml"
    results = folder / "results" / "digits"
    trained = run_cli("train", str(sweep), "--params", str(results / "best_params.yaml"))
    assert trained.returncode == 0, trained.stderr
    return folder, sweep, trained.stdout


def test_best_prints_the_best_trial_as_yaml_and_json(trained) -> None:
    folder, _, _ = trained
    results = folder / "results" / "digits"
    as_yaml = yaml.safe_load(run_cli("best", str(results)).stdout)
    as_json = json.loads(run_cli("best", str(results), "--format", "json").stdout)
    assert as_yaml == as_json
    assert as_yaml == yaml.safe_load((results / "best_params.yaml").read_text())
    stages = {"search": "digits", "schedule": "digits-schedule"}  # whichever stage won
    assert as_yaml["study"] == stages[as_yaml["stage"]] and as_yaml["config"]["model"]["widths"]


def test_train_reproduces_the_trial_and_predict_reproduces_the_test_metric(trained) -> None:
    folder, sweep, stdout = trained
    best = jaxsweep.load_best(folder / "results" / "digits")
    assert isinstance(best, jaxsweep.BestTrial) and best.config.model.output_dim == 3
    # Same seed and trial number: the retrained model is the sweep's trial, epoch for epoch.
    assert f"validation accuracy {best.value:.4f}" in stdout
    printed = float(re.search(r"test accuracy: ([0-9.]+)", stdout).group(1))
    model = jaxsweep.load_model(folder / "results" / "digits")
    dataset = load_dataset(load_sweep(sweep).data, seed=0)
    prediction = model.predict(dataset.raw_features(dataset.test))
    truth = np.asarray(dataset.classes)[dataset.test.y]
    assert float(np.mean(prediction == truth)) == pytest.approx(printed, abs=5e-5)


def test_the_readme_python_example_runs(trained) -> None:
    folder, _, _ = trained
    readme = (REPO / "README.md").read_text()
    example = re.search(r"## Reuse from Python\n\n```python\n(.*?)```", readme, re.S).group(1)
    # The README's model is for digits; this one was trained on iris, so feed it iris.
    example = example.replace("load_digits", "load_iris")
    result = subprocess.run(
        [sys.executable, "-c", example],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert float(result.stdout.split()[-1]) > 0.5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url):
            return True
    except OSError:
        return False


def test_dashboard_serves_the_study_on_localhost(trained) -> None:
    folder, _, _ = trained
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jaxsweep",
            "dashboard",
            str(folder / "results" / "digits"),
            "--port",
            str(port),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        listing = f"http://127.0.0.1:{port}/api/studies"
        wait_for(lambda: answers(listing), "the dashboard answered", server)
        with urllib.request.urlopen(listing) as reply:
            studies = json.load(reply)
        names = {s["study_name"]: s["study_id"] for s in studies["study_summaries"]}
        assert set(names) == {"digits", "digits-lr_find", "digits-schedule"}
        url = f"http://127.0.0.1:{port}/api/studies/{names['digits']}"
        with urllib.request.urlopen(url) as reply:
            study = json.load(reply)
        assert "optimization_history.png" in {a["filename"] for a in study["artifacts"]}
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0]
    assert f"http://127.0.0.1:{port}/dashboard/" in output
