"""Where a population's members train: split over devices, and on a CPU in blocks.

Members never exchange data, so the member axis is split over local devices (host devices on
a CPU, one per core; or GPUs) without communication. On a CPU, a device then trains its share
block after block, each block through all of the call's epochs, instead of vmapping all of
them: a step of a vmapped 128-member share swept every member's weights, gradients and
optimizer moments through memory (about 18 MB for 2 x 64 Adam members), while a block's stay in
cache through its steps. Measured on digits, 10 epochs, 2 cores: 256 members of 2 x 64
trained 1.3 to 1.5 times as many trials a second in blocks (4 to 32 members ran alike), 1024
members 1.8 times, 256 of 5 x 100 1.5 times (blocks of 4 to 8 best, of 1 slowest). On another
machine, AVX2 with 512 KB of L2 a core, an epoch of 64 article-space members of 5 x 100 took 3.1 to
3.2 s at batch 2 in blocks of 4, 3.6 to 3.8 s in blocks of 2 and 4.4 to 4.6 s in blocks of 8
(batch 32: 0.80 to 0.95 s, 0.82 to 0.92 s, 1.06 s). A block is the same vmapped program, only
narrower: results agree to float rounding (tested). A block whose members have all stopped is
passed over: the last program of a cohort often holds a few trials in many slots, and a call of
3 article-space trials in 16 slots took 0.6 to 3.6 s instead of 1.0 to 4.7 s (by batch size).
A block also computes its hidden layers only as deep as its deepest member (its reach; see
``_by_block``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Hashable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxsweep.cache.programs import Stored

AXIS = "members"
# A block's weights, gradients and two optimizer moments at most: 16 members of 2 x 64 and 4 of
# 5 x 100, in the best-measured range of both machines (see above). Against blocks of 8 MiB, a
# 256-trial article-space sweep on the AVX2 machine ran 3.00 to 3.14 trials/s, not 2.58 to 2.80.
BLOCK_BYTES = 4 << 20
# A program's members a device, at most (see ``program_cap``): two blocks. Capped at one, the
# same sweep ran 1.10 trials/s on an empty compilation cache, not 1.49, and first reached 0.97
# accuracy after 150 s, not 55 s: more, smaller programs, each cohort's first trials later.
PROGRAM_BYTES = 8 << 20
SLOTS_PER_WEIGHT = 4  # the weight, its gradient and an optimizer's two moments (Adam's)
# A block's members draw their epoch's order of the training rows at once: sort keys, the sorted
# keys, the order and its batches, 4 bytes a row each. On a table of 10,000,000 rows blocks of 8
# members held about 1 GB of them a device; capped, a block holds at most this much (blocks of 2
# members there; tables below 1,600,000 rows keep blocks of 8 or more).
ORDER_BYTES = 256 << 20
ORDER_SLOTS = 4 * 4

# one member: (state, hyper, data, n_epochs, reach) -> (state, history); state.stopped is a
# flag, and a member that has stopped keeps its state (so a block of them can be passed over);
# reach is None or the greatest hyper.arch.depth computed together (see ``model.MLP``)
Run = Callable[..., tuple[Any, Any]]


def member_mesh(devices: int) -> Mesh:
    return Mesh(np.array(jax.local_devices()[:devices]), (AXIS,))


def describe_devices() -> str:
    """The local devices populations spread over, as a sweep's header names them: '2 CPU
    devices' (one a core), '1 GPU (NVIDIA H200)'."""
    devices = jax.local_devices()
    count, platform = len(devices), devices[0].platform
    if platform == "cpu":
        return f"{count} CPU device{'s' * (count > 1)}"
    return f"{count} {platform.upper()}{'s' * (count > 1)} ({devices[0].device_kind})"


def spread(tree: Any, devices: int) -> Any:
    """Place a population's arrays (from the host or a device) with their member axis split
    over ``devices`` local devices; shared data follows to each device."""
    if devices == 1:
        return jax.device_put(tree)
    return jax.device_put(tree, NamedSharding(member_mesh(devices), PartitionSpec(AXIS)))


_placed: dict[int, tuple[Any, Any]] = {}  # devices -> (data as given, data on each device)


def on_each_device(data: Any, devices: int) -> Any:
    """``data`` (arrays on the first device) on each of the first ``devices`` devices, placed
    once and reused by every program that spreads its members over them; the first device's
    arrays are reused, not copied. Passed as they were, a program over several devices had them
    copied to its devices at every call. One dataset is held at a time."""
    if devices == 1:
        return data
    held = _placed.get(devices)
    if held is not None and held[0] is data:
        return held[1]
    _placed.clear()
    mesh = member_mesh(devices)
    sharding = NamedSharding(mesh, PartitionSpec())

    def replicated(x: jax.Array) -> jax.Array:
        first = (
            x if x.devices() == {mesh.devices.flat[0]} else jax.device_put(x, mesh.devices.flat[0])
        )
        copies = [first, *(jax.device_put(first, d) for d in mesh.devices.flat[1:])]
        return jax.make_array_from_single_device_arrays(x.shape, sharding, copies)

    placed = jax.tree.map(replicated, data)
    _placed[devices] = (data, placed)
    return placed


def block_size(members: int, params: Any, block_bytes: int = BLOCK_BYTES, rows: int = 0) -> int:
    """Members per block: as many as fit ``block_bytes``, a divisor of ``members`` (a remainder
    block would compile a second copy of the program); all of them on accelerators, which want
    the widest program. With ``rows`` training rows, also as many as shuffle them within
    ``ORDER_BYTES`` (see there)."""
    if jax.default_backend() != "cpu":
        return members
    weights = sum(math.prod(leaf.shape) for leaf in jax.tree.leaves(params)) // max(members, 1)
    fit = members_within(weights, block_bytes)
    fit = min(fit, max(1, ORDER_BYTES // max(rows * ORDER_SLOTS, 1)))
    return max(d for d in range(1, min(fit, members) + 1) if members % d == 0)


def members_within(weights: int, budget: int) -> int:
    """How many members of ``weights`` weights each fit ``budget`` bytes (a block, a program)."""
    return max(1, budget // (max(weights, 1) * 4 * SLOTS_PER_WEIGHT))


def program_cap(weights: int) -> int | None:
    """On a CPU, the most members a program usefully holds: ``PROGRAM_BYTES`` a device. Blocks
    run one after another, so a wider program trains no more trials a second (2 x 64 members:
    154.6 trials/s at 32, 152.0 at 256, 152.7 at 1024), it only tells its trials later. None on
    accelerators, where a wider program is faster."""
    if jax.default_backend() != "cpu":
        return None
    return jax.local_device_count() * members_within(weights, PROGRAM_BYTES)


class PopulationRun:
    """``run`` for a population placed by ``spread``: ``(state, hyper, data, n_epochs)`` with a
    leading member axis on state and hyper; one program per device count and epoch count,
    compiled per shape. ``static`` names what ``run`` closes over (see
    ``cache.programs.Stored``)."""

    def __init__(self, run: Run, static: Hashable, block_bytes: int = BLOCK_BYTES) -> None:
        self.run, self.static, self.block_bytes = run, static, block_bytes
        self.programs: dict[tuple[int, int], Stored] = {}

    def __call__(self, state: Any, hyper: Any, data: Any, n_epochs: int) -> tuple[Any, Any]:
        devices = len(jax.tree.leaves(state)[0].sharding.device_set)
        if (devices, n_epochs) not in self.programs:
            self.programs[devices, n_epochs] = self._program(devices, n_epochs)
        return self.programs[devices, n_epochs](state, hyper, on_each_device(data, devices))

    def compilations(self) -> int:
        """Programs compiled so far, over every device count, epoch count and shape."""
        return sum(program.compilations() for program in self.programs.values())

    def _program(self, devices: int, n_epochs: int) -> Stored:
        static = (self.static, self.block_bytes, devices, n_epochs)
        local = functools.partial(self._local, n_epochs=n_epochs)
        if devices == 1:
            return Stored("run", local, static)
        split, shared = PartitionSpec(AXIS), PartitionSpec()

        def sharded(state: Any, hyper: Any, data: Any) -> tuple[Any, Any]:
            return jax.shard_map(
                local,
                mesh=member_mesh(devices),
                in_specs=(split, split, shared),
                out_specs=split,
                # Members never meet, so no value varies across devices in a way the
                # checker must track; optax's reduce-on-plateau mixes constants with
                # member values in lax.cond branches, which the checker refuses.
                check_vma=False,
            )(state, hyper, data)

        return Stored("run", sharded, static)

    def _local(self, state: Any, hyper: Any, data: Any, n_epochs: int) -> tuple[Any, Any]:
        """One device's members, on a CPU block after block (see ``_by_block``); on an
        accelerator, or a CPU's single block, all of them vmapped."""
        members = jax.tree.leaves(state)[0].shape[0]
        one = functools.partial(_run_member, self.run, data=data, n_epochs=n_epochs)
        rows = data.X_train.shape[0]
        block = block_size(members, state.params, self.block_bytes, rows)
        if block == members:
            return jax.vmap(one)((state, hyper))
        return _by_block(jax.vmap(one, in_axes=(0, None)), (state, hyper), block)


def _by_block(train: Callable[..., Any], members: tuple[Any, Any], block: int) -> tuple[Any, Any]:
    """``train(block's members, reach)`` over blocks of ``block`` members, one after another.
    ``reach`` is the block's greatest depth: its layers past it are not computed (see
    ``model.MLP``), and ``slots`` puts members of one depth side by side. A block whose members
    have all stopped is passed over: it keeps its state (a stopped member keeps it anyway), and
    its history holds NaN and zeros, as it trained nothing.

    Calls of one epoch (with a pruner or early stopping) take this path too. They once ran
    ``jax.lax.map`` over the blocks instead, with neither the pass-over nor the reach, which
    had made a pruned article-space sweep 3% to 11% slower. Since clipping takes optax's norm,
    blocks win there as well: a pruned, warm 128-trial article-space sweep on SQLite took 0.84x
    the time (median of 5 alternated pairs, 0.79x to 0.87x), and a one-epoch call of 64
    article-space members at batch 2 took 1.38 to 1.48 s against 1.77 to 1.91 s. The pruned
    fixed-space sweep and the quickstart ran alike either way (1.01x, 1.00x)."""
    blocks = jax.tree.map(lambda x: x.reshape(-1, block, *x.shape[1:]), members)
    # Jitted, so that both branches below share one trace. Traced twice (the idle branch's
    # shapes by eval_shape), the article space's programs took 5.1-6.2 s to trace, not
    # 2.8-3.7 s, and cold 256-trial article sweeps 177, 155 and 199 s, not 142, 150 and 188 s
    # (alternated pairs).
    train = jax.jit(train)

    def one(_: None, pair: tuple[Any, Any]) -> tuple[None, tuple[Any, Any]]:
        reach = jnp.max(pair[1].arch.depth)

        def trained(pair: tuple[Any, Any]) -> tuple[Any, Any]:
            return train(pair, reach)

        def untrained(pair: tuple[Any, Any]) -> tuple[Any, Any]:
            # The other branch's trace, reused (``train`` is jitted), for its shapes: the
            # result is unused, so XLA computes nothing of it.
            return pair[0], jax.tree.map(_nothing, trained(pair)[1])

        return None, jax.lax.cond(jnp.all(pair[0].stopped), untrained, trained, pair)

    _, by_block = jax.lax.scan(one, None, blocks)
    return jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), by_block)


def _nothing(like: jax.Array) -> jax.Array:
    fill = jnp.nan if jnp.issubdtype(like.dtype, jnp.floating) else 0
    return jnp.full(like.shape, fill, like.dtype)


def _run_member(
    run: Run, member: tuple[Any, Any], reach: jax.Array | None = None, *, data: Any, n_epochs: int
) -> tuple[Any, Any]:
    state, hyper = member
    return run(state, hyper, data, n_epochs, reach)
