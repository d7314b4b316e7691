"""Trained models on disk (Flax msgpack + YAML, no pickle), and the Python API to reuse them:
``load_model(folder).predict(rows)`` on raw rows, with the preprocessing kept beside the weights."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd
import yaml

from jaxsweep.data.preprocessing import MANIFEST, Preprocessing, model_folder
from jaxsweep.engine import losses
from jaxsweep.engine.model import MLP, Layout
from jaxsweep.errors import UserError, read_yaml
from jaxsweep.search.member_config import MemberConfig
from jaxsweep.search.population import arch_of

WEIGHTS, BEST = "weights.msgpack", "best_params.yaml"


@dataclass(frozen=True)
class BestTrial:
    """The best trial of a sweep, as ``best_params.yaml`` records it."""

    study: str
    stage: str
    trial: int
    metric: str
    direction: str
    value: float
    params: dict[str, Any]
    config: MemberConfig


Rows = pd.DataFrame | np.ndarray


class Model:
    """A trained member: ``predict(rows)`` takes raw rows, as in the data file (a DataFrame:
    text, gaps, columns in any order, extra columns ignored; or an array of the columns in the
    file's order), and returns class labels (classification) or targets in their own units
    (regression); ``predict_proba`` returns each class's probability."""

    def __init__(
        self,
        config: MemberConfig,
        variables: dict[str, Any],
        preprocessing: Preprocessing,
        layout: Layout,
    ) -> None:
        self.config = config
        self.variables = variables
        self.preprocessing = preprocessing
        self.layout = layout  # the padded network the sweep trained it in
        module, arch = MLP(layout), arch_of(config, layout)
        key = jax.random.PRNGKey(0)  # prediction draws no noise
        self._apply = jax.jit(lambda v, x: module.apply(v, x, arch, 0.0, key, train=False))

    @property
    def columns(self) -> tuple[str, ...]:
        """The raw columns the model reads."""
        return self.preprocessing.features.columns

    def features(self, rows: Rows, where: str = "rows") -> np.ndarray:
        """Raw rows as the network's inputs."""
        if not isinstance(rows, pd.DataFrame):
            rows = np.asarray(rows)
            if rows.ndim != 2 or rows.shape[1] != len(self.columns):
                raise ValueError(
                    f"expected rows of shape (rows, {len(self.columns)}), got {rows.shape}"
                )
            rows = pd.DataFrame(rows, columns=list(self.columns))
        return self.preprocessing.features.transform(rows, where)

    def predict(self, rows: Rows, where: str = "rows") -> np.ndarray:
        return self.predict_features(self.features(rows, where))

    def predict_proba(self, rows: Rows, where: str = "rows") -> np.ndarray:
        """(rows, classes) probabilities, columns in the order of ``classes``."""
        return self.proba_of_features(self.features(rows, where))

    def proba_of_features(self, X: np.ndarray) -> np.ndarray:
        p = self.preprocessing
        if not p.classes:
            raise ValueError("predict_proba is for classification; this model predicts values")
        output = self._apply(self.variables, jnp.asarray(X, jnp.float32))
        if p.task == "binary":
            one = jax.nn.sigmoid(output[:, 0])
            return np.asarray(jnp.stack([1.0 - one, one], axis=1))
        return np.asarray(jax.nn.softmax(output, axis=-1))

    @property
    def classes(self) -> tuple[Any, ...]:
        return self.preprocessing.classes

    def predict_features(self, X: np.ndarray) -> np.ndarray:
        """Predictions from features already preprocessed (a dataset split's)."""
        p = self.preprocessing
        output = self._apply(self.variables, jnp.asarray(X, jnp.float32))
        prediction = np.asarray(
            losses.predict(
                output, p.task, self.config.model.output_activation, p.target_shift, p.target_scale
            )
        )
        return np.asarray(p.classes)[prediction] if p.classes else prediction


def save_model(folder: Path, model: Model, extra: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / WEIGHTS).write_bytes(flax.serialization.to_bytes(model.variables))
    manifest = {
        "config": model.config.as_dict(),
        "layout": dataclasses.asdict(model.layout)
        | {"activations": list(model.layout.activations)},
        "preprocessing": model.preprocessing.as_dict(),
    } | extra
    (folder / MANIFEST).write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return folder


def load_model(path: str | Path) -> Model:
    """Load a model saved by ``jaxsweep train``: its folder, or the results folder holding it."""
    folder = model_folder(path)
    manifest = _mapping(folder / MANIFEST)
    try:
        config = MemberConfig.from_dict(manifest["config"])
        preprocessing = Preprocessing.from_dict(manifest["preprocessing"])
        layout = Layout(
            **(manifest["layout"] | {"activations": tuple(manifest["layout"]["activations"])})
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(
            str(folder / MANIFEST), f"not a model written by jaxsweep ({exc})"
        ) from None
    key = jax.random.PRNGKey(0)
    example = jnp.zeros((1, preprocessing.features.width))
    template = MLP(layout).init(key, example, arch_of(config, layout), 0.0, key, False)
    weights = (folder / WEIGHTS).read_bytes()
    return Model(config, flax.serialization.from_bytes(template, weights), preprocessing, layout)


def load_best(path: str | Path) -> BestTrial:
    """Read ``best_params.yaml``: give the file or the results folder holding it."""
    file = Path(path)
    if file.is_dir():
        file = file / BEST
    document = _mapping(file)
    try:
        return BestTrial(
            study=document["study"],
            stage=document["stage"],
            trial=int(document["trial"]),
            metric=document["metric"],
            direction=document["direction"],
            value=float(document["value"]),
            params=dict(document["params"]),
            config=MemberConfig.from_dict(document["config"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise UserError(str(file), f"not a best_params.yaml written by jaxsweep ({exc})") from None


def _mapping(file: Path) -> dict[str, Any]:
    document = read_yaml(str(file))
    if not isinstance(document, dict):
        raise UserError(str(file), "expected a mapping")
    return document
