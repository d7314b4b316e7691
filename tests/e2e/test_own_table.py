"""End to end on a table as users have it (numbers, text, booleans, a pandas categorical, gaps,
text labels, rows without a label): the real CLI runs, trains and predicts from raw rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

import jaxsweep
from jaxsweep.errors import UserError
from tests.conftest import one_structure_space, run_cli, tiny_sweep

LABELS = ["Adelie", "Chinstrap", "Gentoo"]


def penguins(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    species = rng.choice(LABELS, rows)
    island = np.where(species == "Gentoo", "Biscoe", rng.choice(["Dream", "Torgersen"], rows))
    bill = rng.normal(40, 3, rows) + (species == "Chinstrap") * 8
    bill[::11] = np.nan
    return pd.DataFrame(
        {
            "id": [f"p{seed}-{i}" for i in range(rows)],
            "bill_mm": bill,
            "island": pd.Series(island, dtype=object).where(np.arange(rows) % 13 != 0),
            "sex": pd.Categorical(rng.choice(["female", "male"], rows)),
            "tagged": rng.random(rows) > 0.5,
            "species": species,
        }
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """One tiny sweep on the table, its best trial retrained: the folder, and what `run` and
    `train` printed."""
    folder = tmp_path_factory.mktemp("own_table")
    table = penguins(120, seed=0)
    table.loc[[5, 6], "species"] = None
    table.to_parquet(folder / "penguins.parquet")  # keeps the pandas categorical
    data = {"source": "penguins.parquet", "target": "species", "drop": ["id"]}
    sweep = tiny_sweep(
        folder, study="penguins", data=data, search_space=str(one_structure_space(folder))
    )
    ran = run_cli("run", str(sweep), "--trials", "4", "--epochs", "2")
    assert ran.returncode == 0, ran.stderr
    results = folder / "results" / "penguins"
    done = run_cli("train", str(sweep), "--params", str(results / "best_params.yaml"))
    assert done.returncode == 0, done.stderr
    return folder, ran.stdout, done.stdout


def test_run_and_best_speak_the_labels(trained) -> None:
    folder, ran, _ = trained
    assert "dropped 2 rows without a target ('species')" in ran
    results = folder / "results" / "penguins"
    assert yaml.safe_load((results / "best_params.yaml").read_text())["classes"] == LABELS
    best = yaml.safe_load(run_cli("best", str(results)).stdout)
    assert best["classes"] == LABELS and best["metric"] == "accuracy"
    assert len(pd.read_csv(results / "trials.csv")) == 4


def test_train_keeps_the_preprocessing_as_plain_data(trained) -> None:
    folder, _, stdout = trained
    assert "labels: Adelie, Chinstrap, Gentoo" in stdout and "test accuracy" in stdout
    manifest = yaml.safe_load(
        (folder / "results" / "penguins" / "model" / "model.yaml").read_text()
    )
    features = manifest["preprocessing"]["features"]
    assert features["numeric"] == ["bill_mm"] and features["indicators"] == ["bill_mm"]
    assert features["categorical"] == ["island", "sex", "tagged"]
    assert features["categories"][0] == ["(missing)", "Biscoe", "Dream", "Torgersen"]
    assert manifest["preprocessing"]["classes"] == LABELS


def test_predict_takes_raw_rows_from_the_shell_and_from_python(trained) -> None:
    folder, _, _ = trained
    rows = penguins(20, seed=1).drop(columns=["species"])
    rows.loc[0, "island"] = "Atlantis"  # never seen: encodes as all zeros
    rows = rows[["tagged", "id", "sex", "island", "bill_mm"]].assign(note="extra column")
    rows.to_csv(folder / "new.csv", index=False)
    model_folder = folder / "results" / "penguins" / "model"
    out = folder / "predictions.csv"
    done = run_cli(
        "predict", str(model_folder), str(folder / "new.csv"), "--out", str(out), "--keep", "id"
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(out)
    assert list(table.columns) == ["id", "prediction", *(f"probability_{x}" for x in LABELS)]
    assert list(table["id"]) == list(rows["id"]) and set(table["prediction"]) <= set(LABELS)
    np.testing.assert_allclose(table.filter(like="probability_").sum(axis=1), 1.0, atol=1e-5)

    model = jaxsweep.load_model(folder / "results" / "penguins")
    assert list(model.predict(rows)) == list(table["prediction"])
    islands = [
        i for i, n in enumerate(model.preprocessing.features.feature_names()) if "island" in n
    ]
    assert not model.features(rows.head(1))[0, islands].any()
    np.testing.assert_allclose(
        model.predict_proba(rows), table.filter(like="probability_"), atol=1e-5
    )
    with pytest.raises(UserError, match="no column 'bill_mm'"):
        model.predict(rows.drop(columns=["bill_mm"]))


def test_predict_refuses_a_missing_column_and_writes_nothing(trained) -> None:
    folder, _, _ = trained
    penguins(5, seed=2).drop(columns=["sex"]).to_csv(folder / "bad.csv", index=False)
    out = folder / "never.csv"
    done = run_cli(
        "predict", str(folder / "results" / "penguins"), str(folder / "bad.csv"), "--out", str(out)
    )
    assert done.returncode == 2 and not out.exists()
    assert done.stderr.strip().splitlines() == [
        f"error: {folder / 'bad.csv'}: no column 'sex' (the model reads: bill_mm, island, sex, "
        "tagged)"
    ]
