"""Preprocessing fitted on the training split and kept as plain data.

scikit-learn fits it, a column at a time: a median ``SimpleImputer`` (with its 0/1 indicator
when the column had gaps) for numbers, and a constant ``SimpleImputer`` (a gap is a category of
its own) before a ``OneHotEncoder`` for categories. What it learned is then kept as
lists of columns, medians, categories and scaling (YAML beside a model, no pickle), and
``Preprocessor.transform`` applies them to raw rows: the training splits, and later ``predict``.
An unseen category encodes as all zeros. Numbers are standardized; indicator and one-hot
columns stay 0/1."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jaxsweep.errors import UserError, read_yaml

MISSING = "(missing)"  # the category of a gap in a category column
MANIFEST = "model.yaml"  # a saved model's config, layout and preprocessing


@dataclass(frozen=True)
class Preprocessor:
    numeric: tuple[str, ...]
    medians: tuple[float, ...]
    means: tuple[float, ...]
    scales: tuple[float, ...]
    indicators: tuple[str, ...]  # numeric columns with gaps in training: one 0/1 column each
    categorical: tuple[str, ...]
    categories: tuple[tuple[str, ...], ...]  # per category column, in one-hot order

    @property
    def columns(self) -> tuple[str, ...]:
        """The raw columns it reads."""
        return self.numeric + self.categorical

    @property
    def width(self) -> int:
        """The features it makes."""
        return len(self.numeric) + len(self.indicators) + sum(map(len, self.categories))

    def feature_names(self) -> list[str]:
        pairs = zip(self.categorical, self.categories, strict=True)
        one_hot = [f"{column}={value}" for column, values in pairs for value in values]
        return [*self.numeric, *(f"{c} missing" for c in self.indicators), *one_hot]

    def transform(self, frame: pd.DataFrame, where: str = "rows") -> np.ndarray:
        """Raw rows (any column order, extra columns ignored) to float32 features."""
        return self.transform_parts(frame, [np.arange(len(frame))], where)[0]

    def transform_parts(
        self, frame: pd.DataFrame, parts: list[np.ndarray], where: str = "rows"
    ) -> list[np.ndarray]:
        """The features of each of ``parts`` (row numbers of ``frame``), a column at a time:
        memory holds the parts' features, never the whole table's beside them."""
        absent = [c for c in self.columns if c not in frame.columns]
        if absent:
            raise UserError(
                where, f"no column {absent[0]!r} (the model reads: {', '.join(self.columns)})"
            )
        outs = [np.zeros((len(rows), self.width), np.float32) for rows in parts]
        indicator = {name: i for i, name in enumerate(self.indicators, len(self.numeric))}
        for j, name in enumerate(self.numeric):
            values = _numbers(frame[name], name, where)
            gaps = np.isnan(values)
            column = np.where(gaps, np.float32(self.medians[j]), values)
            column = (column - np.float32(self.means[j])) / np.float32(self.scales[j])
            for out, rows in zip(outs, parts, strict=True):
                out[:, j] = column[rows]
                if name in indicator:
                    out[:, indicator[name]] = gaps[rows]
        start = len(self.numeric) + len(self.indicators)
        for name, categories in zip(self.categorical, self.categories, strict=True):
            text = as_text(frame[name])
            text[pd.isna(text)] = MISSING
            codes = pd.Index(categories).get_indexer(text)
            for out, rows in zip(outs, parts, strict=True):
                hits = np.flatnonzero(codes[rows] >= 0)  # an unseen category: all zeros
                out[hits, start + codes[rows][hits]] = 1.0
            start += len(categories)
        return outs

    def as_dict(self) -> dict[str, Any]:
        return {
            k: [list(v) if isinstance(v, tuple) else v for v in vs]
            for k, vs in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Preprocessor:
        """The inverse of ``as_dict``; a broken document raises KeyError, TypeError or
        ValueError."""
        plain = {k: tuple(document[k]) for k in cls.__dataclass_fields__}
        numbers = {k: tuple(float(v) for v in plain[k]) for k in ("medians", "means", "scales")}
        categories = tuple(tuple(str(v) for v in vs) for vs in plain["categories"])
        names = {k: tuple(map(str, plain[k])) for k in ("numeric", "indicators", "categorical")}
        made = cls(**names, **numbers, categories=categories)
        if not (len(made.numeric) == len(made.medians) == len(made.means) == len(made.scales)):
            raise ValueError("numeric, medians, means and scales differ in length")
        if len(made.categorical) != len(made.categories):
            raise ValueError("categorical and categories differ in length")
        return made

    @classmethod
    def numbers_only(cls, means: np.ndarray, scales: np.ndarray) -> Preprocessor:
        """Standardization of columns x0, x1, ... with no gaps (models saved before categories)."""
        names = tuple(f"x{i}" for i in range(len(means)))
        means_, scales_ = tuple(map(float, means)), tuple(map(float, scales))
        return cls(names, means_, means_, scales_, (), (), ())


def fit(
    features: pd.DataFrame,
    rows: np.ndarray,
    numeric: tuple[str, ...],
    categorical: tuple[str, ...],
    standardize: bool = True,
) -> Preprocessor:
    """Fit on ``features``' training ``rows`` only, a column at a time: a ``ColumnTransformer``
    over the whole table transformed its training rows while fitting (it has no fit alone) and
    held several copies of them: 8.3 GB at the peak for 10,000,000 rows x 40 floats."""
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    medians, indicators = [], []
    for name in numeric:
        values = features[name].to_numpy(np.float32, na_value=np.nan)[rows].reshape(-1, 1)
        imputer = SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)
        imputer.fit(values)
        medians.append(float(imputer.statistics_[0]))
        if imputer.indicator_ is not None and len(imputer.indicator_.features_):
            indicators.append(name)
    found = []
    for name in categorical:
        encoder = make_pipeline(
            SimpleImputer(strategy="constant", fill_value=MISSING),
            OneHotEncoder(handle_unknown="ignore"),
        ).fit(as_text(features[name].iloc[rows]).reshape(-1, 1))
        found.append(tuple(str(v) for v in encoder[-1].categories_[0]))
    means, scales = _scaling(features, rows, numeric, tuple(medians), standardize)
    return Preprocessor(
        numeric, tuple(medians), means, scales, tuple(indicators), categorical, tuple(found)
    )


def _scaling(
    features: pd.DataFrame,
    rows: np.ndarray,
    numeric: tuple[str, ...],
    medians: tuple[float, ...],
    standardize: bool,
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Each number column's mean and standard deviation on the training rows, gaps filled
    (0 and 1 without standardization); a column by itself, so no copy of the table is made."""
    if not standardize:
        return (0.0,) * len(numeric), (1.0,) * len(numeric)
    means, scales = [], []
    for name, median in zip(numeric, medians, strict=True):
        values = features[name].to_numpy(np.float64)[rows]
        values[np.isnan(values)] = median
        means.append(float(values.mean()))
        std = float(values.std())
        scales.append(std if std > 0 else 1.0)
    return tuple(means), tuple(scales)


def as_text(column: pd.Series) -> np.ndarray:
    """A category column as text, gaps as NaN: the same value reads the same from CSV, Parquet
    or a DataFrame (True as 'True', 3.0 and 3 as '3')."""
    known = column.notna().to_numpy()
    values = column[known]
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.astype(object)
    if pd.api.types.is_float_dtype(values) and bool((values == np.round(values)).all()):
        values = values.astype(np.int64)
    out = np.full(len(column), np.nan, dtype=object)
    out[known] = values.astype(str).to_numpy()
    return out


def _numbers(column: pd.Series, name: str, where: str) -> np.ndarray:
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        try:
            column = pd.to_numeric(column, errors="raise")
        except (ValueError, TypeError):
            example = column.dropna().iloc[0] if column.notna().any() else None
            raise UserError(
                where, f"column {name!r} is not numeric (e.g. {example!r}); the model reads numbers"
            ) from None
    return column.to_numpy(np.float32, na_value=np.nan)


@dataclass(frozen=True)
class Preprocessing:
    features: Preprocessor  # raw rows to features, fitted on the training split
    target_shift: float
    target_scale: float
    task: str
    classes: tuple[Any, ...]  # the original labels, by class id

    def as_dict(self) -> dict[str, Any]:
        return {
            "features": self.features.as_dict(),
            "target_shift": self.target_shift,
            "target_scale": self.target_scale,
            "task": self.task,
            "classes": list(self.classes),
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Preprocessing:
        if "features" in document:
            features = Preprocessor.from_dict(document["features"])
        else:  # saved before categories and gaps: standardization of columns x0, x1, ...
            features = Preprocessor.numbers_only(
                np.asarray(document["feature_mean"]), np.asarray(document["feature_scale"])
            )
        return cls(
            features,
            float(document["target_shift"]),
            float(document["target_scale"]),
            str(document["task"]),
            tuple(document["classes"]),
        )


def model_folder(path: str | Path) -> Path:
    """A model's folder: ``path``, or the ``model`` folder inside it (a results folder)."""
    folder = Path(path)
    if not (folder / MANIFEST).is_file() and (folder / "model" / MANIFEST).is_file():
        return folder / "model"
    return folder


def saved_preprocessing(path: str | Path) -> Preprocessing:
    """A saved model's preprocessing, read without its network (and without JAX)."""
    file = model_folder(path) / MANIFEST
    document = read_yaml(str(file))
    try:
        return Preprocessing.from_dict(document["preprocessing"])  # type: ignore[index]
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(str(file), f"not a model written by jaxsweep ({exc})") from None
