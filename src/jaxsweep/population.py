"""From member configs to populations: the cohort key, per-member arrays, padded sizes."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxsweep.data import Dataset
from jaxsweep.losses import target_scaling
from jaxsweep.model import Structure
from jaxsweep.space import MemberConfig
from jaxsweep.train import Cohort, Data, Hyper


@dataclass(frozen=True)
class Member:
    """One candidate: its config and the trial number that seeds it."""

    number: int
    config: MemberConfig


def cohort_of(config: MemberConfig, task: str) -> Cohort:
    return Cohort(
        Structure.of(config.model),
        config.train.schedule,
        config.train.optimizer,
        config.train.nesterov,
        config.train.batch_size,
        config.train.loss,
        config.model.output_activation,
        task,
    )


def hyper_of(config: MemberConfig, y_train: np.ndarray, task: str) -> Hyper:
    shift, scale = (0.0, 1.0)
    if task == "regression":
        shift, scale = target_scaling(y_train, config.model.output_activation)
    clip = config.train.clip_norm
    return Hyper(
        learning_rate=config.train.learning_rate,
        momentum=config.train.momentum or 0.0,
        dropout=config.model.dropout,
        clip_norm=math.inf if clip is None else clip,
        target_shift=shift,
        target_scale=scale,
    )


def group_by_cohort(members: list[Member], task: str) -> dict[Cohort, list[Member]]:
    """Members that can share one compiled program, in the order they were proposed."""
    groups: dict[Cohort, list[Member]] = defaultdict(list)
    for member in members:
        groups[cohort_of(member.config, task)].append(member)
    return dict(groups)


def padded_size(n: int, devices: int = 1) -> int:
    """Populations are padded to a power of two (so that few sizes are ever compiled), at least
    one member per device and a multiple of the device count."""
    size = 1 << max(0, max(n, devices) - 1).bit_length()
    return -(-size // devices) * devices


MIN_MEMBERS_PER_DEVICE = 8  # below this, splitting costs more in dispatch than it saves


def devices_for(members: int) -> int:
    """How many local devices a population of ``members`` is split over."""
    count = jax.local_device_count()
    return count if members >= MIN_MEMBERS_PER_DEVICE * count else 1


def spread(tree: Any, devices: int) -> Any:
    """Place a population's arrays with their member axis split over ``devices`` local devices
    (host devices on CPU, one per core; or GPUs). Members never exchange data, so XLA partitions
    the vmapped program without communication; shared data follows to each device."""
    if devices == 1:
        return tree
    mesh = jax.sharding.Mesh(np.array(jax.local_devices()[:devices]), ("members",))
    return jax.device_put(
        tree, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("members"))
    )


def stack_hypers(hypers: list[Hyper]) -> Hyper:
    return Hyper(
        *(jnp.asarray([getattr(h, f) for h in hypers], jnp.float32) for f in Hyper._fields)
    )


def member_keys(seed: int, numbers: list[int]) -> jax.Array:
    """Each member's key depends on the sweep seed and its trial number only, so a member
    trains the same whatever population it lands in."""
    base = jax.random.PRNGKey(seed)
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(base, jnp.asarray(numbers, jnp.uint32))


def device_data(dataset: Dataset) -> Data:
    """The training and validation splits as device arrays, shared by every member."""
    return Data(
        *(jnp.asarray(a) for a in (dataset.train.X, dataset.train.y, dataset.val.X, dataset.val.y))
    )
