"""The sweep file's schema: strict, with defaults, command-line overrides and resolved paths."""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from jaxsweep.errors import UserError, from_validation_error, read_yaml

STAGES = ("lr_find", "search", "schedule")
Stage = Literal["lr_find", "search", "schedule"]
Task = Literal["auto", "binary", "multiclass", "regression"]
MetricName = Literal["accuracy", "loss", "rmse", "mae"]
Probability = Annotated[float, Field(ge=0.0, lt=1.0)]

_MAXIMIZED = {"accuracy"}
_DURATION = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600}


def parse_duration(value: object) -> float | None:
    """Seconds from ``600``, ``"90s"``, ``"10m"`` or ``"1.5h"``; None stays None."""
    if value is None:
        return None
    match = _DURATION.match(value.strip()) if isinstance(value, str) else None
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    elif match:
        seconds = float(match[1]) * _SECONDS[match[2]]
    else:
        raise ValueError("not a duration (accepted: seconds, or a number with s, m or h: 90s, 10m)")
    if not 0 < seconds < float("inf"):
        raise ValueError("must be a positive duration (accepted: e.g. 90, 90s, 10m, 1.5h)")
    return seconds


Duration = Annotated[float | None, BeforeValidator(parse_duration)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    source: str = Field(
        description="built-in name (digits, iris, wine, breast_cancer, diabetes) "
        "or a .csv/.parquet/.npz path relative to the sweep file"
    )
    target: str = "target"
    task: Task = "auto"
    val_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2
    test_fraction: Probability = 0.2
    standardize: bool = True
    drop: tuple[str, ...] = Field((), description="columns left out (an ID, a free-text note)")
    categorical: tuple[str, ...] = Field(
        (), description="integer-coded columns treated as categories (a zip code, a grade 1-5)"
    )
    max_categories: Annotated[int, Field(ge=1)] = Field(
        50, description="most distinct values a text or category column may have (one-hot)"
    )
    missing: Literal["impute", "error"] = Field(
        "impute", description="impute: training medians, 0/1 indicators; error: refuse gaps"
    )

    @model_validator(mode="after")
    def _fractions_leave_training_rows(self) -> DataConfig:
        if self.val_fraction + self.test_fraction >= 1.0:
            raise ValueError("val_fraction + test_fraction must be below 1")
        return self

    @model_validator(mode="after")
    def _columns_used_once(self) -> DataConfig:
        both = sorted(set(self.drop) & set(self.categorical))
        if both:
            raise ValueError(f"column {both[0]!r} is both in drop and in categorical")
        if self.target in self.drop or self.target in self.categorical:
            raise ValueError(f"the target {self.target!r} cannot be in drop or categorical")
        return self


class EarlyStopping(_Strict):
    patience: Annotated[int, Field(ge=1)] | None = 10
    min_delta: Annotated[float, Field(ge=0.0)] = 0.0


class PrunerConfig(_Strict):
    type: Literal["none", "median", "successive_halving", "hyperband"] = "median"
    n_startup_trials: Annotated[int, Field(ge=0)] = 5
    n_warmup_steps: Annotated[int, Field(ge=0)] = 3
    min_resource: Annotated[int, Field(ge=1)] = 1
    reduction_factor: Annotated[int, Field(ge=2)] = 3


class SamplerConfig(_Strict):
    type: Literal["tpe", "random", "cmaes"] = "tpe"
    seed: int | None = Field(None, description="defaults to the sweep's seed")
    n_startup_trials: Annotated[int, Field(ge=0)] = 10


class MetricConfig(_Strict):
    name: MetricName = "accuracy"
    direction: Literal["maximize", "minimize"] | None = None

    @property
    def resolved_direction(self) -> str:
        if self.direction is not None:
            return self.direction
        return "maximize" if self.name in _MAXIMIZED else "minimize"


class LrFindConfig(_Strict):
    """The LR range test: rates grow exponentially from min_lr to max_lr over at least `steps`
    steps, and over `epochs` epochs of the training split where that takes more (at most
    `max_steps`)."""

    min_lr: Annotated[float, Field(gt=0)] = 1e-6
    max_lr: Annotated[float, Field(gt=0)] = 10.0
    steps: Annotated[int, Field(ge=20)] = 400
    # A test that covers too few epochs read its rates high: 400 steps were 2 epochs of the
    # synthetic table's 3,000 training rows (batch 16) and read Adam at 0.029 against a best
    # constant rate of 0.01; 10 epochs read 0.0095 (benchmarks/lr_truth.py). On small tables
    # 400 steps already cover more, and a longer test read their rates lower than the best.
    epochs: Annotated[float, Field(gt=0)] = 10.0
    max_steps: Annotated[int, Field(ge=20)] = 2000
    # Each pass of the zero-lag moving average (``lr_find.smooth``): 0.9 averages over about a
    # twentieth of a 400-step curve, forwards and backwards.
    smoothing: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.9
    # The diverging rate: where the smoothed loss rises above turn_up x its minimum for good
    # (benchmarks/lr_truth.py compares the readings with a grid of constant rates).
    turn_up: Annotated[float, Field(gt=1.0)] = 1.05
    architectures: Annotated[int, Field(ge=1)] = 2
    seeds: Annotated[int, Field(ge=1)] = 2

    @model_validator(mode="after")
    def _range_grows(self) -> LrFindConfig:
        if self.min_lr >= self.max_lr:
            raise ValueError(f"min_lr {self.min_lr} must be below max_lr {self.max_lr}")
        if self.max_steps < self.steps:
            raise ValueError(f"max_steps {self.max_steps} must not be below steps {self.steps}")
        return self

    def steps_for(self, steps_per_epoch: int) -> int:
        """The test's length for a member whose epoch has ``steps_per_epoch`` steps."""
        return min(max(self.steps, math.ceil(self.epochs * steps_per_epoch)), self.max_steps)


class HeartbeatConfig(_Strict):
    """A worker records a heartbeat for its running trials every `interval` seconds; a trial
    silent for `grace` seconds (its worker was killed) is marked failed and retried."""

    interval: Annotated[int, Field(ge=1)] = 20
    grace: Annotated[int, Field(ge=2)] = 60
    max_retry: Annotated[int, Field(ge=0)] = 2

    @model_validator(mode="after")
    def _grace_outlasts_interval(self) -> HeartbeatConfig:
        if self.grace <= self.interval:
            raise ValueError(f"grace {self.grace} must exceed interval {self.interval}")
        return self


class SweepConfig(_Strict):
    study: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    data: DataConfig
    search_space: str
    storage: str | None = None
    seed: int = 0
    population: Annotated[int, Field(ge=1, le=65536)] = 16
    epochs: Annotated[int, Field(ge=1)] = 30
    early_stopping: EarlyStopping = EarlyStopping()
    pruner: PrunerConfig = PrunerConfig()
    sampler: SamplerConfig = SamplerConfig()
    metric: MetricConfig = MetricConfig()
    trials: Annotated[int, Field(ge=1)] = 64
    timeout: Duration = None  # wall-clock budget of the whole run, every stage included
    refill: bool = True  # a slot freed by pruning, early stopping or divergence takes a new trial
    stages: tuple[Stage, ...] = ("search",)
    lr_find: LrFindConfig = LrFindConfig()
    heartbeat: HeartbeatConfig = HeartbeatConfig()
    schedule_trials: Annotated[int, Field(ge=1)] = 16
    schedule_space: str | None = Field(None, description="default: the built-in schedule space")
    results: str = "results"
    plots: bool = True  # the studies' plots after the sweep (PNG files and dashboard artifacts)
    _file: str = PrivateAttr(default="sweep")
    _overridden: frozenset[str] = PrivateAttr(default=frozenset())

    def where(self, key: str) -> str:
        """Where a bad value came from, for error messages: the flag or the sweep file."""
        top = key.split(".")[0]
        origin = f"--{top}" if top in self._overridden else self._file
        return f"{origin}: key {key!r}"

    @field_validator("stages")
    @classmethod
    def _stages_in_order(cls, stages: tuple[str, ...]) -> tuple[str, ...]:
        if list(stages) != sorted(set(stages), key=STAGES.index) or not stages:
            raise ValueError(
                f"stages must be a non-empty subset of {', '.join(STAGES)}, in that order"
            )
        return stages

    @property
    def lr_find_study(self) -> str:
        return f"{self.study}-lr_find"

    @property
    def schedule_study(self) -> str:
        return f"{self.study}-schedule"

    @property
    def results_dir(self) -> Path:
        return Path(self.results) / self.study

    @property
    def storage_url(self) -> str:
        if self.storage is not None:
            return self.storage
        return f"sqlite:///{(self.results_dir / 'study.db').as_posix()}"

    @property
    def sampler_seed(self) -> int:
        return self.seed if self.sampler.seed is None else self.sampler.seed


def load_sweep(path: str | Path, overrides: dict[str, Any] | None = None) -> SweepConfig:
    """Read, override and validate a sweep file; paths inside it become relative to the cwd."""
    path = Path(path)
    raw = read_yaml(str(path))
    if not isinstance(raw, dict):
        raise UserError(str(path), f"expected a mapping of keys, got {type(raw).__name__}")
    given = {k: v for k, v in (overrides or {}).items() if v is not None}
    try:
        config = SweepConfig.model_validate({**raw, **given})
    except ValidationError as exc:
        key = exc.errors()[0]["loc"][0] if exc.errors()[0]["loc"] else None
        where = f"--{key}" if key in given else str(path)
        raise from_validation_error(where, exc) from None
    base = path.parent
    data = config.data.model_copy(update={"source": _resolve(base, config.data.source)})
    schedule_space = config.schedule_space and _resolve(base, config.schedule_space)
    config = config.model_copy(
        update={
            "data": data,
            "search_space": _resolve(base, config.search_space),
            "schedule_space": schedule_space,
        }
    )
    config._file, config._overridden = str(path), frozenset(given)
    return config


def _resolve(base: Path, value: str) -> str:
    """Built-in dataset names stay as they are; anything that looks like a path is resolved."""
    if "/" not in value and "." not in value:
        return value
    candidate = Path(value)
    return os.path.normpath(candidate if candidate.is_absolute() else (base / candidate))
