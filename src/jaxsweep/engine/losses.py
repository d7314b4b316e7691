"""Output activations, losses and validation metrics, chosen by the task."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax

# Validation rows a member evaluates at once: a bigger split goes in chunks (``chunked``), so
# memory holds a chunk's activations per member, not the split's.
VALIDATION_CHUNK = 8192


OUTPUTS = {
    "linear": lambda z: z,
    "tanh": jnp.tanh,
    "sigmoid": jax.nn.sigmoid,
    "softplus": jax.nn.softplus,
}


def target_scaling(y_train: np.ndarray, output_activation: str) -> tuple[float, float]:
    """``(shift, scale)`` so that ``(y - shift) / scale`` lies in the output activation's range,
    fitted on the training targets: z-scores for linear, [-1, 1] for tanh, [0, 1] for sigmoid and
    non-negative for softplus. Metrics are reported back in the target's own units."""
    y = np.asarray(y_train, np.float64)
    spread = float(y.std()) or 1.0
    low, high = float(y.min()), float(y.max())
    width = (high - low) or 1.0
    if output_activation == "tanh":
        return (low + high) / 2.0, width / 2.0
    if output_activation == "sigmoid":
        return low, width
    if output_activation == "softplus":
        return min(low, 0.0), spread
    return float(y.mean()), spread


def loss_value(name: str, output: jax.Array, y: jax.Array, output_activation: str) -> jax.Array:
    """Mean loss of a batch. Classification losses take logits for numerical stability."""
    if name == "cross_entropy":
        return optax.softmax_cross_entropy_with_integer_labels(output, y).mean()
    if name == "binary_cross_entropy":
        return optax.sigmoid_binary_cross_entropy(output[:, 0], y.astype(output.dtype)).mean()
    return _regression_loss(name, OUTPUTS[output_activation](output[:, 0]) - y)


def _regression_loss(name: str, error: jax.Array) -> jax.Array:
    if name == "mse":
        return jnp.mean(error**2)
    if name == "mae":
        return jnp.mean(jnp.abs(error))
    return jnp.mean(optax.huber_loss(error, delta=1.0))


def member_loss(
    names: tuple[str, ...],
    loss: jax.Array,
    output: jax.Array,
    y: jax.Array,
    outputs: tuple[str, ...],
    activation: jax.Array,
) -> jax.Array:
    """A member's mean loss, its loss and output activation chosen by index (``loss``,
    ``activation``) among those its program holds: each present one is computed and the
    member's selected, exactly, so that members of a regression space that differ in them share
    one program (3 losses x 4 output activations made 12 programs a batch size)."""
    if len(names) == 1 and len(outputs) == 1:
        return loss_value(names[0], output, y, outputs[0])
    error = _activated(outputs, activation, output) - y
    return _select(loss, [_regression_loss(name, error) for name in names])


def predict(
    output: jax.Array, task: str, output_activation: str, shift: jax.Array, scale: jax.Array
) -> jax.Array:
    """Class ids for classification; targets in their own units for regression."""
    return member_predict(output, task, (output_activation,), jnp.int32(0), shift, scale)


def member_predict(
    output: jax.Array,
    task: str,
    outputs: tuple[str, ...],
    activation: jax.Array,
    shift: jax.Array,
    scale: jax.Array,
) -> jax.Array:
    """``predict`` for a member whose output activation is ``outputs[activation]``."""
    if task == "multiclass":
        return jnp.argmax(output, axis=-1)
    if task == "binary":
        return (output[:, 0] > 0).astype(jnp.int32)
    return _activated(outputs, activation, output) * scale + shift


def _activated(outputs: tuple[str, ...], index: jax.Array, output: jax.Array) -> jax.Array:
    return _select(index, [OUTPUTS[name](output[:, 0]) for name in outputs])


def _select(index: jax.Array, values: list[jax.Array]) -> jax.Array:
    return values[0] if len(values) == 1 else jax.lax.select_n(index, *values)


def metrics(prediction: jax.Array, y_original: jax.Array, task: str) -> dict[str, jax.Array]:
    """Validation metrics beside the loss: accuracy, or RMSE and MAE in the target's units."""
    if task == "regression":
        error = prediction - y_original
        return {"rmse": jnp.sqrt(jnp.mean(error**2)), "mae": jnp.mean(jnp.abs(error))}
    return {"accuracy": jnp.mean(prediction == y_original)}


def metric_means(prediction: jax.Array, y_original: jax.Array, task: str) -> dict[str, jax.Array]:
    """``metrics`` as means over rows (RMSE's square), so that chunks of a split average up
    (``chunked``); ``finished`` turns them into the metrics."""
    if task == "regression":
        error = prediction - y_original
        return {"rmse": jnp.mean(error**2), "mae": jnp.mean(jnp.abs(error))}
    return {"accuracy": jnp.mean(prediction == y_original)}


def finished(means: dict[str, jax.Array]) -> dict[str, jax.Array]:
    return means | ({"rmse": jnp.sqrt(means["rmse"])} if "rmse" in means else {})


def metric_names(task: str) -> tuple[str, ...]:
    return ("loss", "rmse", "mae") if task == "regression" else ("loss", "accuracy")


def chunked(
    means: Callable[[jax.Array, jax.Array], dict[str, Any]],
    X: jax.Array,
    y: jax.Array,
    chunk: int = VALIDATION_CHUNK,
) -> dict[str, Any]:
    """``means`` (means over rows) of all rows of ``X`` and ``y``, chunk by chunk: a scan over
    the whole chunks, then the rest, each weighted by its rows. A split of at most two chunks
    is one chunk, computed exactly as without chunks."""
    rows = X.shape[0]
    whole = rows // chunk
    if whole <= 1:
        return means(X, y)
    head = whole * chunk
    blocks = (X[:head].reshape(whole, chunk, -1), y[:head].reshape(whole, chunk))

    def add(total: dict[str, Any], block: tuple[jax.Array, jax.Array]) -> tuple[Any, None]:
        return jax.tree.map(lambda t, m: t + m * (chunk / rows), total, means(*block)), None

    zeros = jax.tree.map(jnp.zeros_like, jax.eval_shape(means, blocks[0][0], blocks[1][0]))
    total, _ = jax.lax.scan(add, zeros, blocks)
    if head == rows:
        return total
    rest = means(X[head:], y[head:])
    return jax.tree.map(lambda t, m: t + m * ((rows - head) / rows), total, rest)
