"""The preprocessing kept as plain data does what scikit-learn's fitted transformers do."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from jaxsweep.data.preprocessing import MISSING, Preprocessing, Preprocessor, as_text, fit
from tests.data.test_tables import penguins


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
