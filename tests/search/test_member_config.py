"""A member's configuration resolved from a trial's sampled values: the article's pairings, and
the output and loss the task implies."""

from __future__ import annotations

from jaxsweep.search.member_config import resolve
from tests.search.test_space import ARTICLE, sample


def test_resolve_applies_the_article_pairings() -> None:
    for values in sample(ARTICLE, "regression", n=40):
        config = resolve(values, "regression", 1)
        family = {"selu": "lecun", "elu": "lecun", "sigmoid": "glorot", "tanh": "glorot"}
        expected = family.get(values["activation"], "he")
        assert config.model.initializer == f"{expected}_{values['init_distribution']}"
        assert config.train.loss == values["loss"]
        assert len(config.model.widths) == values["n_layers"]
        assert config.model.widths[0] == values["units"]
        if values["width_shape"] == "funnel":
            assert list(config.model.widths) == sorted(config.model.widths, reverse=True)
        assert (config.train.momentum is None) == (values["optimizer"] != "sgd")
        assert config.model.dropout == values.get("dropout", 0.0)


def test_task_sets_output_and_loss() -> None:
    multi, binary = resolve({}, "multiclass", 3), resolve({}, "binary", 1)
    assert (multi.model.output_activation, multi.train.loss) == ("softmax", "cross_entropy")
    assert (binary.model.output_activation, binary.train.loss) == (
        "sigmoid",
        "binary_cross_entropy",
    )
    assert resolve(
        {"width_shape": "funnel", "units": 100, "n_layers": 4}, "binary", 1
    ).model.widths == (100, 75, 50, 25)
