"""jaxsweep train: a configuration made for other data is refused, and the test split is scored
as predictions from raw rows would score it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from jaxsweep.app.checkpoint import BestTrial
from jaxsweep.app.retrain import retrain, score
from jaxsweep.config import load_sweep
from jaxsweep.data.dataset import Dataset
from jaxsweep.errors import UserError
from jaxsweep.search.member_config import resolve
from jaxsweep.search.prepare import prepare
from tests.conftest import tiny_sweep, untrained_model


def test_a_configuration_for_another_number_of_outputs_is_refused(tmp_path: Path) -> None:
    prepared = prepare(load_sweep(tiny_sweep(tmp_path)))  # iris: 3 classes
    binary = resolve({"units": 8}, "binary", 1)
    best = BestTrial("tiny", "search", 0, "accuracy", "maximize", 0.9, {}, binary)
    with pytest.raises(UserError, match="the model has 1 outputs but the sweep's data needs 3"):
        retrain(prepared, best, 0, tmp_path / "model")
    assert not (tmp_path / "model").exists()


def test_the_test_split_is_scored_in_labels_or_the_targets_units(
    iris: Dataset, diabetes: Dataset
) -> None:
    model = untrained_model(iris)
    labels = np.asarray(iris.classes)[iris.test.y]
    from_rows = float(np.mean(model.predict(iris.raw_features(iris.test)) == labels))
    assert score(model, iris.test.X, iris.test.y, iris.classes) == {"accuracy": from_rows}
    regression = untrained_model(diabetes)
    scored = score(regression, diabetes.test.X, diabetes.test.y, ())
    prediction = regression.predict(diabetes.raw_features(diabetes.test))
    error = prediction - diabetes.test.y
    assert set(scored) == {"rmse", "mae"}
    assert scored["mae"] == pytest.approx(float(np.mean(np.abs(error))), rel=1e-5)
    assert scored["rmse"] >= scored["mae"] > 0
