"""A population trained in blocks, on a CPU, trains like the same population vmapped at once."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsweep.data import Dataset
from jaxsweep.placement import PopulationRun, block_size
from jaxsweep.population import (
    Palette,
    cohort_of,
    device_data,
    hyper_of,
    member_keys,
    stack_hypers,
)
from jaxsweep.space import resolve
from jaxsweep.train import Settings, make_trainer, population_trainer
from tests.conftest import cpu_only

pytestmark = cpu_only

SETTINGS = Settings("accuracy", maximize=True, patience=None, min_delta=0.0, record_steps=True)
CHOICES = [
    {"activation": "relu", "optimizer": "adam", "learning_rate": 3e-3},
    # Batch norm with SGD: batch norm leaves the bias before it no gradient but rounding, which
    # SGD's step keeps that small; Adam-like steps are scale-free and would make it lr-sized.
    {
        "activation": "tanh",
        "optimizer": "sgd",
        "momentum": 0.9,
        "learning_rate": 0.05,
        "batch_norm": True,
    },
    {"activation": "selu", "optimizer": "nadam", "learning_rate": 1e-3, "dropout": 0.2},
    {"activation": "gelu", "optimizer": "rmsprop", "learning_rate": 1e-3, "n_layers": 1},
    {"activation": "prelu", "optimizer": "adamax", "learning_rate": 2e-3},
    {"activation": "rrelu", "optimizer": "sgd", "learning_rate": 1e4},  # diverges
]


def test_block_size_is_the_largest_divisor_that_fits() -> None:
    params = {"kernel": jnp.zeros((12, 100))}  # 100 weights a member: 1,600 bytes with Adam
    assert block_size(12, params, block_bytes=1_600 * 5) == 4  # 5 fit; 4 divides 12
    assert block_size(12, params, block_bytes=1) == 1
    assert block_size(12, params, block_bytes=1 << 40) == 12  # all: one vmapped program


def _population(iris: Dataset) -> tuple:
    """CHOICES as one cohort's population: its state, hyperparameters and member trainer."""
    configs = [
        resolve({"n_layers": 2, "units": 8, "batch_size": 16} | c, "multiclass", 3) for c in CHOICES
    ]
    cohort = cohort_of(configs[0], "multiclass", Palette.of(configs))
    hyper = stack_hypers([hyper_of(c, iris.train.y, cohort) for c in configs])
    state = population_trainer(cohort, SETTINGS).init(
        member_keys(0, list(range(len(configs)))), hyper, jnp.asarray(iris.train.X[:1])
    )
    weights = sum(leaf[0].size for leaf in jax.tree.leaves(state.params))
    return cohort, state, hyper, make_trainer(cohort, SETTINGS).run, weights


@pytest.mark.parametrize("block", [1, 3])
def test_blocks_train_like_the_whole_population_vmapped(iris: Dataset, block: int) -> None:
    cohort, state, hyper, member, weights = _population(iris)
    blocked = PopulationRun(member, cohort, block_bytes=block * weights * 16)
    assert block_size(len(CHOICES), state.params, blocked.block_bytes) == block
    whole = PopulationRun(member, cohort, block_bytes=1 << 40)
    data = device_data(iris)
    ours, theirs = blocked(state, hyper, data, 3), whole(state, hyper, data, 3)
    assert np.asarray(theirs[0].diverged).tolist() == [False] * 5 + [True]
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


def test_a_block_of_stopped_members_is_passed_over(iris: Dataset) -> None:
    """Slots left empty and trials already told cost a block nothing; the block holding a
    live member trains it as before."""
    cohort, state, hyper, member, weights = _population(iris)
    state = state._replace(stopped=jnp.asarray([False, True, True, True, True, True]))
    blocked = PopulationRun(member, cohort, block_bytes=3 * weights * 16)  # blocks of 3
    whole = PopulationRun(member, cohort, block_bytes=1 << 40)
    data = device_data(iris)
    (ours, history), (theirs, their_history) = (
        run(state, hyper, data, 2) for run in (blocked, whole)
    )
    for a, b, before in zip(*map(jax.tree.leaves, (ours, theirs, state)), strict=True):
        np.testing.assert_allclose(np.asarray(a)[:3], np.asarray(b)[:3], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(np.asarray(a)[3:], np.asarray(before)[3:])  # kept
    assert np.asarray(history["trained"]).tolist() == [[True, True]] + [[False, False]] * 5
    assert np.isnan(np.asarray(history["loss"])[3:]).all()  # the second block never ran
    assert np.isfinite(np.asarray(their_history["loss"])[3:5]).all()  # vmapped, it ran


def test_a_block_computes_no_layer_past_its_deepest_member(iris: Dataset) -> None:
    """A layer past every member of a block is not computed: NaN planted in the unused second
    layer of the one-layer member reaches its gradients when it shares the program with
    two-layer members, and is never touched in a block of its own."""
    cohort, state, hyper, member, weights = _population(iris)
    shallow = 3  # CHOICES' one-layer member
    assert np.asarray(hyper.arch.depth).tolist() == [2, 2, 2, 1, 2, 2]
    kernel = state.params["kernel_1"].at[shallow].set(jnp.nan)
    state = state._replace(params=state.params | {"kernel_1": kernel})
    blocked = PopulationRun(member, cohort, block_bytes=weights * 16)  # blocks of 1
    whole = PopulationRun(member, cohort, block_bytes=1 << 40)
    data = device_data(iris)
    (ours, history), (theirs, _) = (run(state, hyper, data, 2) for run in (blocked, whole))
    assert bool(np.asarray(theirs.diverged)[shallow])  # computed: 0 x NaN in the backward pass
    assert not bool(np.asarray(ours.diverged)[shallow])
    assert np.isfinite(np.asarray(history["loss"])[shallow]).all()
