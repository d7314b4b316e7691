"""Output activations, losses and validation metrics, chosen by the task."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax

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
    error = OUTPUTS[output_activation](output[:, 0]) - y
    if name == "mse":
        return jnp.mean(error**2)
    if name == "mae":
        return jnp.mean(jnp.abs(error))
    return jnp.mean(optax.huber_loss(error, delta=1.0))


def predict(
    output: jax.Array, task: str, output_activation: str, shift: jax.Array, scale: jax.Array
) -> jax.Array:
    """Class ids for classification; targets in their own units for regression."""
    if task == "multiclass":
        return jnp.argmax(output, axis=-1)
    if task == "binary":
        return (output[:, 0] > 0).astype(jnp.int32)
    return OUTPUTS[output_activation](output[:, 0]) * scale + shift


def metrics(prediction: jax.Array, y_original: jax.Array, task: str) -> dict[str, jax.Array]:
    """Validation metrics beside the loss: accuracy, or RMSE and MAE in the target's units."""
    if task == "regression":
        error = prediction - y_original
        return {"rmse": jnp.sqrt(jnp.mean(error**2)), "mae": jnp.mean(jnp.abs(error))}
    return {"accuracy": jnp.mean(prediction == y_original)}


def metric_names(task: str) -> tuple[str, ...]:
    return ("loss", "rmse", "mae") if task == "regression" else ("loss", "accuracy")
