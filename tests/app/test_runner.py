"""jaxsweep run: what it prints of the study it runs, the results folder it refuses, and what
it says when the time budget ran out."""

from __future__ import annotations

import re
from pathlib import Path

import optuna
import pytest

from jaxsweep.app.runner import check_writable, time_budget_note
from jaxsweep.config import load_sweep
from jaxsweep.errors import UserError
from jaxsweep.search.stopping import TIMED_OUT
from tests.conftest import tiny_sweep


def test_the_header_names_the_study_and_the_devices_it_trains_on(
    staged_sweep: tuple[Path, str],
) -> None:
    _, stdout = staged_sweep
    header = re.search(r"study digits in sqlite:///\S+: (.+)", stdout)
    assert header, stdout
    devices = r"\d+ (CPU devices?|[A-Z]+s? \(.+\))"  # a CPU: a device a core
    assert re.fullmatch(rf"iris \(multiclass\), population 4, 3 epochs, on {devices}", header[1])


def test_a_results_folder_that_cannot_be_made_is_refused_and_nothing_is_created(
    tmp_path: Path,
) -> None:
    check_writable(tmp_path / "results" / "study", "key 'results'")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "a_file").write_text("")
    with pytest.raises(UserError, match=r"key 'results': cannot write to .*a_file/study"):
        check_writable(tmp_path / "a_file" / "study", "key 'results'")


def test_the_time_budget_note_counts_the_trials_it_cut_short_and_the_stages_left_out(
    tmp_path: Path,
) -> None:
    config = load_sweep(tiny_sweep(tmp_path, timeout="15s"))
    study = optuna.create_study()
    for stopped in (TIMED_OUT, TIMED_OUT, "surplus: other workers reached the trial budget"):
        trial = study.ask()
        trial.set_user_attr("stopped", stopped)
        study.tell(trial, state=optuna.trial.TrialState.FAIL)
    study.tell(study.ask(), 0.5)
    assert time_budget_note(config, [study], 16.4, []) == (
        "time budget of 15 s reached after 16 s: the sweep stopped asking; 2 trials cut short "
        "are marked failed (stopped: timeout)"
    )
    assert time_budget_note(config, [study], 16.4, ["schedule"]).endswith(
        "(stopped: timeout); not started: schedule (the same command again goes on from here)"
    )
