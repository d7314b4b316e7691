"""A population trained in blocks, on a CPU, trains like the same population vmapped at once."""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsweep.data.dataset import Dataset
from jaxsweep.engine.cohort import Cohort, Data, Hyper, MemberState, Settings
from jaxsweep.engine.placement import PopulationRun, block_size
from jaxsweep.engine.train import make_trainer, population_trainer
from jaxsweep.search.member_config import resolve
from jaxsweep.search.population import (
    Palette,
    cohort_of,
    device_data,
    member_hyper,
    member_keys,
    stack_hypers,
)
from tests.conftest import cpu_only

pytestmark = cpu_only

EPOCHS = 3  # the tests' calls (each epoch count compiles a program of its own)
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


class Population(NamedTuple):
    """CHOICES as one cohort's population, with runs that share their compiled programs."""

    cohort: Cohort
    state: MemberState
    hyper: Hyper
    data: Data
    weights: int  # a member's
    runs: dict[int | None, PopulationRun]  # by block size; None: the whole population vmapped


@pytest.fixture(scope="module")
def population(iris: Dataset) -> Population:
    configs = [
        resolve({"n_layers": 2, "units": 8, "batch_size": 16} | c, "multiclass", 3) for c in CHOICES
    ]
    cohort = cohort_of(configs[0], "multiclass", Palette.of(configs))
    hyper = stack_hypers([member_hyper(c, iris.train.y, cohort) for c in configs])
    state = population_trainer(cohort, SETTINGS).init(
        member_keys(0, list(range(len(configs)))), hyper, jnp.asarray(iris.train.X[:1])
    )
    weights = sum(leaf[0].size for leaf in jax.tree.leaves(state.params))
    member = make_trainer(cohort, SETTINGS).run
    budgets = {1: weights * 16, 3: 3 * weights * 16, None: 1 << 40}  # 16 bytes a weight (Adam)
    runs = {block: PopulationRun(member, cohort, block_bytes=b) for block, b in budgets.items()}
    return Population(cohort, state, hyper, device_data(iris), weights, runs)


@pytest.mark.contract
@pytest.mark.parametrize("block", [1, 3])
def test_blocks_train_like_the_whole_population_vmapped(population: Population, block: int) -> None:
    state, hyper, data, runs = population.state, population.hyper, population.data, population.runs
    assert block_size(len(CHOICES), state.params, runs[block].block_bytes) == block
    ours, theirs = runs[block](state, hyper, data, EPOCHS), runs[None](state, hyper, data, EPOCHS)
    assert np.asarray(theirs[0].diverged).tolist() == [False] * 5 + [True]
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(theirs), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("epochs", [1, EPOCHS])  # one: the calls of a pruned sweep
def test_a_block_of_stopped_members_is_passed_over(population: Population, epochs: int) -> None:
    """Slots left empty and trials already told cost a block nothing; the block holding a
    live member trains it as before."""
    stopped = jnp.asarray([False, True, True, True, True, True])
    state = population.state._replace(stopped=stopped)
    (ours, history), (theirs, their_history) = (
        population.runs[block](state, population.hyper, population.data, epochs)
        for block in (3, None)
    )
    for a, b, before in zip(*map(jax.tree.leaves, (ours, theirs, state)), strict=True):
        np.testing.assert_allclose(np.asarray(a)[:3], np.asarray(b)[:3], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(np.asarray(a)[3:], np.asarray(before)[3:])  # kept
    assert np.asarray(history["trained"]).tolist() == [[True] * epochs] + [[False] * epochs] * 5
    assert np.isnan(np.asarray(history["loss"])[3:]).all()  # the second block never ran
    assert np.isfinite(np.asarray(their_history["loss"])[3:5]).all()  # vmapped, it ran


def test_a_block_computes_no_layer_past_its_deepest_member(population: Population) -> None:
    """A layer past every member of a block is not computed: NaN planted in the unused second
    layer of the one-layer member reaches its gradients when it shares the program with
    two-layer members, and is never touched in a block of its own."""
    shallow = 3  # CHOICES' one-layer member
    assert np.asarray(population.hyper.arch.depth).tolist() == [2, 2, 2, 1, 2, 2]
    params = population.state.params
    kernel = params["kernel_1"].at[shallow].set(jnp.nan)
    state = population.state._replace(params=params | {"kernel_1": kernel})
    (ours, history), (theirs, _) = (
        population.runs[block](state, population.hyper, population.data, EPOCHS)
        for block in (1, None)
    )
    assert bool(np.asarray(theirs.diverged)[shallow])  # computed: 0 x NaN in the backward pass
    assert not bool(np.asarray(ours.diverged)[shallow])
    assert np.isfinite(np.asarray(history["loss"])[shallow]).all()


def test_a_blocks_training_is_traced_once(population: Population) -> None:
    """A block's program is traced once, though it holds two branches (train, or pass over
    a block of stopped members): the article space's programs took twice as long to trace
    when the idle branch traced the training again for its shapes."""
    traces = []
    member = make_trainer(population.cohort, SETTINGS).run

    def counted(*args: object) -> object:
        traces.append(args)
        return member(*args)

    run = PopulationRun(counted, "counted", block_bytes=3 * population.weights * 16)
    state, hyper, data = population.state, population.hyper, population.data
    # traced only (a call's placement cannot be read off tracers: one device's share)
    history = jax.eval_shape(lambda s: run._local(s, hyper, data, EPOCHS), state)[1]
    assert len(traces) == 1
    assert history["loss"].shape == (len(CHOICES), EPOCHS)
