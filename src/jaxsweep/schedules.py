"""Learning-rate schedules for the last stage, all from optax: exponential and step decay,
reduce-on-plateau and 1cycle. Their shape parameters are static in optax (it branches on them in
Python), so they belong to the cohort; the schedule stage draws them from a few values each, and
the base learning rate stays a per-member array."""

from __future__ import annotations

from dataclasses import dataclass

import optax

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

    def get(self, name: str) -> float:
        return dict(self.params)[name]


def learning_rate(
    schedule: Schedule, base: optax.ScalarOrSchedule, steps_per_epoch: int, total_steps: int
) -> optax.ScalarOrSchedule:
    """The rate for ``optax.inject_hyperparams``: the base rate, or an optax schedule of it.
    Decay happens per epoch; 1cycle peaks at ``onecycle_peak`` times the base rate."""
    if schedule.kind == "exponential":
        return optax.exponential_decay(base, steps_per_epoch, schedule.get("decay_rate"))
    if schedule.kind == "step":
        return optax.exponential_decay(
            base,
            steps_per_epoch * int(schedule.get("step_epochs")),
            schedule.get("step_factor"),
            staircase=True,
        )
    if schedule.kind == "onecycle":
        return optax.cosine_onecycle_schedule(total_steps, base * schedule.get("onecycle_peak"))
    return base


def plateau(schedule: Schedule, steps_per_epoch: int) -> optax.GradientTransformation | None:
    """Reduce-on-plateau scales the updates when the epoch's mean training loss stalls."""
    if schedule.kind != "plateau":
        return None
    return optax.contrib.reduce_on_plateau(
        factor=schedule.get("plateau_factor"),
        patience=int(schedule.get("plateau_patience")),
        accumulation_size=steps_per_epoch,
    )
