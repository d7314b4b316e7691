"""The training rows' order for an epoch: a uniform random permutation, drawn in the program.

``jax.random.permutation`` sorts (random key, index) pairs. XLA's CPU backend sorts a tuple
through a generic comparator, and a single array of integers natively about five times faster;
for a population of 128 members on digits the tuple sort took 7% of a fixed-structure epoch. So
each row's index is packed into the low bits of its random key and one integer array is sorted.
The key keeps ``32 - bits(n)`` random bits; rows whose keys tie keep the order they came in, and
a further round on fresh keys (after the first, the incoming order is itself random) is drawn
until ties in every round are unlikely: the same rule and exponent as JAX's own shuffle.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from jaxsweep.engine import threefry

TIE_EXPONENT = 3.0  # as jax.random.permutation's


def rounds(n: int) -> int:
    """Sorting rounds for ``n`` rows: enough random bits that a pair of rows ties in every round
    with probability at most ``n ** -TIE_EXPONENT``."""
    random_bits = 32 - index_bits(n)
    return max(1, math.ceil(TIE_EXPONENT * math.log2(max(n, 2)) / random_bits))


def index_bits(n: int) -> int:
    return max(1, (n - 1).bit_length())


def permutation(key: jax.Array, n: int) -> jax.Array:
    """A uniformly random order of ``range(n)`` (int32), a function of ``key`` only."""
    low = jnp.uint32((1 << index_bits(n)) - 1)
    index = jnp.arange(n, dtype=jnp.uint32)
    order = jnp.arange(n, dtype=jnp.int32)
    for round_key in threefry.split(key, rounds(n)):
        keys = threefry.bits(round_key, n) & ~low
        places = jnp.sort(keys | index) & low
        order = order[places.astype(jnp.int32)]
    return order
