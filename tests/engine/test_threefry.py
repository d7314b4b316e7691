"""The written-out threefry functions return exactly what JAX's own return."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.extend.random import threefry2x32_p

from jaxsweep.engine import threefry

KEY = jax.random.PRNGKey(123)


def test_the_written_out_hash_is_jax_threefry() -> None:
    counters = jnp.arange(1000, dtype=jnp.uint32), jnp.arange(1000, dtype=jnp.uint32) * 7919
    ours = jax.jit(threefry.hash2x32)(KEY, *counters)
    for a, b in zip(ours, threefry2x32_p.bind(*jax.random.key_data(KEY), *counters), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("n", [1, 3, 1437])
def test_split_and_bits_are_jax_randoms(n: int) -> None:
    split = jax.jit(threefry.split, static_argnums=1)
    bits = jax.jit(threefry.bits, static_argnums=1)
    np.testing.assert_array_equal(split(KEY, n), jax.random.split(KEY, n))
    np.testing.assert_array_equal(bits(KEY, n), jax.random.bits(KEY, (n,), jnp.uint32))


def test_split_keys_under_vmap_are_jax_randoms() -> None:
    keys = jax.random.split(KEY, 4)
    ours = jax.jit(jax.vmap(lambda k: threefry.split(k, 3)))(keys)
    np.testing.assert_array_equal(ours, jax.vmap(lambda k: jax.random.split(k, 3))(keys))
