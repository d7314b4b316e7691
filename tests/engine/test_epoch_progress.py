"""A long epoch reports how far it has got, from inside the compiled program."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxsweep.engine import epoch_progress


def test_a_reporting_scan_tells_its_progress_and_computes_the_same() -> None:
    def step(total: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        return total + x, total * x

    for steps in (250, 300):  # whole segments, and a rest after them
        members = jnp.stack([jnp.arange(steps) / steps, jnp.ones(steps)])  # vmapped, as members
        plain = jax.vmap(lambda xs: jax.lax.scan(step, 0.0, xs))(members)
        seen = jax.jit(jax.vmap(lambda xs, s=steps: epoch_progress.scan(step, 0.0, xs, s)))(members)
        jax.effects_barrier()
        assert epoch_progress.describe() == "epoch 100%"
        for a, b in zip(jax.tree.leaves(plain), jax.tree.leaves(seen), strict=True):
            np.testing.assert_array_equal(a, b)
