"""Stage lr_find: the steps of each curve the study records, the windows the search draws from,
the stage's outputs on disk and their reuse."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import optuna
import pytest

from jaxsweep.config import load_sweep
from jaxsweep.engine.lr_find import read_curve
from jaxsweep.search.lr_stage import (
    RECORDED_STEPS,
    recorded_steps,
    run_range_tests,
    search_windows,
)
from jaxsweep.search.prepare import prepare
from jaxsweep.search.space import load_space
from tests.conftest import run_cli, tiny_sweep, write_yaml
from tests.engine.test_lr_find import DEFAULT, MAX_LR, MIN_LR


@pytest.mark.parametrize("diverges_at", [None, 250, 0])
def test_the_study_records_evenly_spaced_steps_up_to_the_last_before_divergence(
    diverges_at: int | None,
) -> None:
    rates = np.geomspace(MIN_LR, MAX_LR, 400)
    losses = 1.0 / (1.0 + np.arange(400.0))
    if diverges_at is not None:
        losses[diverges_at:] = np.inf
    curve = read_curve("adam", "member", rates, losses, 0.5, DEFAULT.turn_up)
    assert curve.diverged_at == diverges_at
    steps = recorded_steps(curve)
    if diverges_at == 0:
        assert steps == []
        return
    end = diverges_at or 400
    assert steps[-1] == end - 1 and len(steps) <= RECORDED_STEPS
    assert set(np.diff(steps)) == {math.ceil(end / RECORDED_STEPS)}


def test_the_search_window_is_clipped_to_the_spaces_own_range(tmp_path: Path) -> None:
    result = {
        "adam": {"window": [1e-3, 1e-1]},  # overlaps the space's 1e-4..3e-2
        "sgd": {"window": [0.06, 0.9]},  # lies above it
    }
    rate = {"type": "float", "low": 1e-4, "high": 3e-2, "log": True}
    optimizer = {"type": "categorical", "choices": ["sgd", "adam"]}
    space = load_space(
        write_yaml(tmp_path / "a.yaml", {"optimizer": optimizer, "learning_rate": rate}),
        "multiclass",
    )
    windows, notes = search_windows(result, space)
    assert windows == [("adam", 1e-3, 3e-2)]
    assert len(notes) == 1 and "sgd" in notes[0] and "0.06 - 0.9" in notes[0]
    # The optimizer without a window draws from the space's range, the other from its window.
    space = type(space)(space.path, space.params, tuple(windows))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(30):
        trial = study.ask()
        values = space.sample(trial)
        low, high = {"sgd": (1e-4, 3e-2), "adam": (1e-3, 3e-2)}[values["optimizer"]]
        assert low <= values["learning_rate"] <= high
        study.tell(trial, 0.0)
    fixed = load_space(write_yaml(tmp_path / "f.yaml", {"learning_rate": 0.01}), "multiclass")
    assert search_windows(result, fixed) == ([], [])
    listed = {"learning_rate": {"type": "categorical", "choices": [0.01, 0.1]}}
    assert search_windows(
        result, load_space(write_yaml(tmp_path / "l.yaml", listed), "multiclass")
    ) == ([], [])
    absent = load_space(write_yaml(tmp_path / "n.yaml", {"units": 8}), "multiclass")
    assert search_windows(result, absent)[0] == [("adam", 1e-3, 1e-1), ("sgd", 0.06, 0.9)]


def test_lr_find_stage_writes_its_outputs_and_a_rerun_reuses_them(
    staged_sweep: tuple[Path, str],
) -> None:
    folder, stdout = staged_sweep
    results = folder / "results" / "digits"
    assert "recorded in study digits-lr_find" in stdout
    result = json.loads((results / "lr_find.json").read_text())
    adam = result["suggestions"]["adam"]
    assert adam["members"] == 2 and adam["window"][0] < adam["learning_rate"] < adam["window"][1]
    assert (results / "lr_find.png").read_bytes()[:4] == b"\x89PNG"
    assert {len(c["learning_rates"]) for c in result["curves"]} == {40}  # 10 epochs are 20 steps
    study = optuna.load_study(
        study_name="digits-lr_find", storage=f"sqlite:///{results / 'study.db'}"
    )
    assert len(study.trials) == 2 and all(t.intermediate_values for t in study.trials)
    # The search drew Adam's learning rates from the window the range test suggested, within
    # the space's own range (small.yaml: 1e-4 to 3e-2).
    search = optuna.load_study(study_name="digits", storage=f"sqlite:///{results / 'study.db'}")
    low, high = max(adam["window"][0], 1e-4), min(adam["window"][1], 3e-2)
    assert all(low <= t.params["learning_rate"] <= high for t in search.trials)
    again = run_cli("lr-find", str(folder / "sweep.yaml"))
    assert again.returncode == 0 and "reused" in again.stdout
    assert len(study.trials) == 2


def test_lr_find_says_in_one_line_when_the_window_misses_the_spaces_range(
    tmp_path: Path,
) -> None:
    rate = {"type": "float", "low": 1e-9, "high": 1e-8, "log": True}  # far below any window
    write_yaml(tmp_path / "space.yaml", {"units": 8, "learning_rate": rate})
    sweep = write_yaml(
        tmp_path / "sweep.yaml",
        {
            "study": "low",
            "data": {"source": "iris"},
            "search_space": "space.yaml",
            "lr_find": {"steps": 40, "architectures": 1, "seeds": 1},
            "results": str(tmp_path / "results"),
        },
    )
    result = run_cli("lr-find", str(sweep))
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if "lies outside" in line]
    assert len(lines) == 1 and "adam" in lines[0] and "1e-09 - 1e-08" in lines[0]
    assert "space's range" in result.stdout  # the table's window column


def test_the_range_test_covers_its_epochs_where_they_take_more_than_its_steps(
    tmp_path: Path,
) -> None:
    settings = {"steps": 20, "epochs": 15, "architectures": 1, "seeds": 1}
    config = load_sweep(tiny_sweep(tmp_path, stages=["lr_find", "search"], lr_find=settings))
    curves = run_range_tests(prepare(config))
    # iris: 90 training rows, 2 batches of 32 (small.yaml) an epoch, so 15 epochs are 30 steps
    assert {len(c.learning_rates) for c in curves} == {30}
    assert curves[0].learning_rates[-1] == pytest.approx(10.0, rel=1e-4)  # the whole range
