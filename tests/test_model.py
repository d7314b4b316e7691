from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsweep.model import MLP, RRELU_LOWER, RRELU_UPPER, Structure, dropout


def build(activation: str, dropout_kind: str = "none", widths=(8, 4)):
    model = MLP(Structure(widths, activation, "he_normal", False, dropout_kind, 3))
    x = jnp.linspace(-3, 3, 40).reshape(10, 4)
    variables = model.init(jax.random.PRNGKey(0), x, jnp.float32(0.0), train=False)
    return model, variables, x


def test_rrelu_is_random_in_training_and_uses_the_mean_slope_in_evaluation() -> None:
    model, variables, x = build("rrelu")
    evaluate = model.apply(variables, x, jnp.float32(0.0), train=False)
    np.testing.assert_array_equal(evaluate, model.apply(variables, x, 0.0, train=False))
    train = [
        model.apply(
            variables, x, jnp.float32(0.0), train=True, rngs={"dropout": jax.random.PRNGKey(s)}
        )
        for s in (1, 2)
    ]
    assert not np.allclose(train[0], train[1])
    assert 0 < RRELU_LOWER < (RRELU_LOWER + RRELU_UPPER) / 2 < RRELU_UPPER < 1


def test_prelu_learns_one_slope_per_layer() -> None:
    _, variables, _ = build("prelu")
    slopes = [v for k, v in jax.tree_util.tree_leaves_with_path(variables) if "slope" in str(k)]
    assert len(slopes) == 2 and all(float(s) == pytest.approx(0.25) for s in slopes)


def test_layer_widths_follow_the_structure() -> None:
    _, variables, _ = build("relu", widths=(100, 75, 50, 25))
    kernels = [
        v.shape for k, v in jax.tree_util.tree_leaves_with_path(variables) if "kernel" in str(k)
    ]
    assert kernels == [(4, 100), (100, 75), (75, 50), (50, 25), (25, 3)]


def test_dropout_is_never_applied_to_the_output_layer() -> None:
    # With rate 0.99 nearly every hidden unit is dropped; an output-layer dropout would also
    # zero most outputs, so outputs equal to the bias alone show only hidden units were dropped.
    model, variables, x = build("relu", "standard", widths=(8,))
    out = model.apply(
        variables, x, jnp.float32(0.999999), train=True, rngs={"dropout": jax.random.PRNGKey(3)}
    )
    bias = variables["params"]["Dense_1"]["bias"]
    np.testing.assert_allclose(out, np.broadcast_to(bias, out.shape), atol=1e-5)


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_alpha_dropout_keeps_selu_statistics(rate: float) -> None:
    x = jax.nn.selu(jax.random.normal(jax.random.PRNGKey(0), (200_000,)))
    dropped = dropout(x, jnp.float32(rate), jax.random.PRNGKey(1), alpha=True)
    assert float(dropped.mean()) == pytest.approx(float(x.mean()), abs=0.02)
    assert float(dropped.std()) == pytest.approx(float(x.std()), abs=0.02)


def test_standard_dropout_drops_the_rate_and_rescales() -> None:
    x = jnp.ones(100_000)
    dropped = dropout(x, jnp.float32(0.3), jax.random.PRNGKey(0), alpha=False)
    assert float((dropped == 0).mean()) == pytest.approx(0.3, abs=0.01)
    assert float(dropped.mean()) == pytest.approx(1.0, abs=0.02)
