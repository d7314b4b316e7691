"""The mixed optimizer: each member's optimizer computed from two shared moment buffers."""

from __future__ import annotations

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxsweep.engine.optimizers import KINDS, clip_by_global_norm, mixed, single

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


def test_mixed_costs_one_division_and_one_root_a_weight() -> None:
    """The weight-sized work of an update does not grow with the optimizers a program holds:
    each member's optimizer is one formula with per-member scalars, not every optimizer's
    update computed and one selected."""
    params = {"w": jnp.ones((64, 64))}
    tx = mixed(KINDS, jnp.asarray(1), RATE, jnp.float32(MOMENTUM))
    jaxpr = jax.make_jaxpr(tx.update)(params, tx.init(params), params)

    def weight_sized(primitive: str) -> int:
        equations = [e for e in _equations(jaxpr.jaxpr) if e.primitive.name == primitive]
        return sum(e.outvars[0].aval.shape == (64, 64) for e in equations)

    assert weight_sized("div") == 1
    assert weight_sized("sqrt") + weight_sized("rsqrt") == 1


def _equations(jaxpr: jax.extend.core.Jaxpr) -> list[jax.extend.core.JaxprEqn]:
    """Every equation, those of nested calls (jit, custom rules) included."""
    found = []
    for equation in jaxpr.eqns:
        found.append(equation)
        for value in equation.params.values():
            inner = getattr(value, "jaxpr", value)
            if isinstance(inner, jax.extend.core.Jaxpr):
                found.extend(_equations(inner))
    return found


@pytest.mark.parametrize("max_norm", [0.5, 3.0, np.inf])
def test_clipping_scales_as_optax_clips(max_norm: float) -> None:
    keys = jax.random.split(jax.random.PRNGKey(2), 3)
    updates = {
        "kernel": jax.random.normal(keys[0], (7, 5)),
        "bias": jax.random.normal(keys[1], (5,)),
        "slope": jax.random.normal(keys[2], ()),
    }
    expected, _ = optax.clip_by_global_norm(max_norm).update(updates, optax.EmptyState())
    got, _ = clip_by_global_norm(jnp.float32(max_norm)).update(updates, optax.EmptyState())
    for name in updates:
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-6, err_msg=name)
    clipped = optax.tree.norm(got)
    assert float(clipped) == pytest.approx(min(max_norm, float(optax.tree.norm(updates))))
    if max_norm == np.inf:  # not clipped: untouched, bit for bit
        for name in updates:
            np.testing.assert_array_equal(got[name], updates[name])
