"""Datasets: built-in and file sources, task inference, a seeded split, and preprocessing fitted
on the training split (``tables`` reads files, ``preprocessing`` makes the features)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jaxsweep.config import DataConfig
from jaxsweep.data.preprocessing import Preprocessor, fit
from jaxsweep.data.tables import Table, read_table, release_memory, table_of
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
    preprocessor: Preprocessor  # fitted on the training split; made the splits' features
    classes: tuple[Any, ...]  # original labels (int, float, bool or str), index = class id
    dropped_rows: int = 0  # rows whose target was missing

    @property
    def output_dim(self) -> int:
        return len(self.classes) if self.task == "multiclass" else 1

    @property
    def n_features(self) -> int:
        return int(self.train.X.shape[1])

    @property
    def feature_mean(self) -> np.ndarray:
        """Each feature's shift (0 for indicator and one-hot features)."""
        p = self.preprocessor
        return np.asarray([*p.means, *[0.0] * (p.width - len(p.numeric))], np.float32)

    @property
    def feature_scale(self) -> np.ndarray:
        p = self.preprocessor
        return np.asarray([*p.scales, *[1.0] * (p.width - len(p.numeric))], np.float32)

    def raw_features(self, split: Split) -> np.ndarray:
        """A split's features before standardization: for a table of numbers without gaps,
        the source's columns."""
        return split.X * self.feature_scale + self.feature_mean


def load_dataset(config: DataConfig, seed: int, key: str = "key 'data.source'") -> Dataset:
    """Load, check, split and preprocess (fitted on the training split); every problem is a
    ``UserError`` naming file and key. ``key`` says where the source was given (the sweep
    file's key or a flag)."""
    table, where = _read_source(config, key)
    task = _infer_task(table.target, config.task, where)
    y, classes = _encode_target(table.target, task, where)
    parts = _split_rows(y, task, config, seed, where)
    features, kinds = table.features, (table.numeric, table.categorical)
    dropped = table.dropped_rows
    del table  # the raw columns go once they are features: memory holds one copy at a time
    preprocessor = fit(features, parts[0], *kinds, config.standardize)
    features_of = preprocessor.transform_parts(features, list(parts), where)
    del features
    release_memory()
    train, val, test = (Split(X, y[rows]) for X, rows in zip(features_of, parts, strict=True))
    return Dataset(config.source, task, train, val, test, preprocessor, classes, dropped)


def _read_source(config: DataConfig, key: str) -> tuple[Table, str]:
    source = config.source
    if source in BUILTINS:
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, f"load_{source}")()
        names = [str(name) for name in getattr(bunch, "feature_names", [])]
        table = _arrays_table(np.asarray(bunch.data), np.asarray(bunch.target), config, names)
        return table, source
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
        X, y = _read_npz(path)
        if X.dtype.kind not in "fiub":
            raise UserError(source, "features are not numeric")
        return _arrays_table(X, y, config, [], source), source
    return read_table(path, config), source


def _arrays_table(
    X: np.ndarray, y: np.ndarray, config: DataConfig, names: list[str], where: str = ""
) -> Table:
    """Arrays (a built-in set, an .npz file) as a table: columns named, or x0, x1, ..."""
    if X.ndim != 2 or X.shape[1] == 0:
        raise UserError(where, f"expected at least one feature column, got shape {X.shape}")
    if len(names) != X.shape[1] or len(set(names)) != len(names):
        names = [f"x{i}" for i in range(X.shape[1])]
    frame = pd.DataFrame(X.astype(np.float32, copy=False), columns=names)
    frame[config.target] = y
    return table_of(frame, config, where or config.source)


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


def _split_rows(
    y: np.ndarray, task: str, config: DataConfig, seed: int, where: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows of the training, validation and test splits (stratified where possible)."""
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
    return train, val, test


def _take(
    rows: np.ndarray, size: int, labels: np.ndarray | None, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split off ``size`` rows, stratified by class where every class allows it."""
    from sklearn.model_selection import train_test_split

    try:
        return train_test_split(rows, test_size=size, random_state=seed, stratify=labels)
    except ValueError:  # a class too small to stratify: fall back to a plain shuffled split
        return train_test_split(rows, test_size=size, random_state=seed)
