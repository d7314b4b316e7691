from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from jaxsweep.engine.vocabulary import ACTIVATIONS, OPTIMIZERS
from jaxsweep.errors import UserError
from jaxsweep.search.space import load_space
from tests.conftest import REPO, write_yaml

ARTICLE = REPO / "search_spaces" / "article.yaml"


def sample(space_path: Path, task: str, n: int = 30) -> list[dict]:
    space = load_space(space_path, task)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    samples = []
    for _ in range(n):
        trial = study.ask()
        samples.append(space.sample(trial))
        study.tell(trial, 0.0)
    return samples


def test_article_space_covers_the_article_ranges() -> None:
    space = {p.name: p for p in load_space(ARTICLE, "regression").params}
    dist = {name: p.distribution for name, p in space.items() if p.distribution}
    assert (dist["n_layers"].low, dist["n_layers"].high) == (1, 5)
    assert (dist["units"].low, dist["units"].high) == (1, 100)
    assert set(dist["width_shape"].choices) == {"constant", "funnel"}
    assert set(dist["activation"].choices) == set(ACTIVATIONS)
    assert set(dist["init_distribution"].choices) == {"normal", "uniform"}
    assert set(dist["optimizer"].choices) == set(OPTIMIZERS)
    assert (dist["learning_rate"].low, dist["learning_rate"].high) == (1e-6, 10.0)
    assert (dist["momentum"].low, dist["momentum"].high) == (0.9, 0.999)
    assert (min(dist["batch_size"].choices), max(dist["batch_size"].choices)) == (2, 32)
    assert (dist["dropout"].low, dist["dropout"].high) == (0.1, 0.5)
    assert set(dist["loss"].choices) == {"mse", "mae", "huber"}
    assert set(dist["output_activation"].choices) == {"linear", "tanh", "sigmoid", "softplus"}
    assert {"batch_norm", "nesterov", "clip_norm"} <= set(dist)


def test_conditional_parameters_appear_only_when_their_condition_holds() -> None:
    for values in sample(ARTICLE, "multiclass"):
        assert ("momentum" in values) == (values["optimizer"] == "sgd")
        assert ("dropout" in values) == values["use_dropout"]
        assert ("clip_norm" in values) == values["clipping"]
        assert "loss" not in values  # regression-only parameters are ignored for classification


def test_a_plain_scalar_fixes_a_value(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path / "s.yaml", {"activation": "tanh", "units": {"type": "int", "low": 4, "high": 8}}
    )
    values = sample(path, "multiclass", n=3)
    assert all(v["activation"] == "tanh" and 4 <= v["units"] <= 8 for v in values)


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"units": {"type": "int", "low": 10, "high": 5}}, "low 10.0 is above high 5.0"),
        ({"learning_rate": {"type": "float", "low": 0.0, "high": 1, "log": True}}, "log scale"),
        ({"activation": {"type": "categorical", "choices": []}}, "non-empty 'choices'"),
        (
            {"activation": {"type": "categorical", "choices": ["relu", "relux"]}},
            "'relux' not accepted",
        ),
        ({"optimizer": "adagrad"}, "'adagrad' not accepted"),
        (
            {"units": {"type": "int", "low": 1, "high": 100, "when": {"depth": [2]}}},
            "'depth' is not a parameter defined above",
        ),
        ({"width": 3}, "key 'width': unknown parameter"),
        ({"units": {"type": "int", "low": 1, "hihg": 100}}, "key 'units.hihg': unknown key"),
        ({"dropout": {"type": "float", "low": 0.1, "high": 1.5}}, "accepted: 0.0 to 0.9"),
        ({"batch_size": {"type": "int", "low": 2.5, "high": 8}}, "expected an integer"),
    ],
)
def test_bad_space_entries_name_the_file_key_and_value(
    tmp_path: Path, entry: dict, expected: str
) -> None:
    path = write_yaml(tmp_path / "space.yaml", entry)
    with pytest.raises(UserError) as info:
        load_space(path, "multiclass")
    assert str(path) in str(info.value) and expected in str(info.value)


def test_broken_yaml_is_a_user_error(tmp_path: Path) -> None:
    path = tmp_path / "space.yaml"
    path.write_text("units: {type: int, low: 1\n")
    with pytest.raises(UserError, match="broken YAML"):
        load_space(path, "multiclass")


def test_the_search_draws_each_optimizers_rate_from_its_window(tmp_path: Path) -> None:
    path = write_yaml(
        tmp_path / "s.yaml",
        {
            "optimizer": {"type": "categorical", "choices": ["sgd", "adam"]},
            "learning_rate": {"type": "float", "low": 1e-6, "high": 10.0, "log": True},
        },
    )
    space = load_space(path, "multiclass")
    space = type(space)(space.path, space.params, (("sgd", 0.01, 0.1), ("adam", 1e-4, 1e-3)))
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(20):
        trial = study.ask()
        values = space.sample(trial)
        low, high = {"sgd": (0.01, 0.1), "adam": (1e-4, 1e-3)}[values["optimizer"]]
        assert low <= values["learning_rate"] <= high
        study.tell(trial, 0.0)
