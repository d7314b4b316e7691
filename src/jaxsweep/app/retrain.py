"""``jaxsweep train``: retrain one configuration, test it on the held-out split, save it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxsweep.app.checkpoint import BestTrial, Model, save_model
from jaxsweep.data.preprocessing import Preprocessing
from jaxsweep.engine import losses
from jaxsweep.engine.train import population_trainer
from jaxsweep.errors import UserError
from jaxsweep.search.population import (
    Palette,
    cohort_of,
    device_data,
    member_hyper,
    member_keys,
    stack_hypers,
)
from jaxsweep.search.prepare import Prepared


@dataclass(frozen=True)
class Retrained:
    model: Model
    folder: Path
    val_metric: float
    best_epoch: int
    test_metrics: dict[str, float]


def retrain(prepared: Prepared, best: BestTrial, seed: int, folder: Path) -> Retrained:
    """Train ``best.config`` as the sweep trained that trial (same seed and trial number give the
    same initial weights and minibatch order), keep its best epoch, and score the test split."""
    dataset, config = prepared.dataset, best.config
    if config.model.output_dim != dataset.output_dim:
        raise UserError(
            "--params",
            f"the model has {config.model.output_dim} outputs but the "
            f"sweep's data needs {dataset.output_dim}; was it made for this sweep?",
        )
    # the sweep's palette and padded size: the same padded network, so the same numbers
    cohort = cohort_of(config, dataset.task, Palette.of_space(prepared.space))
    hyper = stack_hypers([member_hyper(config, dataset.train.y, cohort)])
    data = device_data(dataset)
    trainer = population_trainer(cohort, prepared.settings)
    state = trainer.init(member_keys(seed, [best.trial]), hyper, data.X_train[:1])
    state, _ = trainer.run(state, hyper, data, prepared.config.epochs)
    state = jax.device_get(state)
    variables = jax.tree.map(
        lambda a: a[0], {"params": state.best_params, "batch_stats": state.best_batch_stats}
    )
    if not state.best_batch_stats:
        variables = {"params": variables["params"]}
    sign = 1.0 if prepared.settings.maximize else -1.0
    preprocessing = Preprocessing(
        dataset.preprocessor,
        float(hyper.target_shift[0]),
        float(hyper.target_scale[0]),
        dataset.task,
        dataset.classes,
    )
    model = Model(config, variables, preprocessing, cohort.layout)
    test = score(model, dataset.test.X, dataset.test.y, dataset.classes)
    val_metric = float(state.best_score[0]) * sign
    save_model(
        folder,
        model,
        {
            "study": best.study,
            "trial": best.trial,
            "seed": seed,
            "best_epoch": int(state.best_epoch[0]),
            prepared.config.metric.name: val_metric,
            "test": test,
        },
    )
    return Retrained(model, folder, val_metric, int(state.best_epoch[0]), test)


def score(model: Model, X: np.ndarray, y: np.ndarray, classes: tuple) -> dict[str, float]:
    """Test metrics of the model's predictions, in labels or the target's units, from the
    split's features (the preprocessing ``predict`` applies to raw rows made them)."""
    prediction = model.predict_features(X)
    truth = np.asarray(classes)[y] if classes else y
    if classes:
        return {"accuracy": float(np.mean(prediction == truth))}
    metrics = losses.metrics(jnp.asarray(prediction), jnp.asarray(truth), "regression")
    return {name: float(value) for name, value in metrics.items()}
