"""From member configs to populations: the cohort key, per-member arrays, padded sizes."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import jax
import numpy as np

from jaxsweep.data.dataset import Dataset, Split
from jaxsweep.engine import schedules
from jaxsweep.engine.cohort import Cohort, Data, Hyper
from jaxsweep.engine.draws import INITIALIZERS
from jaxsweep.engine.losses import target_scaling
from jaxsweep.engine.model import Arch, Layout
from jaxsweep.engine.optimizers import KINDS
from jaxsweep.engine.placement import spread
from jaxsweep.engine.vocabulary import ACTIVATIONS, LOSSES, OUTPUTS, REGRESSION_LOSSES
from jaxsweep.search.member_config import MemberConfig
from jaxsweep.search.space import SearchSpace


@dataclass(frozen=True)
class Member:
    """One candidate: its config and the trial number that seeds it."""

    number: int
    config: MemberConfig


@dataclass(frozen=True)
class Palette:
    """The discrete choices a population's program must hold: a search space's, or those of
    the members at hand. Members index into it, so one program serves every combination."""

    activations: tuple[str, ...]
    optimizers: tuple[str, ...]  # sgd_nesterov stands for SGD with Nesterov momentum
    batch_norm: bool
    dropout: bool
    depth: int  # the most hidden layers and units a member may have: the padded size
    width: int
    shallowest: int  # the fewest hidden layers a member may have (0: no members, no bound)
    clipping: bool  # some member may clip its gradients
    scheduled: bool  # some member may have an LR schedule
    losses: tuple[str, ...] = ()  # a regression space's losses and output activations
    outputs: tuple[str, ...] = ()

    @classmethod
    def of(cls, configs: list[MemberConfig]) -> Palette:
        return cls(
            _ordered({c.model.activation for c in configs}, ACTIVATIONS),
            _ordered({optimizer_name(c) for c in configs}, KINDS),
            any(c.model.batch_norm for c in configs),
            any(c.model.dropout > 0 for c in configs),
            max(len(c.model.widths) for c in configs),
            max(max(c.model.widths) for c in configs),
            min(len(c.model.widths) for c in configs),
            any(c.train.clip_norm is not None for c in configs),
            any(c.train.schedule.kind != "constant" for c in configs),
            _ordered({c.train.loss for c in configs}, LOSSES),
            _ordered({c.model.output_activation for c in configs}, OUTPUTS),
        )

    @classmethod
    def of_space(cls, space: SearchSpace) -> Palette:
        optimizers = set(map(str, space.choices("optimizer")))
        if "sgd" in optimizers and True in space.choices("nesterov"):
            optimizers |= {"sgd_nesterov"}
            if False not in space.choices("nesterov"):
                optimizers -= {"sgd"}
        return cls(
            _ordered(set(map(str, space.choices("activation"))), ACTIVATIONS),
            _ordered(optimizers, KINDS),
            True in space.choices("batch_norm"),
            True in space.choices("use_dropout") and space.highest("dropout") > 0,
            int(space.highest("n_layers")),
            int(space.highest("units")),  # a funnel only narrows
            int(space.lowest("n_layers")),
            True in space.choices("clipping") and math.isfinite(space.highest("clip_norm")),
            any(kind != "constant" for kind in space.choices("schedule")),
            # "auto" is the regression default (a classification member has its task's own)
            _ordered({str(c) for c in space.choices("loss")} | {"mse"}, REGRESSION_LOSSES),
            _ordered({str(c) for c in space.choices("output_activation")} | {"linear"}, OUTPUTS),
        )

    @classmethod
    def schedules_only(cls) -> Palette:
        """Adds schedules to a member's own choices, and nothing else: with it, members that
        differ in schedule only share one program at their own size."""
        return cls(
            activations=(),
            optimizers=(),
            batch_norm=False,
            dropout=False,
            depth=0,
            width=0,
            shallowest=0,
            clipping=False,
            scheduled=True,
        )

    def __or__(self, other: Palette) -> Palette:
        return Palette(
            _ordered({*self.activations, *other.activations}, ACTIVATIONS),
            _ordered({*self.optimizers, *other.optimizers}, KINDS),
            self.batch_norm or other.batch_norm,
            self.dropout or other.dropout,
            max(self.depth, other.depth),
            max(self.width, other.width),
            min((p.shallowest for p in (self, other) if p.shallowest), default=0),
            self.clipping or other.clipping,
            self.scheduled or other.scheduled,
            _ordered({*self.losses, *other.losses}, LOSSES),
            _ordered({*self.outputs, *other.outputs}, OUTPUTS),
        )


def _ordered(names: set[str], order: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in order if name in names)


def optimizer_name(config: MemberConfig) -> str:
    return "sgd_nesterov" if config.train.nesterov else config.train.optimizer


def cohort_of(config: MemberConfig, task: str, palette: Palette | None = None) -> Cohort:
    """The member's program: ``palette`` (with its own choices added) at its padded size."""
    palette = Palette.of([config]) | palette if palette else Palette.of([config])
    model = config.model
    # Every member is laid out at the space's deepest and widest network. A second, narrow
    # size (widths up to 32) doubled the programs on the article's space (10 cohorts for its
    # 5 batch sizes, not 5): a 256-trial sweep took 136 s with 59 s of compiling, against
    # 115 s with 28 s at one size, where the extra padding cost 11 s of training. On a warm
    # compilation cache the narrow size would win: a step's cost grows with the padded weights.
    layout = Layout(
        palette.depth,
        palette.width,
        model.output_dim,
        palette.activations,
        palette.batch_norm,
        palette.dropout,
        palette.shallowest,
    )
    own = Palette.of([config])  # classification: its task's loss and output alone
    mixed = palette if task == "regression" else own
    return Cohort(
        layout,
        palette.optimizers,
        palette.scheduled,
        config.train.batch_size,
        palette.clipping,
        mixed.losses,
        mixed.outputs,
        task,
    )


def arch_of(config: MemberConfig, layout: Layout) -> Arch:
    model = config.model
    widths = list(model.widths) + [0] * (layout.depth - len(model.widths))
    return Arch(
        widths=np.asarray(widths, np.int32),
        depth=np.int32(len(model.widths)),
        activation=np.int32(layout.activations.index(model.activation)),
        initializer=np.int32(list(INITIALIZERS).index(model.initializer)),
        batch_norm=np.bool_(model.batch_norm),
        alpha_dropout=np.bool_(model.activation == "selu"),
    )


def member_hyper(config: MemberConfig, y_train: np.ndarray, cohort: Cohort) -> Hyper:
    """A member's continuous hyperparameters and choices as the per-member data its cohort's
    program takes (its rate, momentum, dropout, optimizer index, schedule, architecture)."""
    shift, scale = (0.0, 1.0)
    if cohort.task == "regression":
        shift, scale = target_scaling(y_train, config.model.output_activation)
    clip = config.train.clip_norm
    return Hyper(
        learning_rate=np.float32(config.train.learning_rate),
        momentum=np.float32(config.train.momentum or 0.0),
        dropout=np.float32(config.model.dropout),
        clip_norm=np.float32(math.inf if clip is None else clip),
        target_shift=np.float32(shift),
        target_scale=np.float32(scale),
        optimizer=np.int32(cohort.optimizers.index(optimizer_name(config))),
        loss=np.int32(cohort.losses.index(config.train.loss)),
        output=np.int32(cohort.outputs.index(config.model.output_activation)),
        schedule=schedules.schedule_hyper(config.train.schedule),
        arch=arch_of(config, cohort.layout),
    )


SIZE_STEP = 8  # past this many members, program sizes go up in steps of this many


def padded_size(n: int, devices: int = 1) -> int:
    """A population's program size: a power of two up to ``SIZE_STEP`` members, then a multiple
    of it (few sizes, so few programs compile), at least one member per device and a multiple
    of the device count. Padding slots train like the others: a power of two past 8 left up to
    half the slots empty (51 members in 64), and a warm 256-trial article sweep ran 12% faster
    on multiples of 8."""
    n = max(n, devices, 1)
    size = 1 << (n - 1).bit_length() if n <= SIZE_STEP else -(-n // SIZE_STEP) * SIZE_STEP
    return -(-size // devices) * devices


MIN_MEMBERS_PER_DEVICE = 8  # below this, splitting costs more in dispatch than it saves


def devices_for(members: int) -> int:
    """How many local devices a population of ``members`` is split over."""
    count = jax.local_device_count()
    return count if members >= MIN_MEMBERS_PER_DEVICE * count else 1


def stack_hypers(hypers: list[Hyper], devices: int = 1) -> Hyper:
    """One array a field, its member axis split over ``devices`` (``placement.spread``). Stacked
    on the host and placed from there, each field is one transfer: ``jnp.asarray`` compiled a
    program for each field's shape and type, and splitting it over devices another, 0.1 s at
    the start of a sweep."""
    return spread(jax.tree.map(lambda *values: np.stack(values), *hypers), devices)


def member_keys(seed: int, numbers: list[int]) -> jax.Array:
    """Each member's key depends on the sweep seed and its trial number only, so a member
    trains the same whatever population it lands in."""
    return _fold_in_each(jax.random.PRNGKey(seed), np.asarray(numbers, np.uint32))


@jax.jit
def _fold_in_each(base: jax.Array, numbers: jax.Array) -> jax.Array:
    # jitted: a bare vmap traces anew on every call, and each program's start makes one
    return jax.vmap(jax.random.fold_in, in_axes=(None, 0))(base, numbers)


def placed(dataset: Dataset) -> Dataset:
    """``dataset`` with the features of its training and validation splits on the default
    device, where ``device_data`` then finds them: a sweep holds them once, not also on the host
    (1.3 GB of a 10,000,000-row table). Targets and the test split stay on the host."""
    X_train, X_val = jax.device_put((dataset.train.X, dataset.val.X))
    train, val = Split(X_train, dataset.train.y), Split(X_val, dataset.val.y)
    return dataclasses.replace(dataset, train=train, val=val)


def device_data(dataset: Dataset) -> Data:
    """The training and validation splits as device arrays, shared by every member."""
    return Data(*jax.device_put((dataset.train.X, dataset.train.y, dataset.val.X, dataset.val.y)))
