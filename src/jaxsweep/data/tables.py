"""Data files as users have them: a CSV or Parquet file read into typed columns.

Numeric columns are read as float32 (no float64 copy of the table); boolean, text and pandas
categorical columns, and the integer columns ``data.categorical`` names, are categories. Every
problem is a ``UserError`` naming the file, the column and the keys that fix it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from jaxsweep.config import DataConfig
from jaxsweep.errors import UserError

MAX_COLUMNS = 10_000  # one-hot columns a table may make, at most
SNIFF_ROWS = 1000  # rows read first to learn which CSV columns are numbers


@dataclass(frozen=True)
class Table:
    features: pd.DataFrame  # the feature columns, raw
    target: np.ndarray
    numeric: tuple[str, ...]
    categorical: tuple[str, ...]
    dropped_rows: int  # rows whose target was missing


def read_frame(path: Path, keep: str | None = None) -> pd.DataFrame:
    """A CSV or Parquet file as a DataFrame, columns named by text, numeric columns as float32
    (but column ``keep``, a target whose integers are class labels)."""
    try:
        frame = _read_parquet(path, keep) if path.suffix == ".parquet" else _read_csv(path, keep)
    except Exception as exc:  # pandas and pyarrow raise many types for a broken file
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(str(path), f"cannot read as {path.suffix[1:]}: {message}") from None
    if frame.shape[1] == 0 or len(frame) == 0:
        raise UserError(str(path), "the file holds no rows (expected a header and data rows)")
    frame.columns = [str(name) for name in frame.columns]
    for name in frame.columns:
        if _float64(frame[name], keep):
            frame[name] = frame[name].astype(np.float32)
    return frame


def release_memory() -> None:
    """Hand memory that Arrow (Parquet's reader) keeps for reuse back to the system: reading
    a 160 MB table held 220 MB more after the read, and its columns again once freed."""
    import pyarrow

    pyarrow.default_memory_pool().release_unused()


def _read_parquet(path: Path, keep: str | None) -> pd.DataFrame:
    """A column at a time, each float64 one made float32 at once: reading the whole file,
    then converting, peaked at 5.4 GB for 10,000,000 rows x 40 floats (1.6 GB as float32)."""
    import pyarrow.parquet

    file = pyarrow.parquet.ParquetFile(path)
    columns = {}
    for name in file.schema_arrow.names:
        if name.startswith("__index_level_"):  # a DataFrame's index, not a column
            continue
        column = file.read(columns=[name]).to_pandas()[name]
        columns[name] = column.astype(np.float32) if _float64(column, keep) else column
        release_memory()
    return pd.DataFrame(columns, copy=False)


def _float64(column: pd.Series, keep: str | None) -> bool:
    return column.dtype == np.float64 and column.name != keep


def _read_csv(path: Path, keep: str | None) -> pd.DataFrame:
    try:
        head = pd.read_csv(path, nrows=SNIFF_ROWS)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    # float32 while parsing: no float64 copy of the table (integer columns stay integers)
    numbers = {c: np.float32 for c in head.columns if head[c].dtype.kind == "f" and c != keep}
    try:
        return pd.read_csv(path, dtype=numbers)
    except ValueError:  # text further down a column that began with numbers
        return pd.read_csv(path)


def read_table(path: Path, config: DataConfig) -> Table:
    """Read ``path`` as ``table_of`` takes it."""
    return table_of(read_frame(path, config.target), config, str(path))


def table_of(frame: pd.DataFrame, config: DataConfig, where: str) -> Table:
    """Drop ``data.drop`` and the rows without a target, and type every column."""
    _check_named_columns(frame, config, where)
    target = frame[config.target]
    known = target.notna().to_numpy()
    if not known.any():
        raise UserError(where, f"key data.target: column {config.target!r} has no values")
    features = frame.drop(columns=[config.target, *config.drop])
    del frame
    if not known.all():
        features = features[known].reset_index(drop=True)
    if features.shape[1] == 0:
        raise UserError(where, "no feature columns left (check data.drop and data.target)")
    numeric, categorical = _column_kinds(features, config, where)
    _check_gaps(features, config, where)
    return Table(features, target[known].to_numpy(), numeric, categorical, int((~known).sum()))


def _check_named_columns(frame: pd.DataFrame, config: DataConfig, where: str) -> None:
    columns = ", ".join(map(str, frame.columns[:20]))
    if config.target not in frame.columns:
        raise UserError(where, f"key data.target: no column {config.target!r} (columns: {columns})")
    for key in ("drop", "categorical"):
        for name in getattr(config, key):
            if name not in frame.columns:
                raise UserError(where, f"key data.{key}: no column {name!r} (columns: {columns})")


def _column_kinds(
    features: pd.DataFrame, config: DataConfig, where: str
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    numeric, categorical, width = [], [], 0
    for name in features.columns:
        column = features[name]
        if column.isna().all():
            raise UserError(where, f"column {name!r} has no values; list it in data.drop")
        is_number = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        if is_number and name not in config.categorical:
            numeric.append(str(name))
            continue
        count = int(column.nunique(dropna=True))
        if count > config.max_categories:
            raise UserError(
                where,
                f"column {name!r} has {count} distinct values, more than data.max_categories "
                f"({config.max_categories}); raise data.max_categories or list it in data.drop",
            )
        categorical.append(str(name))
        width += count + int(column.isna().any())
    if width > MAX_COLUMNS:
        raise UserError(
            where,
            f"the category columns would make {width} one-hot columns, more than "
            f"{MAX_COLUMNS:,}; lower data.max_categories or list columns in data.drop",
        )
    return tuple(numeric), tuple(categorical)


def _check_gaps(features: pd.DataFrame, config: DataConfig, where: str) -> None:
    gaps = features.isna().sum() if config.missing == "error" else pd.Series([0])
    if gaps.any():
        name = gaps.index[int(np.argmax(gaps.to_numpy() > 0))]
        raise UserError(
            where,
            f"column {name!r} has {int(gaps[name])} missing values and data.missing is "
            "'error' (accepted: impute, error); fill them or set data.missing: impute",
        )
    for name in features.columns:
        column = features[name]
        if column.dtype.kind == "f" and np.isinf(column.to_numpy()).any():
            raise UserError(where, f"column {name!r} has infinite values; fill or drop them")
