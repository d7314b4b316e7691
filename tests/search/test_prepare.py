"""A sweep checked end to end before anything is written: metric, data and spaces."""

from __future__ import annotations

from pathlib import Path

import pytest

from jaxsweep.config import load_sweep
from jaxsweep.errors import UserError
from jaxsweep.search.prepare import prepare
from tests.conftest import tiny_sweep, write_yaml


def test_a_prepared_sweep_holds_its_data_space_and_settings(tmp_path: Path) -> None:
    prepared = prepare(load_sweep(tiny_sweep(tmp_path)))
    assert prepared.dataset.task == "multiclass" and prepared.space.params
    settings = prepared.settings
    assert (settings.metric, settings.maximize, settings.patience) == ("accuracy", True, 2)
    assert (settings.train_rows, settings.epochs) == (len(prepared.dataset.train.y), 3)
    assert prepared.schedule_space is None  # the schedule stage is not run
    assert not (tmp_path / "results").exists()  # nothing written
    staged = prepare(load_sweep(tiny_sweep(tmp_path, stages=["search", "schedule"])))
    assert staged.schedule_space is not None
    assert "schedule" in {p.name for p in staged.schedule_space.params}  # the built-in space


def test_a_metric_of_another_task_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="'rmse' does not fit a multiclass task") as info:
        prepare(load_sweep(tiny_sweep(tmp_path, metric={"name": "rmse"})))
    assert "metric.name" in str(info.value)


def test_a_schedule_space_may_name_schedule_parameters_only(tmp_path: Path) -> None:
    space = write_yaml(tmp_path / "schedules.yaml", {"schedule": "exponential", "units": 8})
    sweep = tiny_sweep(tmp_path, stages=["search", "schedule"], schedule_space=str(space))
    with pytest.raises(UserError, match="key 'units': not a schedule parameter") as info:
        prepare(load_sweep(sweep))
    assert str(space) in str(info.value)
