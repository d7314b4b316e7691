"""Populations: padding, and the member axis split over several devices."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from jaxsweep.search.member_config import resolve
from jaxsweep.search.population import Palette, cohort_of, member_hyper, padded_size, stack_hypers
from jaxsweep.search.space import load_space, parse_space
from tests.conftest import REPO, cpu_only

ARTICLE = REPO / "search_spaces" / "article.yaml"

# Trains 33 iris members (a count 4 devices do not divide), some with LR schedules, and prints
# their histories.
SCRIPT = """
import json, jax
from jaxsweep.config import DataConfig
from jaxsweep.data.dataset import load_dataset
from jaxsweep.search.population import *
from jaxsweep.engine.placement import spread
from jaxsweep.search.member_config import resolve
from jaxsweep.engine.cohort import Settings
from jaxsweep.engine.train import population_trainer
iris = load_dataset(DataConfig(source="iris"), 0)
kinds = ("constant", "plateau", "onecycle")  # optax's plateau has lax.conds in its update
configs = [resolve({"units": 8, "learning_rate": 10 ** (-3 + i / 16), "schedule": kinds[i % 3]},
                   "multiclass", 3) for i in range(33)]
settings = Settings("accuracy", True, None, 0.0, train_rows=len(iris.train.y), epochs=3)
cohort = cohort_of(configs[0], "multiclass", Palette.of(configs))
trainer = population_trainer(cohort, settings)
devices = devices_for(len(configs))
size = padded_size(len(configs), devices)
configs += [configs[-1]] * (size - len(configs))
hyper = stack_hypers([member_hyper(c, iris.train.y, cohort) for c in configs], devices)
keys = spread(member_keys(0, list(range(size))), devices)
state, history = trainer.run(trainer.init(keys, hyper, iris.train.X[:1]), hyper,
                             device_data(iris), 3)
print(json.dumps({"devices": devices, "shards": len(state.best_score.sharding.device_set),
                  "loss": history["loss"][:33].tolist()}))
"""


def run_here() -> dict:
    """The same script in this process (pytest starts JAX with a single CPU device)."""
    printed: list[str] = []
    exec(SCRIPT.replace("print(", "printed.append("), {"printed": printed})
    return json.loads(printed[-1])


def run_on(devices: int) -> dict:
    flags = f"{os.environ.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}"
    env = os.environ | {"XLA_FLAGS": flags.strip()}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.splitlines()[-1])


def test_padded_sizes_are_few_and_fill_every_device() -> None:
    sizes = {1: 1, 2: 2, 3: 4, 5: 8, 8: 8, 9: 16, 16: 16, 17: 24, 51: 56}  # then multiples of 8
    assert {n: padded_size(n) for n in sizes} == sizes
    assert padded_size(1, devices=4) == 4 and padded_size(33, devices=4) == 40
    assert padded_size(5, devices=3) == 9  # a multiple of the device count
    assert padded_size(17, devices=16) == 32


@pytest.mark.contract
@cpu_only
def test_four_devices_give_the_results_of_one() -> None:
    assert jax.local_device_count() == 1
    one, four = run_here(), run_on(4)
    assert (one["devices"], four["devices"], four["shards"]) == (1, 4, 4)
    np.testing.assert_allclose(four["loss"], one["loss"], rtol=1e-6)


def test_a_program_holds_dropout_and_clipping_only_where_the_space_can_use_them() -> None:
    bare = parse_space("bare", {"units": 8, "learning_rate": 0.01}, "multiclass")
    switched_off = parse_space(  # switches on, but a rate of 0 and an infinite norm
        "off", {"use_dropout": True, "dropout": 0.0, "clipping": False}, "multiclass"
    )
    for space in (bare, switched_off):
        palette = Palette.of_space(space)
        assert not palette.dropout and not palette.clipping
    article = Palette.of_space(load_space(ARTICLE, "multiclass"))
    assert article.dropout and article.clipping and article.batch_norm
    assert len(article.activations) == 9 and len(article.optimizers) == 6


def test_only_a_cohort_of_several_depths_tests_a_blocks_reach() -> None:
    """A layer up to the shallowest member's depth is computed without a conditional."""
    article = load_space(ARTICLE, "multiclass")
    assert (article.lowest("n_layers"), article.highest("n_layers")) == (1, 5)
    member = resolve({"n_layers": 2, "units": 64}, "multiclass", 10)
    assert cohort_of(member, "multiclass", Palette.of_space(article)).layout.shallowest == 1
    fixed = parse_space("fixed", {"n_layers": 2, "units": 64}, "multiclass")
    assert cohort_of(member, "multiclass", Palette.of_space(fixed)).layout.shallowest == 2
    deeper = Palette.of([resolve({"n_layers": 3}, "multiclass", 10), member])
    assert (deeper.shallowest, deeper.depth) == (2, 3)
    assert (Palette.schedules_only() | deeper).shallowest == 2  # no members: no bound


def test_stacking_a_populations_hyperparameters_compiles_nothing() -> None:
    """They are stacked on the host and placed with one transfer a field: no program is traced
    for a field's shape (13 members: shapes no other test makes)."""
    configs = [resolve({"units": 8, "learning_rate": 10.0**-k}, "multiclass", 3) for k in range(13)]
    cohort = cohort_of(configs[0], "multiclass")
    traced: list[str] = []

    def listen(event: str, _duration: float, **_: object) -> None:
        if event == "/jax/core/compile/jaxpr_trace_duration":
            traced.append(event)

    jax.monitoring.register_event_duration_secs_listener(listen)
    try:
        hyper = stack_hypers([member_hyper(c, np.zeros(3), cohort) for c in configs])
    finally:
        jax.monitoring.unregister_event_duration_listener(listen)
    assert traced == []
    assert isinstance(hyper.learning_rate, jax.Array) and hyper.learning_rate.shape == (13,)
    np.testing.assert_allclose(np.asarray(hyper.learning_rate), [10.0**-k for k in range(13)])


def test_regression_members_that_differ_in_loss_and_output_share_one_program() -> None:
    space = load_space(REPO / "search_spaces" / "article.yaml", "regression")
    palette = Palette.of_space(space)
    pairs = [("mse", "linear"), ("mae", "tanh"), ("huber", "softplus")]
    configs = [
        resolve({"loss": loss, "output_activation": output, "batch_size": 16}, "regression", 1)
        for loss, output in pairs
    ]
    cohorts = {cohort_of(config, "regression", palette) for config in configs}
    assert len(cohorts) == 1
    (cohort,) = cohorts
    assert cohort.losses == ("mse", "mae", "huber")
    assert cohort.outputs == ("linear", "tanh", "sigmoid", "softplus")
    for config, pair in zip(configs, pairs, strict=True):
        hyper = member_hyper(config, np.arange(3.0), cohort)
        assert (cohort.losses[hyper.loss], cohort.outputs[hyper.output]) == pair
    # A classification member holds its task's own loss and output, whatever the space lists.
    digits = cohort_of(resolve({}, "multiclass", 10), "multiclass", palette)
    assert (digits.losses, digits.outputs) == (("cross_entropy",), ("softmax",))
