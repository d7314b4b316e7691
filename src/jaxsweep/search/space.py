"""Search-space files: Optuna-shaped distributions with conditions, sampled per trial (the sampled
values become a member config in ``member_config``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import optuna
from pydantic import BaseModel, ConfigDict, ValidationError

from jaxsweep.engine.vocabulary import (
    REGRESSION_ONLY,
    RULES,
)
from jaxsweep.errors import UserError, from_validation_error, read_yaml
from jaxsweep.search.member_config import Scalar


class Distribution(BaseModel):
    """One searched parameter, spelled like Optuna's distributions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["int", "float", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = None
    choices: tuple[Scalar, ...] | None = None
    when: dict[str, tuple[Scalar, ...]] | None = None


@dataclass(frozen=True)
class Param:
    name: str
    fixed: Scalar | None = None
    distribution: Distribution | None = None

    @property
    def when(self) -> dict[str, tuple[Scalar, ...]]:
        return (self.distribution.when or {}) if self.distribution else {}


@dataclass(frozen=True)
class SearchSpace:
    path: str
    params: tuple[Param, ...]
    # Per-optimizer learning-rate ranges from the LR range test, within the space's own range
    # (``lr_stage.search_windows``); an optimizer without one keeps the space's range.
    lr_windows: tuple[tuple[str, float, float], ...] = ()

    def sample(self, trial: optuna.Trial) -> dict[str, Scalar]:
        """Suggest every active parameter; returns all values, fixed and defaulted included."""
        values: dict[str, Scalar] = {}
        windowed: Param | None = None  # the learning rate, drawn last once the optimizer is known
        for param in self.params:
            if self.lr_windows and param.name == "learning_rate" and _is_range(param):
                windowed = param
            elif self._active(param, values):
                values[param.name] = (
                    param.fixed
                    if param.distribution is None
                    else _suggest(trial, param.name, param.distribution)
                )
        searched = windowed is not None and self._active(windowed, values)
        if self.lr_windows and (searched or self.param("learning_rate") is None):
            own = windowed.distribution if windowed else None
            values["learning_rate"] = self._windowed_rate(trial, values, own)
        return values

    def param(self, name: str) -> Param | None:
        """The space's entry for ``name``; None when the space leaves it to its default."""
        return next((param for param in self.params if param.name == name), None)

    @staticmethod
    def _active(param: Param, values: dict[str, Scalar]) -> bool:
        return all(
            values.get(key, RULES[key].default) in allowed for key, allowed in param.when.items()
        )

    def _windowed_rate(
        self, trial: optuna.Trial, values: dict[str, Scalar], own: Distribution | None
    ) -> Scalar:
        """The learning rate from its optimizer's window, or from the space's own range for an
        optimizer without one; on the space's scale, since Optuna refuses one name on two."""
        optimizer = values.get("optimizer", RULES["optimizer"].default)
        window = {name: (low, high) for name, low, high in self.lr_windows}.get(str(optimizer))
        if window is None:
            assert own is not None, "a space without learning_rate has a window per optimizer"
            return _suggest(trial, "learning_rate", own)
        return trial.suggest_float("learning_rate", *window, log=own is None or own.log)

    def choices(self, name: str) -> tuple[Scalar, ...]:
        """The values this space can give a categorical parameter (its default when absent)."""
        param = self.param(name)
        if param is None:
            return (RULES[name].default,)
        if param.distribution is None:
            return (param.fixed,)  # type: ignore[return-value]
        return tuple(param.distribution.choices or ())

    def highest(self, name: str) -> float:
        """The largest value this space can give a numeric parameter."""
        return self._bound(name, max, "high")

    def lowest(self, name: str) -> float:
        """The smallest value this space can give a numeric parameter."""
        return self._bound(name, min, "low")

    def _bound(self, name: str, pick: Callable[..., Any], end: str) -> float:
        param = self.param(name)
        if param is None:
            return float(RULES[name].default)
        if param.distribution is None:
            return float(param.fixed)  # type: ignore[arg-type]
        dist = param.distribution
        return float(pick(dist.choices) if dist.choices else getattr(dist, end))  # type: ignore[arg-type]

    def learning_rate_range(self) -> tuple[float, float] | None:
        """The space's own range of learning rates; None when it fixes or lists them. A space
        without the entry has the whole accepted range."""
        param = self.param("learning_rate")
        if param is None:
            return RULES["learning_rate"].low, RULES["learning_rate"].high  # type: ignore[return-value]
        if not _is_range(param):
            return None
        return float(param.distribution.low), float(param.distribution.high)  # type: ignore[union-attr,arg-type]

    def optimizers(self) -> list[str]:
        """The optimizers this space can propose."""
        return [str(c) for c in self.choices("optimizer")]


def load_space(path: str | Path, task: str) -> SearchSpace:
    """Read and check a search-space file against the vocabulary and the data's task."""
    return parse_space(str(path), read_yaml(str(path)), task)


def parse_space(where: str, raw: object, task: str) -> SearchSpace:
    """Check a search space (as read from YAML) against the vocabulary and the data's task."""
    if not isinstance(raw, dict) or not raw:
        raise UserError(where, "expected a non-empty mapping of parameter names to entries")
    params: list[Param] = []
    seen: list[str] = []
    for name, entry in raw.items():
        if name not in RULES:
            raise UserError(
                where, f"key {name!r}: unknown parameter (accepted: {', '.join(RULES)})"
            )
        param = _parse_entry(where, str(name), entry, seen)
        seen.append(name)
        for value in _values_of(param):
            problem = RULES[name].check(value)
            if problem:
                raise UserError(where, f"key {name!r}: value {value!r} not accepted ({problem})")
        if task == "regression" or name not in REGRESSION_ONLY:
            params.append(param)
    return SearchSpace(where, tuple(params))


def _is_range(param: Param) -> bool:
    """A parameter drawn from a range (not fixed, not a list of choices)."""
    return param.distribution is not None and param.distribution.type != "categorical"


def _parse_entry(where: str, name: str, entry: Any, earlier: list[str]) -> Param:
    if not isinstance(entry, dict):
        return Param(name, fixed=entry)
    try:
        dist = Distribution.model_validate(entry)
    except ValidationError as exc:
        raise from_validation_error(where, exc, prefix=f"{name}.") from None
    problem = _distribution_problem(dist)
    if problem:
        raise UserError(where, f"key {name!r}: {problem}")
    for key, allowed in (dist.when or {}).items():
        if key not in earlier:
            raise UserError(
                where,
                f"key '{name}.when': {key!r} is not a parameter defined above "
                f"it (defined above: {', '.join(earlier) or 'none'})",
            )
        if not allowed:
            raise UserError(where, f"key '{name}.when.{key}': empty list of values")
    return Param(name, distribution=dist)


def _distribution_problem(dist: Distribution) -> str | None:
    if dist.type == "categorical":
        if not dist.choices:
            return "categorical needs a non-empty 'choices' list"
        if dist.low is not None or dist.high is not None or dist.log or dist.step is not None:
            return "categorical takes 'choices' only, not low/high/log/step"
        return None
    if dist.choices is not None:
        return f"{dist.type} takes low/high, not 'choices'"
    if dist.low is None or dist.high is None:
        return f"{dist.type} needs both 'low' and 'high'"
    if dist.low > dist.high:
        return f"low {dist.low} is above high {dist.high}"
    if dist.log and dist.low <= 0:
        return f"log scale needs low > 0 (got low {dist.low})"
    if dist.log and dist.step is not None:
        return "log and step cannot be combined"
    if dist.step is not None and dist.step <= 0:
        return f"step must be positive (got {dist.step})"
    return None


def _values_of(param: Param) -> list[Scalar]:
    """The values to check against the vocabulary: a fixed value, the bounds or the choices."""
    if param.distribution is None:
        return [param.fixed]  # type: ignore[list-item]
    dist = param.distribution
    if dist.type == "categorical":
        return list(dist.choices or ())
    if dist.type == "int":
        for bound in (dist.low, dist.high):
            if not float(bound).is_integer():  # type: ignore[arg-type]
                return [bound]  # type: ignore[list-item]
        return [int(dist.low), int(dist.high)]  # type: ignore[arg-type]
    return [dist.low, dist.high]  # type: ignore[list-item]


def _suggest(trial: optuna.Trial, name: str, dist: Distribution) -> Scalar:
    if dist.type == "categorical":
        return trial.suggest_categorical(name, list(dist.choices or ()))
    if dist.type == "int":
        step = int(dist.step) if dist.step else 1
        return trial.suggest_int(name, int(dist.low), int(dist.high), step=step, log=dist.log)  # type: ignore[arg-type]
    return trial.suggest_float(name, dist.low, dist.high, step=dist.step, log=dist.log)  # type: ignore[arg-type]
