"""What a sweep leaves: the best trial over its stages."""

from __future__ import annotations

import optuna
import pytest

from jaxsweep.app.results import best_of_stages, best_params_document


def study(name: str, values: list[float], direction: str = "maximize") -> optuna.Study:
    created = optuna.create_study(study_name=name, direction=direction)
    for value in values:
        trial = created.ask()
        trial.set_user_attr("stage", name)
        created.tell(trial, value)
    return created


@pytest.mark.parametrize(
    ("search", "schedule", "direction", "winner"),
    [
        ([0.90, 0.95], [0.93, 0.94], "maximize", "search"),  # no schedule beat 0.95
        ([0.90, 0.95], [0.95], "maximize", "search"),  # a tie keeps the constant rate
        ([0.90, 0.95], [0.96], "maximize", "schedule"),
        ([0.30, 0.20], [0.25], "minimize", "search"),
        ([0.30, 0.20], [0.10], "minimize", "schedule"),
        ([0.90], [], "maximize", "search"),  # the schedule stage completed no trial
    ],
)
def test_the_schedule_stage_never_leaves_a_worse_result_than_the_search(
    search: list[float], schedule: list[float], direction: str, winner: str
) -> None:
    studies = [study("search", search, direction), study("schedule", schedule, direction)]
    chosen, note = best_of_stages(studies)
    assert chosen.study_name == winner
    document = best_params_document(chosen, "sqlite:///study.db", note)
    assert document is not None and document["stage"] == winner
    if winner == "search":
        best = max(search) if direction == "maximize" else min(search)
        assert document["value"] == best and "no schedule beat" in document["note"]
    else:
        assert "note" not in document


def test_a_sweep_of_one_stage_is_its_own_result() -> None:
    only = study("search", [0.5, 0.7])
    assert best_of_stages([only]) == (only, None)
