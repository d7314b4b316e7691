"""Learning-rate schedules: per epoch, read back from the optimizer state; members with
different schedules in one program; plateau as optax scales updates."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxsweep.data.dataset import Dataset
from jaxsweep.engine import schedules
from jaxsweep.engine.cohort import Hyper, Settings
from jaxsweep.engine.model import MLP
from jaxsweep.engine.optimizers import make_optimizer
from jaxsweep.engine.schedules import Schedule
from jaxsweep.engine.train import init_variables, make_step
from jaxsweep.search.member_config import resolve
from jaxsweep.search.population import (
    Palette,
    cohort_of,
    device_data,
    member_hyper,
    member_keys,
    stack_hypers,
)

BASE_LR, BATCH, EPOCHS = 0.01, 30, 4


def learning_rates(iris: Dataset, values: dict) -> tuple[np.ndarray, int]:
    """Train a member step by step; return the rate each step used, as its optimizer state
    records it (``inject_hyperparams`` stores the rate of the update it just made)."""
    config = resolve(
        {"units": 8, "batch_size": BATCH, "learning_rate": BASE_LR} | values, "multiclass", 3
    )
    cohort = cohort_of(config, "multiclass")
    settings = Settings("accuracy", True, None, 0.0, train_rows=len(iris.train.y), epochs=EPOCHS)
    per_epoch = settings.steps_per_epoch(BATCH)
    hyper = jax.tree.map(lambda a: a[0], stack_hypers([member_hyper(config, iris.train.y, cohort)]))
    data = device_data(iris)
    model = MLP(cohort.layout)
    params, _ = init_variables(model, jax.random.PRNGKey(0), hyper, data.X_train[:1])
    tx = make_optimizer(cohort, hyper, settings)
    step = jax.jit(make_step(cohort, model, tx, hyper, data))
    carry = (params, {}, tx.init(params))
    key = member_keys(0, [0])[0]
    rows = jnp.arange(per_epoch * BATCH).reshape(per_epoch, BATCH)
    rates = []
    for _ in range(EPOCHS):
        for batch in rows:
            carry, _ = step(carry, (batch, key))
            # the optimizer's state: after clipping's, where the cohort clips
            injected = next(s for s in carry[2] if hasattr(s, "hyperparams"))
            rates.append(float(injected.hyperparams["learning_rate"]))
    return np.array(rates), per_epoch


def test_exponential_decay_is_per_epoch(iris: Dataset) -> None:
    rates, per_epoch = learning_rates(iris, {"schedule": "exponential", "decay_rate": 0.5})
    expected = BASE_LR * 0.5 ** (np.arange(len(rates)) / per_epoch)
    np.testing.assert_allclose(rates, expected, rtol=1e-5)


def test_step_decay_drops_every_step_epochs(iris: Dataset) -> None:
    rates, per_epoch = learning_rates(
        iris, {"schedule": "step", "step_epochs": 2, "step_factor": 0.1}
    )
    expected = BASE_LR * 0.1 ** (np.arange(len(rates)) // (2 * per_epoch))
    np.testing.assert_allclose(rates, expected, rtol=1e-5)


def test_onecycle_rises_to_its_peak_and_anneals(iris: Dataset) -> None:
    rates, per_epoch = learning_rates(iris, {"schedule": "onecycle", "onecycle_peak": 10.0})
    total = per_epoch * EPOCHS
    peak_step = int(0.3 * total)  # optax's default pct_start
    assert rates[0] == pytest.approx(BASE_LR * 10 / 25, rel=1e-5)  # div_factor 25
    assert rates[peak_step] == pytest.approx(BASE_LR * 10, rel=1e-5)
    assert np.all(np.diff(rates[: peak_step + 1]) > 0) and np.all(np.diff(rates[peak_step:]) < 0)


def test_constant_and_plateau_keep_the_injected_rate(iris: Dataset) -> None:
    for values in ({}, {"schedule": "plateau", "plateau_factor": 0.5, "plateau_patience": 1}):
        rates, _ = learning_rates(iris, values)
        np.testing.assert_allclose(rates, BASE_LR, rtol=1e-6)  # plateau scales the updates


ALL_KINDS = [
    {"schedule": "constant"},
    {"schedule": "exponential", "decay_rate": 0.8},
    {"schedule": "step", "step_epochs": 3, "step_factor": 0.3},
    {"schedule": "plateau", "plateau_factor": 0.1, "plateau_patience": 2},
    {"schedule": "onecycle", "onecycle_peak": 3.0},
]


def test_members_with_different_schedules_share_one_program_and_keep_their_own_rates() -> None:
    """Every kind in one cohort; each member's rate, step by step, is its own schedule's."""
    configs = [resolve({"learning_rate": BASE_LR} | kind, "multiclass", 3) for kind in ALL_KINDS]
    palette = Palette.of(configs)
    assert len({cohort_of(c, "multiclass", palette) for c in configs}) == 1
    cohort = cohort_of(configs[0], "multiclass", palette)
    assert cohort.scheduled
    hyper = stack_hypers([member_hyper(c, np.zeros(3), cohort) for c in configs])
    per_epoch, total = 7, 70

    def rates(member: Hyper) -> jax.Array:
        rate = schedules.learning_rate(
            True, member.learning_rate, member.schedule, per_epoch, total
        )
        return jax.vmap(rate)(jnp.arange(total))

    got = np.asarray(jax.jit(jax.vmap(rates))(hyper))
    count = np.arange(total)
    expected = [
        np.full(total, BASE_LR),
        BASE_LR * 0.8 ** (count / per_epoch),
        BASE_LR * 0.3 ** (count // (3 * per_epoch)),
        np.full(total, BASE_LR),  # plateau scales the updates instead
        np.asarray(jax.vmap(optax.cosine_onecycle_schedule(total, BASE_LR * 3.0))(count)),
    ]
    np.testing.assert_allclose(got, np.stack(expected), rtol=1e-5)


def update_scales(tx: optax.GradientTransformationExtraArgs, losses: np.ndarray) -> np.ndarray:
    """The factor ``tx`` multiplies a unit update by at each step, fed ``losses``."""
    params = {"w": jnp.ones(3)}

    def step(state: Any, loss: jax.Array) -> tuple[Any, jax.Array]:
        updates, state = tx.update(params, state, params, value=loss)
        return state, updates["w"][0]

    return np.asarray(jax.jit(lambda: jax.lax.scan(step, tx.init(params), losses)[1])())


@pytest.mark.parametrize(("factor", "patience"), [(0.1, 1), (0.3, 2), (0.5, 3)])
def test_plateau_scales_updates_as_optax_does_with_the_members_factor(
    factor: float, patience: int
) -> None:
    """The same losses fed to optax's reduce_on_plateau at the member's own factor and to the
    member's transformation (optax's at a reference factor, mapped) scale updates alike; a
    member of another kind is never scaled."""
    per_epoch = 2
    losses = np.repeat(
        np.float32([5.0, 4.0, 4.0, 4.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 2.0]), per_epoch
    )
    own = schedules.schedule_hyper(
        Schedule("plateau", (("plateau_factor", factor), ("plateau_patience", patience)))
    )
    other = schedules.schedule_hyper(Schedule("exponential", (("decay_rate", 0.5),)))
    reference = optax.contrib.reduce_on_plateau(
        factor=factor, patience=patience, accumulation_size=per_epoch
    )
    expected = update_scales(reference, losses)
    assert expected.min() < 1.0  # the losses plateau long enough to reduce the rate
    np.testing.assert_allclose(
        update_scales(schedules.plateau(True, own, per_epoch), losses), expected, rtol=1e-5
    )
    assert (update_scales(schedules.plateau(True, other, per_epoch), losses) == 1.0).all()
