"""One member's configuration, every choice explicit, resolved from a trial's sampled values with
the article's pairings (an initializer for the activation, funnel widths, the task's output and
loss)."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from jaxsweep.engine.schedules import PARAMS as SCHEDULE_PARAMS
from jaxsweep.engine.schedules import Schedule
from jaxsweep.engine.vocabulary import RULES, funnel_widths, paired_initializer, task_defaults

Scalar = bool | int | float | str


@dataclass(frozen=True)
class ModelConfig:
    """One member's network, resolved: every choice explicit."""

    widths: tuple[int, ...]
    activation: str
    initializer: str
    batch_norm: bool
    dropout: float
    output_dim: int
    output_activation: str


@dataclass(frozen=True)
class TrainConfig:
    """One member's optimisation, resolved."""

    optimizer: str
    learning_rate: float
    momentum: float | None
    nesterov: bool
    batch_size: int
    clip_norm: float | None
    loss: str
    schedule: Schedule = field(default_factory=Schedule)


@dataclass(frozen=True)
class MemberConfig:
    model: ModelConfig
    train: TrainConfig

    def as_dict(self) -> dict[str, Any]:
        result = asdict(self)
        result["model"]["widths"] = list(self.model.widths)
        result["train"]["schedule"] = {
            "kind": self.train.schedule.kind,
            **dict(self.train.schedule.params),
        }
        return result

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> MemberConfig:
        """Inverse of ``as_dict`` (raises KeyError/TypeError on a malformed document)."""
        model = dict(document["model"])
        model["widths"] = tuple(int(w) for w in model["widths"])
        train = dict(document["train"])
        schedule = dict(train.pop("schedule", None) or {"kind": "constant"})
        kind = schedule.pop("kind")
        train["schedule"] = Schedule(kind, tuple(sorted(schedule.items())))
        return cls(ModelConfig(**model), TrainConfig(**train))


def resolve(values: dict[str, Scalar], task: str, output_dim: int) -> MemberConfig:
    """Turn sampled values into an explicit member config, applying the article's pairings."""
    v = {name: values.get(name, rule.default) for name, rule in RULES.items()}
    default_output, default_loss = task_defaults(task)
    initializer = v["initializer"]
    if initializer == "auto":
        initializer = paired_initializer(v["activation"], v["init_distribution"])
    is_sgd = v["optimizer"] == "sgd"
    clip = float(v["clip_norm"]) if v["clipping"] else math.inf
    model = ModelConfig(
        widths=funnel_widths(int(v["units"]), int(v["n_layers"]), v["width_shape"]),
        activation=v["activation"],
        initializer=initializer,
        batch_norm=bool(v["batch_norm"]),
        dropout=float(v["dropout"]) if v["use_dropout"] else 0.0,
        output_dim=output_dim,
        output_activation=(
            default_output if v["output_activation"] == "auto" else v["output_activation"]
        ),
    )
    train = TrainConfig(
        optimizer=v["optimizer"],
        learning_rate=float(v["learning_rate"]),
        momentum=float(v["momentum"]) if is_sgd else None,
        nesterov=bool(v["nesterov"]) if is_sgd else False,
        batch_size=int(v["batch_size"]),
        clip_norm=clip if math.isfinite(clip) else None,
        loss=v["loss"] if v["loss"] != "auto" else default_loss,
        schedule=schedule_of(v),
    )
    return MemberConfig(model, train)


def schedule_of(values: dict[str, Scalar]) -> Schedule:
    """The schedule that sampled values describe; absent values take their defaults."""
    v = {name: values.get(name, rule.default) for name, rule in RULES.items()}
    kind = str(v["schedule"])
    return Schedule(kind, tuple((name, float(v[name])) for name in sorted(SCHEDULE_PARAMS[kind])))
