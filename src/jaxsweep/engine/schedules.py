"""Learning-rate schedules for the last stage: exponential and step decay, reduce-on-plateau and
1cycle. A member's schedule is data (``ScheduleHyper``: its kind and parameters as per-member
arrays), so members with different schedules share one compiled program, as they share one with
different optimizers: a program that holds schedules computes every kind's rate, a scalar a
step, and selects its member's.

optax branches in Python on the decay rates and step lengths (``exponential_decay`` returns a
constant schedule for a zero rate), so those two are written here with optax's formulas;
1cycle and reduce-on-plateau are optax's own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsweep.cache.programs import serializable

SCHEDULES = ("constant", "exponential", "step", "plateau", "onecycle")
PARAMS = {
    "exponential": ("decay_rate",),
    "step": ("step_epochs", "step_factor"),
    "plateau": ("plateau_factor", "plateau_patience"),
    "onecycle": ("onecycle_peak",),
    "constant": (),
}

# The schedule stage's default space (the sweep's `schedule_space` may replace it).
DEFAULT_SPACE = {
    "schedule": {"type": "categorical", "choices": list(SCHEDULES)},
    "decay_rate": {
        "type": "categorical",
        "choices": [0.8, 0.9, 0.95, 0.98],
        "when": {"schedule": ["exponential"]},
    },
    "step_epochs": {"type": "categorical", "choices": [3, 5, 10], "when": {"schedule": ["step"]}},
    "step_factor": {
        "type": "categorical",
        "choices": [0.1, 0.3, 0.5],
        "when": {"schedule": ["step"]},
    },
    "plateau_factor": {
        "type": "categorical",
        "choices": [0.1, 0.3, 0.5],
        "when": {"schedule": ["plateau"]},
    },
    "plateau_patience": {
        "type": "categorical",
        "choices": [1, 2, 3, 5],
        "when": {"schedule": ["plateau"]},
    },
    "onecycle_peak": {
        "type": "categorical",
        "choices": [1.0, 3.0, 10.0],
        "when": {"schedule": ["onecycle"]},
    },
}


@dataclass(frozen=True)
class Schedule:
    kind: str = "constant"
    params: tuple[tuple[str, float], ...] = ()


@serializable
class ScheduleHyper(NamedTuple):
    """A member's schedule as data; stacked, each field gains a leading member axis. The
    parameters of the kinds it does not have hold neutral values."""

    kind: jax.Array  # index into SCHEDULES
    decay_rate: jax.Array
    step_epochs: jax.Array
    step_factor: jax.Array
    plateau_factor: jax.Array
    plateau_patience: jax.Array  # int32
    onecycle_peak: jax.Array


NEUTRAL = {
    "decay_rate": 1.0,
    "step_epochs": 1.0,
    "step_factor": 1.0,
    "plateau_factor": 0.5,
    "plateau_patience": 1,
    "onecycle_peak": 1.0,
}


def schedule_hyper(schedule: Schedule) -> ScheduleHyper:
    """A schedule as per-member data: its kind as an index, its parameters (neutral values for
    those it does not take)."""
    values = NEUTRAL | dict(schedule.params)
    return ScheduleHyper(
        kind=np.int32(SCHEDULES.index(schedule.kind)),
        plateau_patience=np.int32(values["plateau_patience"]),
        **{name: np.float32(values[name]) for name in NEUTRAL if name != "plateau_patience"},
    )


def learning_rate(
    scheduled: bool,
    base: jax.Array,
    schedule: ScheduleHyper,
    steps_per_epoch: int,
    total_steps: int,
) -> optax.ScalarOrSchedule:
    """The rate for ``optax.inject_hyperparams``: the base rate where no member has a schedule,
    else each member's schedule of it. Decay happens per epoch; 1cycle peaks at
    ``onecycle_peak`` times the base rate; reduce-on-plateau keeps the rate (see ``plateau``)."""
    if not scheduled:
        return base
    onecycle = optax.cosine_onecycle_schedule(total_steps, base * schedule.onecycle_peak)

    def rate(count: jax.Array) -> jax.Array:
        epochs = count / steps_per_epoch  # optax.exponential_decay's exponent
        steps = jnp.floor(count / (steps_per_epoch * schedule.step_epochs))  # its staircase
        rates = {
            "constant": base,
            "exponential": base * jnp.power(schedule.decay_rate, epochs),
            "step": base * jnp.power(schedule.step_factor, steps),
            "plateau": base,
            "onecycle": onecycle(count),
        }
        return jax.lax.select_n(schedule.kind, *(rates[kind] for kind in SCHEDULES))

    return rate


REFERENCE_FACTOR = 0.5  # reductions are counted at this factor, exactly: scale = 0.5 ** k


def plateau(
    scheduled: bool, schedule: ScheduleHyper, steps_per_epoch: int
) -> optax.GradientTransformationExtraArgs | None:
    """Reduce-on-plateau scales the updates when the epoch's mean training loss stalls: optax's
    transformation with the member's patience. optax's factor must be a Python number, so it
    counts the member's reductions k at a fixed factor, and the member's scale is its own
    factor ** k; members of other kinds keep a scale of one."""
    if not scheduled:
        return None
    counter = optax.contrib.reduce_on_plateau(
        factor=REFERENCE_FACTOR,
        patience=schedule.plateau_patience,
        accumulation_size=steps_per_epoch,
    )
    exponent = jnp.log(schedule.plateau_factor) / np.log(REFERENCE_FACTOR)
    on = schedule.kind == SCHEDULES.index("plateau")

    def update(
        updates: Any, state: Any, params: Any = None, *, value: jax.Array, **extra: Any
    ) -> tuple[Any, Any]:
        _, state = counter.update(updates, state, params, value=value)
        scale = jnp.where(on, jnp.power(state.scale, exponent), 1.0)
        return jax.tree.map(lambda u: scale * u, updates), state

    return optax.GradientTransformationExtraArgs(counter.init, update)
