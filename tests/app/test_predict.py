"""jaxsweep predict: a saved model's predictions for a file of raw rows, problems found first."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jaxsweep.app.checkpoint import save_model
from jaxsweep.app.predict import predictions, write_predictions
from jaxsweep.data.dataset import Dataset
from jaxsweep.errors import UserError
from tests.conftest import untrained_model


@pytest.fixture
def saved(iris: Dataset, tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    """A saved iris model and a CSV file of raw test rows with an id column."""
    model = untrained_model(iris)
    folder = save_model(tmp_path / "model", model, {})
    rows = pd.DataFrame(iris.raw_features(iris.test), columns=list(model.columns))
    rows.insert(0, "id", [f"r{i}" for i in range(len(rows))])
    rows.to_csv(tmp_path / "rows.csv", index=False)
    return folder, rows


def test_each_row_gets_its_kept_columns_prediction_and_probabilities(
    iris: Dataset, saved: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    folder, rows = saved
    table = predictions(folder, tmp_path / "rows.csv", ["id"])
    labels = [f"probability_{label}" for label in iris.classes]
    assert list(table.columns) == ["id", "prediction", *labels]
    assert list(table["id"]) == list(rows["id"])
    expected = untrained_model(iris).predict(rows.drop(columns=["id"]))
    assert list(table["prediction"]) == list(expected)
    np.testing.assert_allclose(table[labels].sum(axis=1), 1.0, atol=1e-5)
    out = write_predictions(table, tmp_path / "out.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(out), table)


def test_a_bad_file_or_column_is_refused_before_anything_is_written(
    saved: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    folder, rows = saved
    rows.drop(columns=["petal width (cm)"]).to_csv(tmp_path / "short.csv", index=False)
    (tmp_path / "rows.txt").write_text("id\n")
    for data, keep, expected in [
        (tmp_path / "rows.txt", [], "not a .csv or .parquet file"),
        (tmp_path / "none.csv", [], "file not found"),
        (tmp_path / "rows.csv", ["name"], "--keep: no column 'name'"),
        (tmp_path / "short.csv", [], "no column 'petal width (cm)'"),
    ]:
        with pytest.raises(UserError, match=re.escape(expected)):
            predictions(folder, data, keep)
    with pytest.raises(UserError, match=r"--out: folder .* does not exist"):
        write_predictions(rows, tmp_path / "missing" / "out.csv")
