"""The padded MLP: its layout and parameters, its training-time noise, and dropout kept off the
output layer."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsweep.engine.activations import RRELU_LOWER, RRELU_UPPER
from jaxsweep.engine.model import MLP, Arch, Layout

X = jnp.linspace(-3, 3, 40).reshape(10, 4)


def build(activation: str, widths=(8, 4), depth: int = 2, width: int = 8, rate: float = 0.0):
    layout = Layout(depth, width, 3, (activation,), batch_norm=False, dropout=rate > 0)
    arch = Arch(
        widths=jnp.asarray(list(widths) + [0] * (depth - len(widths)), jnp.int32),
        depth=jnp.int32(len(widths)),
        activation=jnp.int32(0),
        initializer=jnp.int32(0),
        batch_norm=jnp.bool_(False),
        alpha_dropout=jnp.bool_(False),
    )
    model = MLP(layout)
    key = jax.random.PRNGKey(0)
    variables = model.init(key, X, arch, jnp.float32(rate), key, False)
    return model, variables, arch


def test_rrelu_is_random_in_training_and_uses_the_mean_slope_in_evaluation() -> None:
    model, variables, arch = build("rrelu")
    key = jax.random.PRNGKey(0)
    evaluate = [model.apply(variables, X, arch, 0.0, jax.random.PRNGKey(s), False) for s in (1, 2)]
    np.testing.assert_array_equal(evaluate[0], evaluate[1])
    train = [model.apply(variables, X, arch, 0.0, jax.random.PRNGKey(s), True) for s in (1, 2)]
    assert not np.allclose(train[0], train[1])
    assert not np.allclose(train[0], model.apply(variables, X, arch, 0.0, key, False))
    assert 0 < RRELU_LOWER < (RRELU_LOWER + RRELU_UPPER) / 2 < RRELU_UPPER < 1


def test_prelu_learns_one_slope_per_layer() -> None:
    _, variables, _ = build("prelu")
    slopes = [v for k, v in jax.tree_util.tree_leaves_with_path(variables) if "prelu" in str(k)]
    assert len(slopes) == 2 and all(float(s) == pytest.approx(0.25) for s in slopes)


@pytest.mark.parametrize(
    ("activations", "batch_norm"), [(("relu",), False), (("relu", "prelu"), True)]
)
def test_a_layouts_weights_count_every_parameter(
    activations: tuple[str, ...], batch_norm: bool
) -> None:
    """A CPU sizes programs by ``Layout.weights`` and blocks by the parameters themselves."""
    layout = Layout(3, 8, 3, activations, batch_norm=batch_norm, dropout=False)
    *_, arch = build("relu", depth=3)
    arch = arch._replace(widths=jnp.asarray([8, 8, 8], jnp.int32), depth=jnp.int32(3))
    key = jax.random.PRNGKey(0)
    params = MLP(layout).init(key, X, arch, jnp.float32(0.0), key, False)["params"]
    assert layout.weights(X.shape[1]) == sum(leaf.size for leaf in jax.tree.leaves(params))


def test_a_funnel_is_laid_out_in_the_corner_of_the_padded_kernels() -> None:
    _, variables, _ = build("relu", widths=(100, 75, 50, 25), depth=5, width=128)
    params = variables["params"]
    shapes = [params[f"kernel_{i}"].shape for i in range(5)] + [params["kernel_out"].shape]
    assert shapes == [(4, 128)] + [(128, 128)] * 4 + [(128, 3)]
    for i, (rows, cols) in enumerate([(4, 100), (100, 75), (75, 50), (50, 25)]):
        kernel = np.asarray(params[f"kernel_{i}"])
        assert np.count_nonzero(kernel) == rows * cols == np.count_nonzero(kernel[:rows, :cols])
    assert not np.asarray(params["kernel_4"]).any()  # past the depth: unused, zero


def test_dropout_is_never_applied_to_the_output_layer() -> None:
    # With a rate near 1 nearly every hidden unit is dropped; an output-layer dropout would also
    # zero most outputs, so outputs equal to the bias alone show only hidden units were dropped.
    model, variables, arch = build("relu", widths=(8,), depth=1, rate=0.999999)
    out = model.apply(variables, X, arch, jnp.float32(0.999999), jax.random.PRNGKey(3), True)
    bias = variables["params"]["bias_out"]
    np.testing.assert_allclose(out, np.broadcast_to(bias, out.shape), atol=1e-5)
