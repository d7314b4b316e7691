"""Validation metrics over a split in chunks add up to the metrics of the whole split."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsweep.engine import losses


@pytest.mark.parametrize(("task", "rows"), [("regression", 1000), ("multiclass", 1024)])
def test_chunked_metrics_equal_the_whole_split(task: str, rows: int) -> None:
    rng = np.random.default_rng(0)
    X = jnp.asarray(rng.normal(size=(rows, 3)), jnp.float32)
    y = jnp.asarray(rng.integers(0, 3, rows) if task != "regression" else rng.normal(size=rows))
    weights = jnp.asarray(rng.normal(size=(3, 3)), jnp.float32)

    def means(X: jax.Array, y: jax.Array) -> dict[str, jax.Array]:
        output = X @ weights
        prediction = losses.predict(output, task, "linear", jnp.float32(0), jnp.float32(1))
        loss = losses.loss_value(
            "mse" if task == "regression" else "cross_entropy", output, y, "linear"
        )
        return {"loss": loss} | losses.metric_means(prediction, y, task)

    whole = losses.finished(means(X, y))
    for chunk in (64, 100, 512):  # whole chunks only, and a rest after them
        parts = losses.finished(jax.jit(lambda X, y, c=chunk: losses.chunked(means, X, y, c))(X, y))
        assert parts.keys() == whole.keys()
        for name in whole:
            np.testing.assert_allclose(parts[name], whole[name], rtol=2e-5, err_msg=name)
    expected = (np.asarray(means(X, y)["rmse"]) ** 0.5) if task == "regression" else None
    if expected is not None:
        np.testing.assert_allclose(whole["rmse"], expected, rtol=1e-6)
