"""The names a search space may use: the article's pairings and what each parameter accepts."""

from __future__ import annotations

import pytest

from jaxsweep.engine.vocabulary import (
    ACTIVATIONS,
    INITIALIZERS,
    RULES,
    funnel_widths,
    paired_initializer,
    task_defaults,
)


def test_every_activation_has_a_paired_initializer_of_each_flavour() -> None:
    for activation in ACTIVATIONS:
        for flavour in ("normal", "uniform"):
            assert paired_initializer(activation, flavour) in INITIALIZERS, activation
    assert paired_initializer("selu") == "lecun_normal"
    assert paired_initializer("tanh", "uniform") == "glorot_uniform"


@pytest.mark.parametrize(("units", "layers"), [(100, 4), (64, 3), (5, 5), (2, 6)])
def test_funnel_widths_start_at_units_and_shrink_to_at_least_one(units: int, layers: int) -> None:
    widths = funnel_widths(units, layers, "funnel")
    assert len(widths) == layers and widths[0] == units and min(widths) >= 1
    assert list(widths) == sorted(widths, reverse=True)
    assert widths[-1] < units or units == 1
    assert funnel_widths(units, layers, "constant") == (units,) * layers


def test_each_task_implies_its_output_and_loss() -> None:
    assert task_defaults("multiclass") == ("softmax", "cross_entropy")
    assert task_defaults("binary") == ("sigmoid", "binary_cross_entropy")
    assert task_defaults("regression") == ("linear", "mse")


def test_a_rule_says_why_a_value_is_refused() -> None:
    assert RULES["units"].check(64) is None
    assert RULES["units"].check(2.5) == "expected an integer"
    assert RULES["units"].check(0) == "accepted: 1 to 4096"
    assert RULES["learning_rate"].check(float("nan")) is not None
    assert RULES["activation"].check("relux").startswith("accepted: sigmoid, tanh")
    assert RULES["batch_norm"].check(1) is not None  # a switch takes true or false, not 1
    assert RULES["batch_size"].check(True) == "expected an integer"
