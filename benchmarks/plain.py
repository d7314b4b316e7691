"""The floor under the fixed-space figures: the scaling table's population (2 x 64 ReLU, Adam,
batch 32, softmax cross-entropy on digits) trained by the plainest JAX program that does the
same arithmetic. It has no masks, no per-member choices, no history, no divergence or stopping
checks; it shuffles the rows each epoch and evaluates once an epoch, as a sweep does. It is split
over devices and, on a CPU, trained in blocks, as jaxsweep places a population (``placement``).

With one row order for all members, the members' first layers are one product for the whole
block: its trials/s then bounds what jaxsweep's general program can reach on the machine, and
the gap between the two is what generality and a trial's own order cost. With an order for
each member, as jaxsweep trains (a trial then trains alike in any slot), it is the like-for-like
peer: the gap is what generality alone costs. Its keys and orders are drawn as jaxsweep draws
them (``engine.train``): each epoch splits its key in three with the written-out threefry, the order
is ``shuffle.permutation`` and the steps' noise keys are split at once, so the share measures the
training, not a slower shuffle (``jax.random.permutation`` sorts (key, index) pairs, and JAX's
threefry compiles to a loop on a CPU)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.sharding import NamedSharding, PartitionSpec

from jaxsweep.data.dataset import Dataset
from jaxsweep.engine import shuffle, threefry
from jaxsweep.engine.placement import AXIS, block_size, member_mesh

Params = list[tuple[jax.Array, jax.Array]]


def init(key: jax.Array, dims: list[int]) -> Params:
    keys = jax.random.split(key, len(dims) - 1)
    he = jax.nn.initializers.he_normal()
    return [
        (he(k, (a, b)), jnp.zeros(b))
        for k, (a, b) in zip(keys, itertools.pairwise(dims), strict=True)
    ]


def forward(params: Params, x: jax.Array) -> jax.Array:
    for kernel, bias in params[:-1]:
        x = jax.nn.relu(x @ kernel + bias)
    kernel, bias = params[-1]
    return x @ kernel + bias


def loss(params: Params, x: jax.Array, y: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(forward(params, x), y).mean()


def train_member(
    params: Params,
    rate: jax.Array,
    order: jax.Array,
    data: tuple[jax.Array, ...],
    epochs: int,
    batch: int,
) -> jax.Array:
    """One member's epochs, its rows in the orders that seed ``order`` draws; its validation
    accuracy after each."""
    x, y, x_val, y_val = data
    steps = x.shape[0] // batch
    adam = optax.adam(rate)

    def step(carry: tuple[Params, Any], xy: tuple[jax.Array, jax.Array]) -> tuple[Any, None]:
        params, moments = carry
        updates, moments = adam.update(jax.grad(loss)(params, *xy), moments, params)
        return (optax.apply_updates(params, updates), moments), None

    def step_with_noise(carry: tuple[Params, Any], batch: tuple[jax.Array, ...]) -> Any:
        xb, yb, _noise = batch  # the fixed space draws no noise: jaxsweep's key goes unused too
        return step(carry, (xb, yb))

    def epoch(carry: tuple[Params, Any, jax.Array], _: None) -> tuple[Any, jax.Array]:
        params, moments, key = carry
        key, order_key, noise_key = threefry.split(key, 3)  # as engine.train's train_epoch
        rows = shuffle.permutation(order_key, x.shape[0])[: steps * batch].reshape(steps, batch)
        noise = threefry.split(noise_key, steps)
        (params, moments), _ = jax.lax.scan(
            step_with_noise, (params, moments), (x[rows], y[rows], noise)
        )
        accuracy = jnp.mean(jnp.argmax(forward(params, x_val), -1) == y_val)
        return (params, moments, key), accuracy

    start = (params, adam.init(params), jax.random.PRNGKey(order))
    _, accuracies = jax.lax.scan(epoch, start, None, length=epochs)
    return accuracies


def population(
    params: Params,
    rates: jax.Array,
    orders: jax.Array,
    data: tuple[jax.Array, ...],
    epochs: int,
    batch: int,
    shared: bool,
) -> Any:
    """A device's members: vmapped, or in blocks one after another as ``placement`` trains
    them on a CPU. ``shared``: every member takes the device's first order, unbatched, so that
    their batches are the same rows and their first layers one product."""

    def one(params: Params, rate: jax.Array, order: jax.Array, data: Any) -> jax.Array:
        return train_member(params, rate, orders[0] if shared else order, data, epochs, batch)

    train = jax.vmap(one, (0, 0, 0, None))
    members = (params, rates, orders)
    block = block_size(rates.shape[0], params)
    if block == rates.shape[0]:
        return train(*members, data)
    blocks = jax.tree.map(lambda a: a.reshape(-1, block, *a.shape[1:]), members)
    return jax.lax.map(lambda block: train(*block, data), blocks).reshape(-1, epochs)


def program(
    dataset: Dataset, members: int, devices: int, epochs: int, shared: bool = True
) -> Callable[[], Any]:
    """``members`` trained for ``epochs`` over ``devices``, as a call with its inputs placed;
    ``shared``: one row order for all members (see ``population``), else one each."""
    mesh = member_mesh(devices)
    local = functools.partial(population, epochs=epochs, batch=32, shared=shared)
    split, shared_spec = PartitionSpec(AXIS), PartitionSpec()
    sharded = jax.shard_map(
        local,
        mesh=mesh,
        in_specs=(split, split, split, shared_spec),
        out_specs=split,
        check_vma=False,  # as placement's: members never meet
    )
    data = tuple(jnp.asarray(a) for part in (dataset.train, dataset.val) for a in (part.X, part.y))
    dims = [dataset.train.X.shape[1], 64, 64, dataset.output_dim]
    params = jax.vmap(lambda i: init(jax.random.key(i), dims))(jnp.arange(members))
    rates = jnp.geomspace(1e-4, 1e-2, members)
    orders = jnp.arange(members)
    placed = jax.device_put((params, rates, orders), NamedSharding(mesh, split))
    return functools.partial(jax.jit(sharded), *placed, data)
