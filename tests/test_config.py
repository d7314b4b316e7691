from __future__ import annotations

from pathlib import Path

import pytest

from jaxsweep.config import LrFindConfig, load_sweep
from jaxsweep.errors import UserError
from tests.conftest import REPO, tiny_sweep, write_yaml


def test_defaults_fill_in_and_storage_lives_in_the_results_folder(tmp_path: Path) -> None:
    config = load_sweep(
        write_yaml(
            tmp_path / "s.yaml",
            {"study": "demo", "data": {"source": "iris"}, "search_space": "space.yaml"},
        )
    )
    assert config.storage_url == "sqlite:///results/demo/study.db"
    assert config.metric.resolved_direction == "maximize"
    assert config.stages == ("search",)
    assert config.search_space == str(tmp_path / "space.yaml")  # relative to the sweep file
    assert config.data.source == "iris"  # a built-in name is not a path


def test_minimised_metrics_default_to_minimize(tmp_path: Path) -> None:
    config = load_sweep(tiny_sweep(tmp_path, metric={"name": "rmse"}))
    assert config.metric.resolved_direction == "minimize"


def test_overrides_replace_file_values(tmp_path: Path) -> None:
    config = load_sweep(tiny_sweep(tmp_path), {"trials": 3, "population": None, "seed": 7})
    assert (config.trials, config.population, config.seed) == (3, 4, 7)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"populaton": 4}, "key 'populaton': unknown key"),
        ({"data": {"source": "iris", "val_fractoin": 0.1}}, "key 'data.val_fractoin': unknown key"),
        ({"epochs": -1}, "key 'epochs'"),
        ({"pruner": {"type": "sometimes"}}, "key 'pruner.type'"),
        ({"stages": ["search", "warmup"]}, "key 'stages.1'"),
        ({"data": {"source": "iris", "val_fraction": 0.6, "test_fraction": 0.5}}, "below 1"),
    ],
)
def test_bad_keys_and_values_name_the_file_and_key(
    tmp_path: Path, change: dict, expected: str
) -> None:
    path = tiny_sweep(tmp_path, **change)
    with pytest.raises(UserError) as info:
        load_sweep(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)


@pytest.mark.parametrize(
    ("given", "seconds"),
    [(600, 600.0), ("90", 90.0), ("90s", 90.0), ("10m", 600.0), ("1.5h", 5400.0)],
)
def test_a_time_budget_is_seconds_or_a_number_with_s_m_or_h(
    tmp_path: Path, given: object, seconds: float
) -> None:
    assert load_sweep(tiny_sweep(tmp_path, timeout=given)).timeout == seconds
    assert load_sweep(tiny_sweep(tmp_path), {"timeout": given}).timeout == seconds
    assert load_sweep(tiny_sweep(tmp_path)).timeout is None


@pytest.mark.parametrize("given", ["10x", "m", "-5m", 0, -1, True, "inf"])
def test_a_bad_time_budget_names_the_key_and_what_is_accepted(
    tmp_path: Path, given: object
) -> None:
    with pytest.raises(UserError, match=r"key 'timeout': .*(e\.g\.|10m)"):
        load_sweep(tiny_sweep(tmp_path, timeout=given))


def test_a_bad_override_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"^--population: key 'population'"):
        load_sweep(tiny_sweep(tmp_path), {"population": 0})


def test_the_shipped_sweeps_are_valid() -> None:
    for path in sorted((REPO / "sweeps").glob("*.yaml")):
        assert load_sweep(path).study


def test_the_range_test_takes_at_least_its_steps_and_epochs_and_at_most_max_steps() -> None:
    settings = LrFindConfig(steps=400, epochs=10, max_steps=2000)
    assert settings.steps_for(steps_per_epoch=20) == 400  # 10 epochs are 200 steps
    assert settings.steps_for(steps_per_epoch=90) == 900
    assert settings.steps_for(steps_per_epoch=1000) == 2000


def test_max_steps_below_steps_names_the_key(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"lr_find.*max_steps 300 must not be below steps 400"):
        load_sweep(tiny_sweep(tmp_path, lr_find={"steps": 400, "max_steps": 300}))
