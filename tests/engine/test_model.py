"""The padded MLP: layout, random draws that do not depend on padding, and dropout."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsweep.engine.activations import RRELU_LOWER, RRELU_UPPER, activate, dropout
from jaxsweep.engine.draws import (
    INITIALIZERS,
    padded_kernel,
    truncated_normal_from_bits,
    uniform_from_bits,
    unit_uniforms,
)
from jaxsweep.engine.model import MLP, Arch, Layout
from jaxsweep.engine.vocabulary import ACTIVATIONS

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


@pytest.mark.parametrize("name", list(INITIALIZERS))
def test_kernels_follow_jax_variance_scaling(name: str) -> None:
    fan_in, fan_out = 300, 200
    kernel = padded_kernel(
        jax.random.PRNGKey(0),
        0,
        (fan_in, fan_out),
        jnp.asarray(fan_in),
        jnp.asarray(fan_out),
        jnp.int32(list(INITIALIZERS).index(name)),
    )
    reference = getattr(jax.nn.initializers, name)()(jax.random.PRNGKey(1), (fan_in, fan_out))
    assert float(kernel.std()) == pytest.approx(float(reference.std()), rel=0.03)
    assert float(jnp.abs(kernel).max()) <= float(jnp.abs(reference).max()) * 1.05


@pytest.mark.parametrize("name", ["he_normal", "glorot_uniform"])
def test_a_kernels_corner_is_the_same_at_any_padding(name: str) -> None:
    def kernel(shape: tuple[int, int], layer: int = 1) -> np.ndarray:
        index = jnp.int32(list(INITIALIZERS).index(name))
        fans = jnp.asarray(10), jnp.asarray(7)
        return np.asarray(padded_kernel(jax.random.PRNGKey(4), layer, shape, *fans, index))

    alone, padded = kernel((10, 7)), kernel((64, 100))
    np.testing.assert_array_equal(padded[:10, :7], alone)
    assert not padded[10:].any() and not padded[:, 7:].any()
    assert not np.array_equal(kernel((10, 7), layer=2), alone)  # each layer draws its own


def test_kernel_draws_turn_random_words_into_numbers_as_jax_random_does() -> None:
    # Both jitted, as in a program. They agree bit for bit with this XLA; the tolerance leaves
    # room for another XLA to fuse a multiply-add in one and not the other (op by op, rounding
    # twice, the normal draws moved by up to 7e-7), and still catches a wrong formula.
    key = jax.random.PRNGKey(5)

    @jax.jit
    def ours(key: jax.Array) -> tuple[jax.Array, jax.Array]:
        bits = jax.random.bits(key, (1000,), jnp.uint32)
        flat = uniform_from_bits(bits, jnp.float32(-1.0), jnp.float32(1.0))
        return flat, truncated_normal_from_bits(bits)

    @jax.jit
    def jax_own(key: jax.Array) -> tuple[jax.Array, jax.Array]:
        flat = jax.random.uniform(key, (1000,), minval=-1.0, maxval=1.0)
        return flat, jax.random.truncated_normal(key, -2.0, 2.0, (1000,))

    for a, b in zip(ours(key), jax_own(key), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-6)


def test_dropout_is_never_applied_to_the_output_layer() -> None:
    # With a rate near 1 nearly every hidden unit is dropped; an output-layer dropout would also
    # zero most outputs, so outputs equal to the bias alone show only hidden units were dropped.
    model, variables, arch = build("relu", widths=(8,), depth=1, rate=0.999999)
    out = model.apply(variables, X, arch, jnp.float32(0.999999), jax.random.PRNGKey(3), True)
    bias = variables["params"]["bias_out"]
    np.testing.assert_allclose(out, np.broadcast_to(bias, out.shape), atol=1e-5)


def uniform(seed: int, x: jax.Array) -> jax.Array:
    return unit_uniforms(jax.random.PRNGKey(seed), 1, *x.shape)[0][0]


@pytest.mark.parametrize("rate", [0.1, 0.3, 0.5])
def test_alpha_dropout_keeps_selu_statistics(rate: float) -> None:
    x = jax.nn.selu(jax.random.normal(jax.random.PRNGKey(0), (400, 500)))
    dropped = dropout(x, jnp.float32(rate), uniform(1, x), jnp.bool_(True))
    assert float(dropped.mean()) == pytest.approx(float(x.mean()), abs=0.02)
    assert float(dropped.std()) == pytest.approx(float(x.std()), abs=0.02)


def test_standard_dropout_drops_the_rate_and_rescales() -> None:
    x = jnp.ones((400, 250))
    dropped = dropout(x, jnp.float32(0.3), uniform(0, x), jnp.bool_(False))
    assert float((dropped == 0).mean()) == pytest.approx(0.3, abs=0.01)
    assert float(dropped.mean()) == pytest.approx(1.0, abs=0.02)


def test_a_zero_rate_leaves_the_activations_exactly() -> None:
    x = jax.random.normal(jax.random.PRNGKey(0), (16, 32))
    for alpha in (False, True):
        kept = dropout(x, jnp.float32(0.0), uniform(1, x), jnp.bool_(alpha))
        np.testing.assert_array_equal(kept, x)


def test_training_noise_depends_on_layer_row_and_unit_only() -> None:
    key = jax.random.PRNGKey(7)
    small, padded = unit_uniforms(key, 2, 4, 10), unit_uniforms(key, 5, 32, 100)
    for few, many in zip(small, padded, strict=True):
        np.testing.assert_array_equal(few, many[:2, :4, :10])  # the same at any padding
        assert float(many.min()) >= 0.0 and float(many.max()) < 1.0
        assert float(many.mean()) == pytest.approx(0.5, abs=0.02)
        assert float(many.std()) == pytest.approx(12**-0.5, abs=0.01)
    first, second = padded
    for a, b in [(first, second), (first[0], first[1])]:  # the two draws; two layers
        assert abs(float(jnp.corrcoef(a.ravel(), b.ravel())[0, 1])) < 0.05  # independent
    assert not np.array_equal(first, unit_uniforms(jax.random.PRNGKey(8), 5, 32, 100)[0])


REFERENCES = {
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "leaky_relu": lambda z: jax.nn.leaky_relu(z, 0.01),
    "elu": jax.nn.elu,
    "selu": jax.nn.selu,
    "gelu": jax.nn.gelu,  # its tanh form, jax.nn's default
    "prelu": lambda z: jnp.where(z >= 0, z, 0.3 * z),
}


@pytest.mark.parametrize("names", [ACTIVATIONS, ("tanh", "selu"), ("gelu",)])
def test_each_activation_in_a_mixed_program_is_the_one_of_its_name(names: tuple[str, ...]) -> None:
    z = jnp.linspace(-30.0, 30.0, 6001)  # 0 excluded: there the slopes' conventions differ
    z = z[z != 0]
    for i, name in enumerate(names):

        def of(v, i=i):
            return activate(v, names, jnp.int32(i), jnp.float32(0.3), None)

        if name == "rrelu":  # evaluation: the mean slope
            mean = (RRELU_LOWER + RRELU_UPPER) / 2
            np.testing.assert_allclose(of(z), jnp.where(z > 0, z, mean * z), rtol=1e-6)
            continue
        # atol: below about -4.5, jax.nn.gelu's tanh rounds to -1, and its value and slope to
        # within a few 1e-6 of 0 (its slope up to 9.3e-6 with XLA's legacy emitters), where
        # z sigmoid(2u) keeps them
        reference = REFERENCES[name]
        np.testing.assert_allclose(of(z), reference(z), rtol=1e-5, atol=5e-6)
        gradient, expected = (jax.vmap(jax.grad(f))(z) for f in (of, reference))
        np.testing.assert_allclose(gradient, expected, rtol=1e-5, atol=1e-5)


def test_rrelu_draws_its_slope_between_its_bounds_in_training() -> None:
    z = -jnp.ones((64, 100))
    slopes = unit_uniforms(jax.random.PRNGKey(0), 1, *z.shape)[1][0]
    out = activate(z, ("relu", "rrelu"), jnp.int32(1), None, slopes)
    assert float(-out.max()) >= RRELU_LOWER and float(-out.min()) <= RRELU_UPPER
    assert float(-out.mean()) == pytest.approx((RRELU_LOWER + RRELU_UPPER) / 2, abs=0.01)
