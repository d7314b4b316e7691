"""The contract of the engine: a member of a vmapped population trains like itself alone."""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsweep.config import DataConfig
from jaxsweep.data.dataset import Dataset, load_dataset
from jaxsweep.engine.cohort import Cohort, Data, Hyper, Settings
from jaxsweep.engine.train import make_trainer, population_trainer
from jaxsweep.engine.vocabulary import ACTIVATIONS, INITIALIZERS, OPTIMIZERS
from jaxsweep.search.member_config import MemberConfig, resolve
from jaxsweep.search.population import (
    Palette,
    cohort_of,
    device_data,
    member_hyper,
    member_keys,
    stack_hypers,
)

# Step losses of the first epoch must agree to float32 rounding (vmap may reorder sums).
STEP_RTOL, STEP_ATOL = 1e-5, 1e-6
# Products in float32 on every backend: on a GPU, JAX multiplies float32 matrices at TF32 by
# default, and a padded product then rounds unlike its unpadded one (2e-5 relative on an H200).
FLOAT32_PRODUCTS = "float32"
# Final accuracy after many epochs: rounding differences grow, so allow one validation row.
FINAL_ACCURACY_TOL = 1 / 30 + 1e-6

SETTINGS = Settings("accuracy", maximize=True, patience=None, min_delta=0.0, record_steps=True)


def population(dataset: Dataset, configs: list[MemberConfig], settings: Settings = SETTINGS):
    cohort = cohort_of(configs[0], dataset.task, Palette.of(configs))
    hyper = stack_hypers([member_hyper(c, dataset.train.y, cohort) for c in configs])
    keys = member_keys(0, list(range(len(configs))))
    return cohort, hyper, keys


# One program for all: every activation and optimizer, both initializer flavours, batch norm,
# standard and alpha dropout, clipping, depths 1-5 and constant and funnel widths.
MIXED = [
    {"activation": "sigmoid", "optimizer": "sgd", "momentum": 0.9, "learning_rate": 0.05},
    {
        "activation": "tanh",
        "optimizer": "sgd",
        "nesterov": True,
        "momentum": 0.95,
        "n_layers": 3,
        "units": 12,
        "width_shape": "funnel",
        "batch_norm": True,
    },
    {"activation": "relu", "optimizer": "adam", "units": 16, "use_dropout": True, "dropout": 0.2},
    {
        "activation": "leaky_relu",
        "optimizer": "nadam",
        "n_layers": 4,
        "units": 9,
        "init_distribution": "uniform",
    },
    {
        "activation": "elu",
        "optimizer": "rmsprop",
        "units": 20,
        "batch_norm": True,
        "learning_rate": 1e-3,
    },
    {
        "activation": "selu",
        "optimizer": "adamax",
        "n_layers": 3,
        "units": 10,
        "use_dropout": True,
        "dropout": 0.1,
    },
    {
        "activation": "gelu",
        "optimizer": "adam",
        "n_layers": 5,
        "units": 6,
        "clipping": True,
        "clip_norm": 0.5,
    },
    {
        "activation": "rrelu",
        "optimizer": "adam",
        "units": 14,
        "batch_norm": True,
        "use_dropout": True,
        "dropout": 0.3,
        "init_distribution": "uniform",
    },
    {"activation": "prelu", "optimizer": "nadam", "n_layers": 1, "units": 25},
]
PADDED = (5, 32)  # depth and width every member is laid out at
REGRESSION = [("mse", "linear"), ("mae", "tanh"), ("huber", "sigmoid"), ("mse", "softplus")]


def mixed_population(dataset: Dataset) -> tuple[list[MemberConfig], Cohort, Cohort]:
    defaults = {"n_layers": 2, "units": 8, "batch_size": 16, "learning_rate": 3e-3}
    configs = [resolve(defaults | values, dataset.task, dataset.output_dim) for values in MIXED]
    cohort = cohort_of(configs[0], dataset.task, Palette.of(configs))
    padded = replace(cohort, layout=replace(cohort.layout, depth=PADDED[0], width=PADDED[1]))
    return configs, cohort, padded


def alone(config: MemberConfig, task: str) -> Cohort:
    """The member's own network: its exact depth and width, its own choices only."""
    cohort = cohort_of(config, task)
    widths = config.model.widths
    return replace(cohort, layout=replace(cohort.layout, depth=len(widths), width=max(widths)))


@pytest.fixture(scope="module")
def padded_run(iris: Dataset) -> tuple[list[MemberConfig], jax.Array, Any, Any, Any]:
    """The mixed population trained padded, once a test process: its configs, keys, initial
    parameters, final state and history."""
    configs, _, cohort = mixed_population(iris)
    assert len({c.model.widths for c in configs}) == len(configs)  # all shapes differ
    hyper = stack_hypers([member_hyper(c, iris.train.y, cohort) for c in configs])
    keys = member_keys(0, list(range(len(configs))))
    data = device_data(iris)
    trainer = population_trainer(cohort, SETTINGS)
    with jax.default_matmul_precision(FLOAT32_PRODUCTS):
        start = trainer.init(keys, hyper, data.X_train[:1])
        state, history = trainer.run(start, hyper, data, EPOCHS)
    return configs, keys, start.params, state, history


# Two halves, so that the suite's two processes share the ten programs this test compiles.
@pytest.mark.contract
@pytest.mark.parametrize("members", [range(0, 5), range(5, len(MIXED))], ids=["0-4", "5-8"])
def test_a_padded_member_trains_like_the_same_network_built_alone(
    iris: Dataset, padded_run: tuple, members: range
) -> None:
    configs, keys, start_params, state, history = padded_run
    data = device_data(iris)
    padded_start = dict(jax.tree_util.tree_leaves_with_path(start_params))
    for i in members:
        config = configs[i]
        own = alone(config, iris.task)
        own_hyper = jax.tree.map(
            lambda a: a[0], stack_hypers([member_hyper(config, iris.train.y, own)])
        )
        with jax.default_matmul_precision(FLOAT32_PRODUCTS):
            own_start, own_history = train_alone(own, keys[i], own_hyper, data)
        for path, value in jax.tree_util.tree_leaves_with_path(own_start):
            corner = tuple(slice(0, n) for n in np.shape(value))  # the same initial weights
            np.testing.assert_array_equal(value, padded_start[path][i][corner], str(path))
        np.testing.assert_allclose(  # the first epoch, step by step
            own_history["step_losses"][0],
            history["step_losses"][i, 0],
            rtol=STEP_RTOL,
            atol=STEP_ATOL,
        )
        gap = abs(float(own_history["accuracy"][-1]) - float(history["accuracy"][i, -1]))
        assert gap <= FINAL_ACCURACY_TOL, (config.model.activation, gap)
        assert_padding_is_zero(jax.tree.map(lambda a, i=i: a[i], state.params), config)


EPOCHS = 15


@functools.partial(jax.jit, static_argnums=0)
def train_alone(cohort: Cohort, key: jax.Array, hyper: Hyper, data: Data) -> tuple[Any, Any]:
    """One member alone, in one program: its initial parameters and its history."""
    trainer = make_trainer(cohort, SETTINGS)
    start = trainer.init(key, hyper, data.X_train[:1])
    return start.params, trainer.run(start, hyper, data, EPOCHS)[1]


def assert_padding_is_zero(params: dict, config: MemberConfig) -> None:
    """Weights outside the member's own network are exactly zero after training."""
    widths = config.model.widths
    fan_in = params["kernel_0"].shape[0]
    for layer in range(PADDED[0]):
        kernel = np.asarray(params[f"kernel_{layer}"])
        if layer >= len(widths):
            assert not kernel.any() and not np.asarray(params[f"bias_{layer}"]).any()
            continue
        real = np.zeros_like(kernel, bool)
        real[:fan_in, : widths[layer]] = True
        assert not kernel[~real].any(), layer
        assert not np.asarray(params[f"bias_{layer}"])[widths[layer] :].any()
        fan_in = widths[layer]
    assert not np.asarray(params["kernel_out"])[widths[-1] :].any()


def option_groups() -> list[tuple[str, list[dict]]]:
    """Every activation, initializer, optimizer and loss at least once, in few programs: the
    iris members share one, the regression members another (their choices are per-member
    indices)."""
    activations, initializers, optimizers = ACTIVATIONS, INITIALIZERS[1:], OPTIMIZERS
    iris = [
        {
            "activation": activation,
            "initializer": initializers[i % len(initializers)],
            "optimizer": optimizers[i % len(optimizers)],
            "n_layers": 1,
            "use_dropout": True,
            "dropout": 0.2,
            "batch_norm": i % 2 == 0,
            "clipping": True,
            "clip_norm": 1.0,
            "nesterov": i % 2 == 1,
            "learning_rate": 0.01,  # SGD at the default 1e-3 barely moves in 2 epochs
        }
        for i, activation in enumerate(activations)
    ]
    regression = [{"loss": loss, "output_activation": output} for loss, output in REGRESSION]
    binary = ("breast_cancer", [{"optimizer": "sgd", "learning_rate": 0.01}])
    return [("iris", iris), ("diabetes", regression), binary]


@pytest.mark.parametrize(("source", "group"), option_groups(), ids=lambda v: str(v)[:60])
def test_every_option_trains_to_a_loss_below_its_loss_at_initialisation(
    source: str, group: list[dict]
) -> None:
    dataset = load_dataset(DataConfig(source=source), seed=0)
    settings = Settings("loss", maximize=False, patience=None, min_delta=0.0)

    def validation_losses(learning_rate: float | None) -> np.ndarray:
        """Each member's validation loss after each of 2 epochs (same keys: same initial
        weights); a learning rate of 1e-12 leaves the weights where they started."""
        rate = {} if learning_rate is None else {"learning_rate": learning_rate}
        configs = [
            resolve(
                {"units": 8, "batch_size": 32} | values | rate, dataset.task, dataset.output_dim
            )
            for values in group
        ]
        cohort, hyper, keys = population(dataset, configs, settings)
        trainer = population_trainer(cohort, settings)
        example = jnp.asarray(dataset.train.X[:1])
        state, history = trainer.run(
            trainer.init(keys, hyper, example), hyper, device_data(dataset), 2
        )
        assert not np.asarray(state.diverged).any()
        assert np.all(np.isfinite(history["train_loss"]))
        return np.asarray(history["loss"])

    # at initialisation: the initial weights, with batch norm's statistics of the same epochs
    initial = validation_losses(1e-12)[:, -1]
    trained = validation_losses(None)[:, -1]
    assert np.all(np.isfinite(initial)) and np.all(np.isfinite(trained))
    assert np.all(trained < initial), (trained, initial)


def test_new_hyperparameters_do_not_recompile(iris: Dataset) -> None:
    settings = Settings("accuracy", maximize=True, patience=3, min_delta=0.0)
    first = [resolve({"learning_rate": lr, "units": 8}, "multiclass", 3) for lr in (1e-3, 1e-2)]
    second = [resolve({"learning_rate": lr, "units": 8}, "multiclass", 3) for lr in (5e-4, 0.1)]
    trainer = population_trainer(population(iris, first, settings)[0], settings)
    for configs in (first, second):
        _, hyper, keys = population(iris, configs, settings)
        trainer.run(
            trainer.init(keys, hyper, jnp.asarray(iris.train.X[:1])), hyper, device_data(iris), 2
        )
    assert trainer.run.compilations() == 1


def test_early_stopping_keeps_the_best_epoch(iris: Dataset) -> None:
    settings = Settings("accuracy", maximize=True, patience=3, min_delta=0.0)
    configs = [
        resolve({"learning_rate": lr, "units": 8, "optimizer": "sgd"}, "multiclass", 3)
        for lr in (0.5, 0.05)
    ]
    cohort, hyper, keys = population(iris, configs, settings)
    trainer = population_trainer(cohort, settings)
    state, history = trainer.run(
        trainer.init(keys, hyper, jnp.asarray(iris.train.X[:1])), hyper, device_data(iris), 40
    )
    for i in range(2):
        trained = np.asarray(history["trained"][i])
        accuracy = np.asarray(history["accuracy"][i])[trained]
        assert float(state.best_score[i]) == pytest.approx(accuracy.max())
        assert int(state.best_epoch[i]) == int(np.argmax(accuracy)) + 1
        # iris's 30 validation rows stop improving long before 40 epochs: each member stops,
        # exactly `patience` epochs after its best, and trains no epoch after that
        assert int(state.epoch[i]) == int(state.best_epoch[i]) + 3 < 40
        assert trained.tolist() == [True] * int(state.epoch[i]) + [False] * (
            40 - int(state.epoch[i])
        )


@pytest.mark.contract
def test_a_diverging_member_is_flagged_and_leaves_the_others_bit_identical(
    diabetes: Dataset,
) -> None:
    # Regression with MSE: at learning rate 10 the error feeds the gradient and overflows.
    settings = Settings("rmse", maximize=False, patience=None, min_delta=0.0)
    calm = [
        resolve({"optimizer": "sgd", "learning_rate": lr, "units": 8}, "regression", 1)
        for lr in (0.01, 0.003)
    ]
    wild = resolve({"optimizer": "sgd", "learning_rate": 10.0, "units": 8}, "regression", 1)
    trainer = population_trainer(population(diabetes, calm, settings)[0], settings)
    runs = []
    for configs in (calm + calm, [*calm, wild, wild]):
        _, hyper, keys = population(diabetes, configs, settings)
        state = trainer.init(keys, hyper, jnp.asarray(diabetes.train.X[:1]))
        runs.append(trainer.run(state, hyper, device_data(diabetes), 5))
    (quiet_state, quiet), (noisy_state, noisy) = runs
    assert bool(noisy_state.diverged[2]) and bool(noisy_state.stopped[2])
    assert not bool(quiet_state.diverged.any())
    for name in ("loss", "rmse", "train_loss"):
        np.testing.assert_array_equal(quiet[name][:2], noisy[name][:2])
    np.testing.assert_array_equal(quiet_state.best_score[:2], noisy_state.best_score[:2])


@pytest.mark.contract
def test_a_regression_member_trains_like_itself_alone_beside_other_losses_and_outputs(
    diabetes: Dataset,
) -> None:
    settings = Settings("rmse", maximize=False, patience=None, min_delta=0.0, record_steps=True)
    values = {"units": 8, "batch_size": 16, "learning_rate": 3e-3}
    configs = [
        resolve(values | {"loss": loss, "output_activation": output}, "regression", 1)
        for loss, output in REGRESSION
    ]
    cohort, hyper, keys = population(diabetes, configs, settings)
    assert (len(cohort.losses), len(cohort.outputs)) == (3, 4)  # one program holds them all
    data = device_data(diabetes)
    together = population_trainer(cohort, settings)
    start = together.init(keys, hyper, data.X_train[:1])
    _, history = together.run(start, hyper, data, 2)
    for i, config in enumerate(configs):
        own = cohort_of(config, "regression")
        assert (len(own.losses), len(own.outputs)) == (1, 1)
        own_hyper = jax.tree.map(
            lambda a: a[0], stack_hypers([member_hyper(config, diabetes.train.y, own)])
        )
        trainer = make_trainer(own, settings)
        member = trainer.init(keys[i], own_hyper, data.X_train[:1])
        _, alone = jax.jit(trainer.run, static_argnums=3)(member, own_hyper, data, 2)
        np.testing.assert_allclose(
            alone["step_losses"], history["step_losses"][i], rtol=STEP_RTOL, atol=STEP_ATOL
        )
        np.testing.assert_allclose(alone["rmse"], history["rmse"][i], rtol=1e-5)
