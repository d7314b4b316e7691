from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jaxsweep.config import DataConfig
from jaxsweep.data.dataset import BUILTINS, load_dataset
from jaxsweep.errors import UserError

EXPECTED_TASKS = {
    "digits": "multiclass",
    "iris": "multiclass",
    "wine": "multiclass",
    "breast_cancer": "binary",
    "diabetes": "regression",
}


@pytest.mark.parametrize("name", BUILTINS)
def test_builtins_load_offline_with_the_right_task(name: str) -> None:
    data = load_dataset(DataConfig(source=name), seed=0)
    assert data.task == EXPECTED_TASKS[name]
    total = len(data.train.y) + len(data.val.y) + len(data.test.y)
    assert abs(len(data.val.y) - 0.2 * total) <= 1 and abs(len(data.test.y) - 0.2 * total) <= 1


def test_standardization_is_fitted_on_the_train_split_only() -> None:
    data = load_dataset(DataConfig(source="wine"), seed=0)
    np.testing.assert_allclose(data.train.X.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(data.train.X.std(axis=0), 1.0, atol=1e-4)
    assert np.abs(data.val.X.mean(axis=0)).max() > 1e-3  # val statistics were not used


def test_the_split_is_seeded() -> None:
    a, b, c = (load_dataset(DataConfig(source="iris"), seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(a.val.X, b.val.X)
    assert not np.array_equal(a.val.X, c.val.X)


def frame(rows: int = 60) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"a": rng.normal(size=rows), "b": rng.normal(size=rows), "target": rng.integers(0, 3, rows)}
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".npz"])
def test_files_load_and_infer_the_task(tmp_path: Path, suffix: str) -> None:
    table, path = frame(), tmp_path / f"data{suffix}"
    if suffix == ".csv":
        table.to_csv(path, index=False)
    elif suffix == ".parquet":
        table.to_parquet(path)
    else:
        np.savez(path, X=table[["a", "b"]].to_numpy(), y=table["target"].to_numpy())
    data = load_dataset(DataConfig(source=str(path)), seed=0)
    assert (data.task, data.output_dim, data.n_features) == ("multiclass", 3, 2)


def test_string_labels_and_regression_targets(tmp_path: Path) -> None:
    table = frame()
    table["target"] = np.where(table["a"] > 0, "yes", "no")
    table.to_csv(tmp_path / "binary.csv", index=False)
    assert load_dataset(DataConfig(source=str(tmp_path / "binary.csv")), 0).classes == ("no", "yes")
    table["target"] = table["a"] * 3.7 + 0.1
    table.to_csv(tmp_path / "reg.csv", index=False)
    assert load_dataset(DataConfig(source=str(tmp_path / "reg.csv")), 0).task == "regression"


@pytest.mark.parametrize(
    ("mutate", "changes", "expected"),
    [
        (
            lambda t: t.assign(a=np.where(t.index == 3, np.nan, t["a"])),
            {"missing": "error"},
            "column 'a' has 1 missing values and data.missing is 'error'",
        ),
        (lambda t: t.assign(a=np.where(t.index == 3, np.inf, t["a"])), {}, "infinite values"),
        (
            lambda t: t.assign(c=[f"id{i}" for i in t.index]),
            {},
            "column 'c' has 60 distinct values, more than data.max_categories (50)",
        ),
        (lambda t: t.assign(target=1), {}, "single class"),
        (lambda t: t.drop(columns=["target"]), {}, "no column 'target'"),
        (lambda t: t.head(3), {}, "too few to split"),
    ],
)
def test_bad_data_files_are_user_errors(tmp_path: Path, mutate, changes, expected: str) -> None:
    path = tmp_path / "data.csv"
    mutate(frame()).to_csv(path, index=False)
    with pytest.raises(UserError) as info:
        load_dataset(DataConfig(source=str(path), **changes), seed=0)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_unknown_source_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="neither a built-in dataset"):
        load_dataset(DataConfig(source="mnist"), seed=0)
    with pytest.raises(UserError, match="not found"):
        load_dataset(DataConfig(source=str(tmp_path / "none.csv")), seed=0)
