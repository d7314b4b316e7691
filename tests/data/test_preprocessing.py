"""The preprocessing kept as plain data does what scikit-learn's fitted transformers do, fitted
on the training split only."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from jaxsweep.config import DataConfig
from jaxsweep.data.dataset import load_dataset
from jaxsweep.data.preprocessing import MISSING, Preprocessing, Preprocessor, as_text, fit
from tests.data.test_tables import penguins, write


def test_the_plain_data_transform_equals_scikit_learns() -> None:
    table = penguins(90).drop(columns=["species"])
    table.loc[80, "island"] = "Atlantis"  # not among the training rows
    numeric, categorical = ("id", "mass", "grade"), ("island", "sex", "tagged")
    train, rest = np.arange(60), np.arange(60, 90)
    ours = fit(table, train, numeric, categorical, standardize=False)
    texts = pd.DataFrame({c: as_text(table[c]) for c in categorical})
    frame = pd.concat([table[list(numeric)], texts], axis=1)
    reference = ColumnTransformer(
        [
            ("numbers", SimpleImputer(strategy="median", add_indicator=True), list(numeric)),
            (
                "categories",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value=MISSING),
                    OneHotEncoder(handle_unknown="ignore", sparse_output=False),
                ),
                list(categorical),
            ),
        ]
    ).fit(frame.iloc[train])
    expected = reference.transform(frame.iloc[rest])
    np.testing.assert_allclose(ours.transform(table.iloc[rest]), expected, rtol=1e-6)
    assert ours.indicators == ("mass",) and ours.width == expected.shape[1]
    assert Preprocessor.from_dict(ours.as_dict()) == ours  # as model.yaml keeps it


def test_a_model_saved_before_categories_reads_as_numbers() -> None:
    old = {
        "feature_mean": [1.0, 2.0],
        "feature_scale": [0.5, 4.0],
        "target_shift": 0.0,
        "target_scale": 1.0,
        "task": "binary",
        "classes": [0, 1],
    }
    features = Preprocessing.from_dict(old).features
    assert features.columns == ("x0", "x1")
    X = features.transform(pd.DataFrame({"x1": [6.0], "x0": [2.0]}))
    np.testing.assert_allclose(X, [[2.0, 1.0]])


def test_medians_categories_and_scaling_come_from_the_training_split(tmp_path: Path) -> None:
    table = penguins()
    config = DataConfig(source=str(write(table, tmp_path)), target="species")
    data = load_dataset(config, seed=0)
    rows = np.rint(data.raw_features(data.train)[:, 0]).astype(int)  # column 'id', first
    assert sorted(rows) == sorted(set(rows)) and len(rows) == len(data.train.y)
    p = data.preprocessor
    mass = p.numeric.index("mass")
    assert p.medians[mass] == pytest.approx(np.nanmedian(table["mass"][rows]), rel=1e-6)
    assert p.medians[mass] != pytest.approx(np.nanmedian(table["mass"]), rel=1e-9)
    # a category only a validation row has encodes as all zeros, there and at prediction
    val_row = int(np.rint(data.raw_features(data.val)[0, 0]))
    table.loc[val_row, "island"] = "Atlantis"
    again = load_dataset(DataConfig(source=str(write(table, tmp_path)), target="species"), 0)
    assert "island=Atlantis" not in again.preprocessor.feature_names()
    islands = [i for i, n in enumerate(again.preprocessor.feature_names()) if "island=" in n]
    assert not again.val.X[0, islands].any()
    assert again.train.X[:, islands].sum(axis=1).min() == 1.0
