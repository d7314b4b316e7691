"""What a compiled program is made for and what flows through it: the cohort key (what changes
the program), the sweep's static settings, the per-member hyperparameters, the data and a
member's training state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax

from jaxsweep.cache.programs import serializable
from jaxsweep.engine.model import Arch, Layout
from jaxsweep.engine.schedules import ScheduleHyper


def steps_per_epoch(rows: int, batch_size: int) -> int:
    """Minibatches in an epoch: the rows that do not fill a last batch wait for the next
    shuffle."""
    return max(1, rows // batch_size)


@dataclass(frozen=True)
class Cohort:
    """What changes the compiled program. Members that agree on it train together: the padded
    layout (the space's largest network and the choices it offers), the optimizers, clipping
    and schedules it offers, the losses and output activations it offers, the batch size (it
    sets the number of steps) and the task."""

    layout: Layout
    optimizers: tuple[str, ...]  # sgd, sgd_nesterov, adam, …; a member's is Hyper.optimizer
    scheduled: bool  # some member may have an LR schedule; a member's is Hyper.schedule
    batch_size: int
    clipping: bool  # some member clips its gradients by norm (the others at +inf)
    losses: tuple[str, ...]  # a member's is Hyper.loss
    outputs: tuple[str, ...]  # output activations; a member's is Hyper.output
    task: str


@dataclass(frozen=True)
class Settings:
    """Sweep-wide training settings (static)."""

    metric: str  # the early-stopping and reported metric
    maximize: bool
    patience: int | None
    min_delta: float
    record_steps: bool = False  # keep every minibatch loss (tests compare them step by step)
    train_rows: int = 0  # rows of the training split and epochs: where schedules count steps
    epochs: int = 0

    def steps_per_epoch(self, batch_size: int) -> int:
        return steps_per_epoch(self.train_rows, batch_size)


@serializable
class Hyper(NamedTuple):
    """Per-member continuous values; stacked, each is an array with one entry per member."""

    learning_rate: jax.Array
    momentum: jax.Array
    dropout: jax.Array
    clip_norm: jax.Array  # +inf: no clipping
    target_shift: jax.Array
    target_scale: jax.Array
    optimizer: jax.Array  # index into Cohort.optimizers
    loss: jax.Array  # index into Cohort.losses
    output: jax.Array  # index into Cohort.outputs
    schedule: ScheduleHyper
    arch: Arch


@serializable
class Data(NamedTuple):
    X_train: jax.Array
    y_train: jax.Array
    X_val: jax.Array
    y_val: jax.Array


@serializable
class MemberState(NamedTuple):
    params: Any
    batch_stats: Any
    # The optimizer's state as a list of leaves: the training step rebuilds optax's structure
    # in its trace, so a stored program's state holds only jaxsweep's types
    # (see ``cache.programs``).
    opt_state: list[jax.Array]
    key: jax.Array
    epoch: jax.Array  # epochs trained so far
    best_params: Any
    best_batch_stats: Any
    best_score: jax.Array  # the metric, sign-flipped so that higher is better
    best_epoch: jax.Array
    bad_epochs: jax.Array
    stopped: jax.Array  # early-stopped, diverged or pruned: parameters no longer change
    diverged: jax.Array
