"""A trained member on disk and back: the same predictions from raw rows, no pickle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from jaxsweep.app.checkpoint import BestTrial, load_best, load_model, save_model
from jaxsweep.data.dataset import Dataset
from jaxsweep.errors import UserError
from jaxsweep.search.member_config import resolve
from tests.conftest import untrained_model, write_yaml


def test_a_saved_model_loads_back_and_predicts_the_same(iris: Dataset, tmp_path: Path) -> None:
    model = untrained_model(iris, n_layers=2, batch_norm=True)
    folder = save_model(tmp_path / "results" / "model", model, {"trial": 3, "seed": 0})
    manifest = yaml.safe_load((folder / "model.yaml").read_text())
    assert manifest["trial"] == 3 and manifest["config"] == model.config.as_dict()
    rows = iris.raw_features(iris.test)
    for path in (folder, tmp_path / "results"):  # the model's folder, or the results folder
        again = load_model(path)
        assert again.config == model.config and again.classes == model.classes
        np.testing.assert_array_equal(again.predict(rows), model.predict(rows))
        np.testing.assert_allclose(again.predict_proba(rows), model.predict_proba(rows))
    assert set(model.predict(rows)) <= set(iris.classes)


def test_a_folder_that_is_not_a_saved_model_is_a_user_error(tmp_path: Path) -> None:
    write_yaml(tmp_path / "model.yaml", {"config": {"model": {}}})
    with pytest.raises(UserError, match="not a model written by jaxsweep"):
        load_model(tmp_path)


def test_the_best_trial_reads_back_from_its_file_or_folder(tmp_path: Path) -> None:
    config = resolve({"units": 8}, "multiclass", 3)
    document = {
        "study": "digits",
        "stage": "search",
        "trial": 5,
        "metric": "accuracy",
        "direction": "maximize",
        "value": 0.9,
        "params": {"units": 8},
        "config": config.as_dict(),
    }
    path = write_yaml(tmp_path / "best_params.yaml", document)
    best = load_best(tmp_path)
    assert best == load_best(path)
    assert best == BestTrial(**(document | {"config": config}))
    write_yaml(path, {k: v for k, v in document.items() if k != "value"})
    with pytest.raises(UserError, match=r"not a best_params\.yaml written by jaxsweep"):
        load_best(path)
