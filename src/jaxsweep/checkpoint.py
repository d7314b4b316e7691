"""Trained models on disk (Flax msgpack + YAML, no pickle), and the Python API to reuse them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import yaml

from jaxsweep import losses
from jaxsweep.errors import UserError, read_yaml
from jaxsweep.model import MLP, Layout
from jaxsweep.population import arch_of
from jaxsweep.space import MemberConfig

WEIGHTS, MANIFEST, BEST = "weights.msgpack", "model.yaml", "best_params.yaml"


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


@dataclass(frozen=True)
class Preprocessing:
    feature_mean: np.ndarray
    feature_scale: np.ndarray
    target_shift: float
    target_scale: float
    task: str
    classes: tuple[Any, ...]


class Model:
    """A trained member: ``predict(X)`` takes raw features, as in the data file, and returns class
    labels (classification) or targets in their own units (regression)."""

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

    def predict(self, X: np.ndarray) -> np.ndarray:
        p = self.preprocessing
        X = np.asarray(X, np.float32)
        if X.ndim != 2 or X.shape[1] != len(p.feature_mean):
            raise ValueError(f"expected X of shape (rows, {len(p.feature_mean)}), got {X.shape}")
        output = self._apply(self.variables, jnp.asarray((X - p.feature_mean) / p.feature_scale))
        prediction = np.asarray(
            losses.predict(
                output, p.task, self.config.model.output_activation, p.target_shift, p.target_scale
            )
        )
        return np.asarray(p.classes)[prediction] if p.classes else prediction


def save_model(folder: Path, model: Model, extra: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / WEIGHTS).write_bytes(flax.serialization.to_bytes(model.variables))
    p = model.preprocessing
    manifest = {
        "config": model.config.as_dict(),
        "layout": dataclasses.asdict(model.layout)
        | {"activations": list(model.layout.activations)},
        "preprocessing": {
            "feature_mean": p.feature_mean.tolist(),
            "feature_scale": p.feature_scale.tolist(),
            "target_shift": p.target_shift,
            "target_scale": p.target_scale,
            "task": p.task,
            "classes": list(p.classes),
        },
    } | extra
    (folder / MANIFEST).write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    return folder


def load_model(path: str | Path) -> Model:
    """Load a model saved by ``jaxsweep train``: its folder, or the results folder holding it."""
    folder = Path(path)
    if not (folder / MANIFEST).is_file() and (folder / "model" / MANIFEST).is_file():
        folder = folder / "model"
    manifest = _mapping(folder / MANIFEST)
    config = MemberConfig.from_dict(manifest["config"])
    pre = manifest["preprocessing"]
    preprocessing = Preprocessing(
        np.asarray(pre["feature_mean"], np.float32),
        np.asarray(pre["feature_scale"], np.float32),
        float(pre["target_shift"]),
        float(pre["target_scale"]),
        pre["task"],
        tuple(pre["classes"]),
    )
    try:
        layout = Layout(
            **(manifest["layout"] | {"activations": tuple(manifest["layout"]["activations"])})
        )
    except (KeyError, TypeError) as exc:
        raise UserError(str(folder / MANIFEST), f"no valid layout ({exc})") from None
    key = jax.random.PRNGKey(0)
    example = jnp.zeros((1, len(preprocessing.feature_mean)))
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
