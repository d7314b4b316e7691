"""Random draws by counter: kernels and training noise that do not depend on padding, turned
into numbers as jax.random turns them."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsweep.engine.draws import (
    INITIALIZERS,
    padded_kernel,
    truncated_normal_from_bits,
    uniform_from_bits,
    unit_uniforms,
)


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
