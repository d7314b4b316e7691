"""The activations and dropout of a member whose choice is an index: each computes what its
reference does."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsweep.engine.activations import RRELU_LOWER, RRELU_UPPER, activate, dropout
from jaxsweep.engine.draws import unit_uniforms
from jaxsweep.engine.vocabulary import ACTIVATIONS


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
