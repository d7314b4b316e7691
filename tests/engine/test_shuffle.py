"""The epoch's row order: a permutation, a function of its key, and uniform."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsweep.engine import shuffle


@pytest.mark.parametrize("n", [1, 2, 3, 1079, 5000])
def test_each_order_holds_every_row_once(n: int) -> None:
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    orders = np.asarray(jax.vmap(lambda k: shuffle.permutation(k, n))(keys))
    assert orders.dtype == np.int32
    assert (np.sort(orders, axis=1) == np.arange(n)).all()
    if n > 3:  # four keys, four different orders
        assert len({tuple(order) for order in orders}) == 4


def reference_permutation(key: jax.Array, n: int) -> np.ndarray:
    """The order shuffle.permutation documents, from JAX's public random functions and NumPy's
    stable sort: each round sorts the rows by a random word with its low bits (as many as an
    index needs) cleared, ties keeping the order they came in, for enough rounds that a pair of
    rows ties in all of them with probability at most n ** -3 (jax.random.permutation's rule)."""
    index_bits = max(1, (n - 1).bit_length())
    rounds = max(1, math.ceil(3 * math.log2(max(n, 2)) / (32 - index_bits)))
    cleared = ~np.uint32((1 << index_bits) - 1)
    order = np.arange(n)
    for round_key in jax.random.split(key, rounds):
        words = np.asarray(jax.random.bits(round_key, (n,), jnp.uint32))
        order = order[np.argsort(words & cleared, kind="stable")]
    return order


@pytest.mark.parametrize("n", [1, 2, 100, 1079, 5000])
def test_the_order_is_the_documented_draw_bit_for_bit(n: int) -> None:
    keys = jax.random.split(jax.random.PRNGKey(7), 3)
    # as a program draws it: compiled, one order a member
    orders = jax.jit(jax.vmap(lambda k: shuffle.permutation(k, n)))(keys)
    for key, order in zip(keys, np.asarray(orders), strict=True):
        np.testing.assert_array_equal(order, reference_permutation(key, n))


def test_rounds_follow_the_tie_rule() -> None:
    assert shuffle.rounds(1079) == 2  # 11 index bits, 21 random: 3 x 10.1 > 21
    assert shuffle.rounds(100) == 1  # 7 index bits, 25 random: 3 x 6.6 < 25
    assert shuffle.rounds(60_000) == 3  # 16 and 16: 3 x 15.9 > 2 x 16


def test_every_row_is_equally_likely_in_every_place() -> None:
    """Over 4,000 orders of 8 rows, each (row, place) count is near 500 and each row precedes
    each other about half the time."""
    n, draws = 8, 4000
    keys = jax.random.split(jax.random.PRNGKey(3), draws)
    orders = np.asarray(jax.vmap(lambda k: shuffle.permutation(k, n))(keys))
    counts = np.zeros((n, n))
    for place in range(n):
        counts[:, place] = np.bincount(orders[:, place], minlength=n)
    expected = draws / n
    chi_square = ((counts - expected) ** 2 / expected).sum()
    assert chi_square < 95  # 49 degrees of freedom: 95 is past the 0.9999 quantile
    places = np.argsort(orders, axis=1)
    before = (places[:, :, None] < places[:, None, :]).mean(axis=0)
    off_diagonal = before[~np.eye(n, dtype=bool)]
    assert np.abs(off_diagonal - 0.5).max() < 0.05
