"""Datasets: built-in and file sources, task inference, a seeded split, train-only scaling."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jaxsweep.config import DataConfig
from jaxsweep.errors import UserError

BUILTINS = ("digits", "iris", "wine", "breast_cancer", "diabetes")
FILE_KINDS = (".csv", ".parquet", ".npz")
MAX_CLASSES = 1000


@dataclass(frozen=True)
class Split:
    X: np.ndarray  # float32 (rows, features)
    y: np.ndarray  # int32 class ids, or float32 targets for regression


@dataclass(frozen=True)
class Dataset:
    name: str
    task: str  # binary | multiclass | regression
    train: Split
    val: Split
    test: Split
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    classes: tuple[Any, ...]  # original labels (int, float or str), index = class id

    @property
    def output_dim(self) -> int:
        return len(self.classes) if self.task == "multiclass" else 1

    @property
    def n_features(self) -> int:
        return int(self.train.X.shape[1])

    def raw_features(self, split: Split) -> np.ndarray:
        """A split's features as they were in the source, before standardization."""
        return split.X * self.feature_scale + self.feature_mean


def load_dataset(config: DataConfig, seed: int, key: str = "key 'data.source'") -> Dataset:
    """Load, check, split and scale; every problem is a ``UserError`` naming file and key.
    ``key`` says where the source was given (the sweep file's key or a flag)."""
    X, y_raw, where = _read_source(config, key)
    X = _checked_features(X, where)
    task = _infer_task(y_raw, config.task, where)
    y, classes = _encode_target(y_raw, task, where)
    train, val, test = _split(X, y, task, config, seed, where)
    mean = train.X.mean(axis=0) if config.standardize else np.zeros(X.shape[1], np.float32)
    scale = train.X.std(axis=0) if config.standardize else np.ones(X.shape[1], np.float32)
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)

    def scaled(part: Split) -> Split:
        return Split(((part.X - mean) / scale).astype(np.float32), part.y)

    return Dataset(
        config.source,
        task,
        scaled(train),
        scaled(val),
        scaled(test),
        mean.astype(np.float32),
        scale,
        classes,
    )


def _read_source(config: DataConfig, key: str) -> tuple[np.ndarray, np.ndarray, str]:
    source = config.source
    if source in BUILTINS:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, f"load_{source}")()
        return np.asarray(bunch.data), np.asarray(bunch.target), source
    path = Path(source)
    if path.suffix not in FILE_KINDS:
        raise UserError(
            key,
            f"{source!r} is neither a built-in dataset "
            f"({', '.join(BUILTINS)}) nor a {', '.join(FILE_KINDS)} file",
        )
    if not path.is_file():
        raise UserError(key, f"data file {source!r} not found")
    if path.suffix == ".npz":
        return (*_read_npz(path), source)
    return (*_read_table(path, config.target), source)


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as arrays:
            missing = [name for name in ("X", "y") if name not in arrays.files]
            if missing:
                raise UserError(
                    str(path),
                    f"missing array {missing[0]!r} (found: "
                    f"{', '.join(arrays.files) or 'none'}; expected X and y)",
                )
            X, y = arrays["X"], arrays["y"]
    except (ValueError, OSError) as exc:
        raise UserError(str(path), f"not a readable .npz without pickled objects ({exc})") from None
    if X.ndim != 2 or y.ndim != 1 or len(X) != len(y):
        raise UserError(
            str(path),
            f"expected X of shape (rows, features) and y of shape (rows,), "
            f"got {X.shape} and {y.shape}",
        )
    return X, y


def _read_table(path: Path, target: str) -> tuple[np.ndarray, np.ndarray]:
    import pandas as pd

    try:
        frame = pd.read_csv(path) if path.suffix == ".csv" else pd.read_parquet(path)
    except Exception as exc:  # pandas raises many types for a broken file
        raise UserError(str(path), f"cannot read as {path.suffix[1:]}: {exc}") from None
    if target not in frame.columns:
        raise UserError(
            str(path),
            f"key data.target: no column {target!r} "
            f"(columns: {', '.join(map(str, frame.columns[:20]))})",
        )
    y = frame[target].to_numpy()
    features = frame.drop(columns=[target])
    for column in features.columns:
        if not pd.api.types.is_numeric_dtype(features[column]):
            raise UserError(
                str(path),
                f"column {column!r} is not numeric (e.g. "
                f"{features[column].iloc[0]!r}); encode it or drop it",
            )
    if pd.isna(y).any():
        raise UserError(
            str(path), f"target column {target!r} has {int(pd.isna(y).sum())} missing values"
        )
    return features.to_numpy(dtype=np.float64, na_value=np.nan), y


def _checked_features(X: np.ndarray, where: str) -> np.ndarray:
    if X.ndim != 2 or X.shape[1] == 0:
        raise UserError(where, f"expected at least one feature column, got shape {X.shape}")
    try:
        X = X.astype(np.float64)
    except (TypeError, ValueError):
        raise UserError(where, "features are not numeric") from None
    bad = ~np.isfinite(X)
    if bad.any():
        column = int(np.argmax(bad.any(axis=0)))
        raise UserError(
            where,
            f"feature column {column} has {int(bad[:, column].sum())} "
            "missing or infinite values; fill or drop them",
        )
    return X


def _infer_task(y: np.ndarray, task: str, where: str) -> str:
    if task != "auto":
        return task
    if y.dtype.kind in "OUSb":
        return "binary" if len(np.unique(y)) == 2 else "multiclass"
    values = y.astype(np.float64)
    integral = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    n_unique = len(np.unique(values))
    if integral and n_unique == 2:
        return "binary"
    if integral and n_unique <= min(MAX_CLASSES, max(2, len(y) // 5)):
        return "multiclass"
    return "regression"


def _encode_target(y: np.ndarray, task: str, where: str) -> tuple[np.ndarray, tuple[Any, ...]]:
    if task == "regression":
        try:
            values = y.astype(np.float32)
        except (TypeError, ValueError):
            raise UserError(where, "key data.task: regression needs a numeric target") from None
        if not np.all(np.isfinite(values)):
            raise UserError(where, "target has missing or infinite values")
        return values, ()
    labels, ids = np.unique(y, return_inverse=True)
    if len(labels) < 2:
        raise UserError(
            where, f"target has a single class ({labels[0]}); a classifier needs at least two"
        )
    if task == "binary" and len(labels) != 2:
        raise UserError(where, f"key data.task: 'binary' but the target has {len(labels)} classes")
    return ids.astype(np.int32), tuple(
        label.item() if isinstance(label, np.generic) else label for label in labels
    )


def _split(
    X: np.ndarray, y: np.ndarray, task: str, config: DataConfig, seed: int, where: str
) -> tuple[Split, Split, Split]:
    n = len(y)
    n_val = round(n * config.val_fraction)
    n_test = round(n * config.test_fraction)
    if n - n_val - n_test < 2 or n_val < 1 or (config.test_fraction > 0 and n_test < 1):
        raise UserError(
            where,
            f"{n} rows are too few to split with val_fraction "
            f"{config.val_fraction} and test_fraction {config.test_fraction}",
        )
    rows = np.arange(n)
    labels = y if task != "regression" else None
    rest, test = (rows, rows[:0]) if n_test == 0 else _take(rows, n_test, labels, seed)
    train, val = _take(rest, n_val, None if labels is None else labels[rest], seed)
    return (
        Split(X[train].astype(np.float32), y[train]),
        Split(X[val].astype(np.float32), y[val]),
        Split(X[test].astype(np.float32), y[test]),
    )


def _take(
    rows: np.ndarray, size: int, labels: np.ndarray | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split off ``size`` rows, stratified by class where every class allows it."""
    from sklearn.model_selection import train_test_split

    try:
        return train_test_split(rows, test_size=size, random_state=seed, stratify=labels)
    except ValueError:  # a class too small to stratify: fall back to a plain shuffled split
        return train_test_split(rows, test_size=size, random_state=seed)
