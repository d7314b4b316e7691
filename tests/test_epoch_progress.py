"""A long epoch reports how far it has got, from inside the compiled scan."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxsweep import epoch_progress


def test_a_reporting_scan_tells_its_progress_and_computes_the_same() -> None:
    def step(total: jax.Array, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        return total + x, total

    steps = 250
    xs = jnp.arange(steps, dtype=jnp.float32)
    plain = jax.jit(lambda xs: jax.lax.scan(step, 0.0, xs))(xs)
    reporting = epoch_progress.reporting(step, steps)
    members = jnp.stack([xs, 2 * xs])  # vmapped, as members train
    seen = jax.jit(
        jax.vmap(lambda xs: jax.lax.scan(reporting, 0.0, epoch_progress.indexed(xs, steps)))
    )(members)
    jax.effects_barrier()
    assert epoch_progress.describe() == "epoch 100%"
    assert float(seen[0][0]) == float(plain[0]) and float(seen[0][1]) == 2 * float(plain[0])
