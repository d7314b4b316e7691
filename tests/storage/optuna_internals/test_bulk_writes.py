"""A population's reports and attributes, written together: as Optuna's own writes leave the
study, in one transaction on a database."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import optuna
import pytest
import sqlalchemy

from jaxsweep.storage.optuna_internals.bulk_writes import report_all, set_user_attrs_all
from jaxsweep.storage.urls import open_storage

WORKER = (60, 120, 0)  # a sweep worker's heartbeat: interval, grace, retries
STORAGES: dict[str, Callable[[Path], optuna.storages.BaseStorage | str]] = {
    "memory": lambda _: optuna.storages.InMemoryStorage(),
    "journal": lambda folder: open_storage(f"journal:///{folder / 'study.log'}"),
    "sqlite": lambda folder: f"sqlite:///{folder / 'study.db'}",  # Optuna's own cache
    "sqlite worker": lambda folder: open_storage(
        f"sqlite:///{folder / 'study.db'}", heartbeat=WORKER
    ),
}


def _fields(trial: optuna.trial.FrozenTrial) -> tuple:
    return (trial.number, trial.state, trial.values, trial.user_attrs, trial.intermediate_values)


def _population(storage: optuna.storages.BaseStorage | str, name: str) -> list[optuna.Trial]:
    study = optuna.create_study(storage=storage, study_name=name)
    return [study.ask() for _ in range(3)]


def _write(trials: list[optuna.Trial], together: bool) -> None:
    """Two epochs of reports, attributes, a report of a step already reported, then the end."""
    reports = [(t, step, 0.5 * step + t.number) for t in trials for step in (1, 2)]
    reports.append((trials[0], 1, float("nan")))  # step 1 again: Optuna keeps the first value
    reports.append((trials[2], 3, float("inf")))  # stored in a column of its own
    attributes = [(t, {"config": {"widths": (8, 4)}, "stage": "search"}) for t in trials]
    attributes.append((trials[1], {"stage": "lr"}))  # the last value of a key given twice
    replaced = [(trials[1], {"stage": "schedule"}), (trials[2], {"best_epoch": 2})]
    if together:
        report_all(reports)
        set_user_attrs_all(attributes)
        set_user_attrs_all(replaced)
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna warns of the repeated step
            for trial, step, value in reports:
                trial.report(value, step)
        for trial, attrs in attributes + replaced:
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
    trials[0].study.tell(trials[0], 1.0)
    trials[1].study.tell(trials[1], state=optuna.trial.TrialState.PRUNED)  # its last report


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")  # jaxsweep beats itself
@pytest.mark.parametrize("kind", STORAGES)
def test_written_together_the_study_is_as_optunas_own_writes_leave_it(
    tmp_path: Path, kind: str
) -> None:
    storage = STORAGES[kind](tmp_path)
    ours, theirs = _population(storage, "ours"), _population(storage, "theirs")
    _write(ours, together=True)
    _write(theirs, together=False)
    for trials, name in ((ours, "ours"), (theirs, "theirs")):
        assert trials[2]._cached_frozen_trial.intermediate_values == {
            1: 2.5,
            2: 3.0,
            3: float("inf"),
        }
        assert trials[2]._cached_frozen_trial.user_attrs["stage"] == "search"
        seen = [_fields(t) for t in trials[0].study.get_trials()]  # by the writing process
        if isinstance(storage, str) or kind == "sqlite worker":  # and by a fresh one
            fresh = optuna.load_study(study_name=name, storage=f"sqlite:///{tmp_path}/study.db")
            assert [_fields(t) for t in fresh.get_trials()] == seen
        if name == "ours":
            expected = seen
    assert [_fields(t) for t in theirs[0].study.get_trials()] == expected
    assert expected[1][2] == [2.0]  # the pruned trial's value: its last report
    assert expected[1][3]["stage"] == "schedule"


@pytest.mark.filterwarnings("ignore:Heartbeat of storage")
def test_a_database_takes_a_populations_reports_in_one_transaction(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'study.db'}"
    storage = open_storage(url, heartbeat=WORKER)
    trials = _population(storage, "s")
    commits: list[object] = []

    def count(connection: object) -> None:
        commits.append(connection)

    engine = storage._backend.engine
    sqlalchemy.event.listen(engine, "commit", count)
    try:
        report_all([(t, step, 0.1) for t in trials for step in range(10)])
        set_user_attrs_all([(t, {"epochs": 10, "best_epoch": 3}) for t in trials])
    finally:
        sqlalchemy.event.remove(engine, "commit", count)
    assert len(commits) == 2  # not 30 and 6
    assert optuna.load_study(study_name="s", storage=url).trials[2].user_attrs == {
        "epochs": 10,
        "best_epoch": 3,
    }


@pytest.mark.parametrize("kind", ["memory", "journal", "sqlite"])
def test_a_finished_trial_refuses_them_as_optuna_refuses_a_write(tmp_path: Path, kind: str) -> None:
    trials = _population(STORAGES[kind](tmp_path), "s")
    trials[0].study.tell(trials[0], 0.5)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        report_all([(trials[1], 1, 0.1), (trials[0], 1, 0.1)])
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        set_user_attrs_all([(trials[0], {"epochs": 1})])
    if kind == "sqlite":  # all or nothing: the running trial got no report either
        assert trials[1].study.trials[1].intermediate_values == {}
