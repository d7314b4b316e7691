"""The names a search space may use, what each accepts, and the article's pairing rules."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

ACTIVATIONS = ("sigmoid", "tanh", "relu", "leaky_relu", "elu", "selu", "gelu", "rrelu", "prelu")
INITIALIZERS = (
    "auto",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "glorot_normal",
    "glorot_uniform",
)
OPTIMIZERS = ("sgd", "adam", "nadam", "rmsprop", "adamax")
REGRESSION_LOSSES = ("mse", "mae", "huber")
REGRESSION_OUTPUTS = ("linear", "tanh", "sigmoid", "softplus")
LOSSES = (*REGRESSION_LOSSES, "cross_entropy", "binary_cross_entropy")  # a cohort's, in order
OUTPUTS = (*REGRESSION_OUTPUTS, "softmax")
WIDTH_SHAPES = ("constant", "funnel")


@dataclass(frozen=True)
class Rule:
    """What one search-space parameter accepts, and its value when the space leaves it out."""

    kind: Literal["int", "float", "categorical"]
    default: Any
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    help: str = ""

    def check(self, value: Any) -> str | None:
        """Return why ``value`` is not accepted, or None when it is."""
        if self.choices is not None:
            if value not in self.choices or isinstance(value, bool) != isinstance(
                self.choices[0], bool
            ):
                return f"accepted: {', '.join(map(str, self.choices))}"
            return None
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if not is_number or (self.kind == "int" and not float(value).is_integer()):
            return f"expected {'an integer' if self.kind == 'int' else 'a number'}"
        if not math.isfinite(value) or not (self.low <= value <= self.high):  # type: ignore[operator]
            return f"accepted: {self.low} to {self.high}"
        return None


def _switch(help_text: str) -> Rule:
    return Rule("categorical", True, choices=(False, True), help=help_text)


TINY = 1e-12

RULES: dict[str, Rule] = {
    "n_layers": Rule("int", 2, 1, 16, help="hidden layers"),
    "units": Rule("int", 64, 1, 4096, help="units of the first hidden layer"),
    "width_shape": Rule(
        "categorical",
        "constant",
        choices=WIDTH_SHAPES,
        help="constant: every layer has `units`; funnel: widths shrink linearly",
    ),
    "activation": Rule("categorical", "relu", choices=ACTIVATIONS, help="hidden activation"),
    "initializer": Rule(
        "categorical",
        "auto",
        choices=INITIALIZERS,
        help="auto pairs it with the activation (He, LeCun or Glorot)",
    ),
    "init_distribution": Rule(
        "categorical",
        "normal",
        choices=("normal", "uniform"),
        help="flavour of the paired initializer when initializer is auto",
    ),
    "batch_norm": Rule("categorical", False, choices=(False, True), help="batch norm per layer"),
    "use_dropout": _switch("switch for `dropout`; off means no dropout"),
    "dropout": Rule("float", 0.0, 0.0, 0.9, help="dropout rate (alpha dropout with selu)"),
    "optimizer": Rule("categorical", "adam", choices=OPTIMIZERS),
    "learning_rate": Rule("float", 1e-3, TINY, 10.0),
    "momentum": Rule("float", 0.9, 0.0, 0.9999, help="SGD momentum"),
    "nesterov": Rule("categorical", False, choices=(False, True), help="SGD Nesterov momentum"),
    "batch_size": Rule("int", 32, 1, 65536),
    "clipping": _switch("switch for `clip_norm`; off means no clipping"),
    "clip_norm": Rule("float", math.inf, TINY, 1e6, help="clip gradients by global norm"),
    "schedule": Rule(
        "categorical",
        "constant",
        choices=("constant", "exponential", "step", "plateau", "onecycle"),
        help="learning-rate schedule (the schedule stage searches it)",
    ),
    "decay_rate": Rule("float", 0.95, 0.01, 1.0, help="exponential: decay per epoch"),
    "step_epochs": Rule("int", 5, 1, 100_000, help="step: epochs between drops"),
    "step_factor": Rule("float", 0.5, 0.001, 1.0, help="step: factor at each drop"),
    "plateau_factor": Rule("float", 0.5, 0.001, 1.0, help="plateau: factor at each drop"),
    "plateau_patience": Rule("int", 3, 1, 100_000, help="plateau: epochs without progress"),
    "onecycle_peak": Rule("float", 3.0, 1.0, 1000.0, help="1cycle: peak / base learning rate"),
    "loss": Rule(
        "categorical",
        "auto",
        choices=("auto", *REGRESSION_LOSSES),
        help="regression only (auto: mse); classification uses cross-entropy",
    ),
    "output_activation": Rule(
        "categorical",
        "auto",
        choices=("auto", *REGRESSION_OUTPUTS),
        help="regression only (auto: linear); classification uses softmax or sigmoid",
    ),
}
# Ignored (not sampled) for classification, so one space file serves every task.
REGRESSION_ONLY = ("loss", "output_activation")

_INIT_FOR_ACTIVATION = {
    "relu": "he",
    "leaky_relu": "he",
    "rrelu": "he",
    "prelu": "he",
    "gelu": "he",
    "selu": "lecun",
    "elu": "lecun",
    "sigmoid": "glorot",
    "tanh": "glorot",
}


def paired_initializer(activation: str, distribution: str = "normal") -> str:
    """The article's rule: He for the ReLU family, LeCun for SELU/ELU, Glorot for sigmoid/tanh."""
    return f"{_INIT_FOR_ACTIVATION[activation]}_{distribution}"


def task_defaults(task: str) -> tuple[str, str]:
    """Output activation and loss that the task implies (the article's pairing)."""
    if task == "multiclass":
        return "softmax", "cross_entropy"
    if task == "binary":
        return "sigmoid", "binary_cross_entropy"
    return "linear", "mse"


def funnel_widths(units: int, n_layers: int, shape: str) -> tuple[int, ...]:
    """Hidden widths: all equal, or shrinking linearly from ``units`` (e.g. 100, 75, 50, 25)."""
    if shape == "constant":
        return (units,) * n_layers
    return tuple(max(1, round(units * (n_layers - i) / n_layers)) for i in range(n_layers))
