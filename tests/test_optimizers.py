"""The mixed optimizer: each member's optimizer computed from two shared moment buffers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxsweep.optimizers import KINDS, mixed, single

STEPS, RATE, MOMENTUM = 12, 0.05, 0.9


def trajectory(tx: optax.GradientTransformation, grads: jax.Array) -> np.ndarray:
    """The parameters after each update, from a start of ones, fed ``grads`` step by step
    (varying in sign and scale, so each moment and bias correction matters)."""
    params = {"w": jnp.ones(grads.shape[1:]), "b": jnp.ones(3)}
    state, seen = tx.init(params), []
    for g in grads:
        updates, state = tx.update({"w": g, "b": g[0, :3]}, state, params)
        params = optax.apply_updates(params, updates)
        seen.append(np.asarray(params["w"]))
    return np.stack(seen)


@pytest.mark.parametrize("name", KINDS)
def test_mixed_updates_as_the_optax_optimizer_of_that_name(name: str) -> None:
    grads = jax.random.normal(jax.random.PRNGKey(1), (STEPS, 4, 5)) * jnp.geomspace(
        1e-3, 10.0, STEPS
    ).reshape(-1, 1, 1)
    momentum = jnp.float32(MOMENTUM)
    index = jnp.asarray(KINDS.index(name))
    expected = trajectory(single(name, RATE, momentum), grads)
    got = trajectory(mixed(KINDS, index, RATE, momentum), grads)
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-7)
    assert not np.allclose(expected[-1], 1.0)  # it did move


def test_mixed_keeps_two_moment_buffers_whatever_the_choices() -> None:
    params = {"w": jnp.ones((64, 64))}
    state = mixed(KINDS, jnp.asarray(0), RATE, jnp.float32(MOMENTUM)).init(params)
    buffers = [leaf for leaf in jax.tree.leaves(state) if leaf.shape == (64, 64)]
    assert len(buffers) == 2
