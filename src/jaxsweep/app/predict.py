"""``jaxsweep predict``: a saved model's predictions for a file of raw rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from jaxsweep.app.checkpoint import load_model
from jaxsweep.data.preprocessing import saved_preprocessing
from jaxsweep.data.tables import read_frame
from jaxsweep.errors import UserError

KINDS = (".csv", ".parquet")


def predictions(model_folder: Path, data: Path, keep: list[str]) -> pd.DataFrame:
    """The ``keep`` columns of ``data``, the prediction and, for a classifier, each label's
    probability (``probability_<label>``). Reads everything before anything is written."""
    if data.suffix not in KINDS:
        raise UserError(str(data), f"not a {' or '.join(KINDS)} file")
    if not data.is_file():
        raise UserError(str(data), "file not found")
    rows = read_frame(data)
    absent = [name for name in keep if name not in rows.columns]
    if absent:
        columns = ", ".join(map(str, rows.columns[:20]))
        raise UserError(f"{data}: --keep", f"no column {absent[0]!r} (columns: {columns})")
    # the rows' problems are found before JAX starts (seconds) to load the network
    X = saved_preprocessing(model_folder).features.transform(rows, str(data))

    model = load_model(model_folder)
    table = rows[keep].copy()
    table["prediction"] = model.predict_features(X)
    if model.classes:
        probabilities = model.proba_of_features(X)
        for i, label in enumerate(model.classes):
            table[f"probability_{label}"] = np.round(probabilities[:, i], 6)
    return table


def write_predictions(table: pd.DataFrame, out: Path) -> Path:
    if not out.parent.is_dir():
        raise UserError("--out", f"folder {out.parent} does not exist")
    if out.suffix == ".parquet":
        table.to_parquet(out, index=False)
    else:
        table.to_csv(out, index=False)
    return out
