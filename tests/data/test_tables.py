"""Tables as users have them: numbers, booleans, text, pandas categoricals, gaps, string labels."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from jaxsweep.config import DataConfig
from jaxsweep.data.dataset import load_dataset
from jaxsweep.data.tables import read_frame
from jaxsweep.errors import UserError


def penguins(rows: int = 90) -> pd.DataFrame:
    """A small table of every kind of column, with gaps and a text label."""
    rng = np.random.default_rng(1)
    species = rng.choice(["Adelie", "Chinstrap", "Gentoo"], rows)
    mass = rng.normal(4000, 500, rows) + (species == "Gentoo") * 1000
    mass[::7] = np.nan
    island = rng.choice(["Biscoe", "Dream", "Torgersen"], rows).astype(object)
    island[::9] = None
    return pd.DataFrame(
        {
            "id": np.arange(rows),
            "mass": mass,
            "island": island,
            "sex": pd.Categorical(rng.choice(["female", "male"], rows)),
            "tagged": rng.random(rows) > 0.5,
            "grade": rng.integers(1, 4, rows),
            "species": species,
        }
    )


def write(table: pd.DataFrame, folder: Path, suffix: str = ".parquet") -> Path:
    path = folder / f"penguins{suffix}"
    table.to_parquet(path) if suffix == ".parquet" else table.to_csv(path, index=False)
    return path


def test_every_kind_of_column_becomes_features(tmp_path: Path) -> None:
    path = write(penguins(), tmp_path)
    config = DataConfig(source=str(path), target="species", drop=["id"], categorical=["grade"])
    data = load_dataset(config, seed=0)
    assert data.task == "multiclass" and data.classes == ("Adelie", "Chinstrap", "Gentoo")
    names = data.preprocessor.feature_names()
    assert names == [
        *("mass", "mass missing"),  # numbers, then an indicator of the gaps
        *("island=(missing)", "island=Biscoe", "island=Dream", "island=Torgersen"),
        *("sex=female", "sex=male", "tagged=False", "tagged=True", "grade=1", "grade=2"),
        "grade=3",
    ]
    assert data.n_features == len(names) and data.train.X.dtype == np.float32
    one_hot = data.train.X[:, 2:]
    assert set(np.unique(one_hot)) == {0.0, 1.0}
    assert np.all(one_hot.sum(axis=1) == 4)  # one value of each of 4 category columns


def test_rows_without_a_target_are_dropped_and_counted(tmp_path: Path) -> None:
    table = penguins()
    table.loc[[3, 4, 5], "species"] = None
    data = load_dataset(DataConfig(source=str(write(table, tmp_path)), target="species"), 0)
    assert data.dropped_rows == 3
    assert len(data.train.y) + len(data.val.y) + len(data.test.y) == len(table) - 3


def test_csv_numbers_are_read_as_float32(tmp_path: Path) -> None:
    path = write(penguins(), tmp_path, ".csv")
    frame = read_frame(path, keep="species")
    assert frame["mass"].dtype == np.float32 and frame["id"].dtype.kind == "i"
    config = DataConfig(source=str(path), target="species", categorical=["grade"])
    from_csv = load_dataset(config, 0)
    from_parquet = load_dataset(
        config.model_copy(update={"source": str(write(penguins(), tmp_path))}), 0
    )
    assert from_csv.preprocessor == from_parquet.preprocessor  # the same values read the same
    np.testing.assert_array_equal(from_csv.train.X, from_parquet.train.X)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"drop": ["nope"]}, "key data.drop: no column 'nope'"),
        ({"categorical": ["nope"]}, "key data.categorical: no column 'nope'"),
        ({"max_categories": 2}, "column 'island' has 3 distinct values, more than"),
        ({"missing": "error"}, "column 'mass' has 13 missing values"),
        ({"target": "empty"}, "key data.target: column 'empty' has no values"),
        ({"drop": ["mass"]}, "column 'gap' has no values; list it in data.drop"),
    ],
)
def test_unusable_columns_are_user_errors(tmp_path: Path, changes: dict, expected: str) -> None:
    table = penguins().assign(empty=None)
    table = table.assign(gap=np.nan) if changes.get("drop") == ["mass"] else table
    path = write(table.drop(columns=[] if "target" in changes else ["empty"]), tmp_path)
    config = DataConfig(**({"source": str(path), "target": "species"} | changes))
    with pytest.raises(UserError) as info:
        load_dataset(config, seed=0)
    assert str(path) in str(info.value) and expected in str(info.value)


def test_too_many_one_hot_columns_and_an_empty_file_are_user_errors(tmp_path: Path) -> None:
    rows = 1500
    wide = pd.DataFrame({f"c{i}": [f"v{j % 1001}" for j in range(rows)] for i in range(10)})
    wide["y"] = np.arange(rows) % 2
    path = write(wide, tmp_path)
    with pytest.raises(UserError, match="would make 10010 one-hot columns, more than 10,000"):
        load_dataset(DataConfig(source=str(path), target="y", max_categories=2000), 0)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(UserError, match="no rows"):
        load_dataset(DataConfig(source=str(tmp_path / "empty.csv")), 0)
