"""The contract of the engine: a member of a vmapped population trains like itself alone."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsweep.config import DataConfig
from jaxsweep.data import Dataset, load_dataset
from jaxsweep.population import cohort_of, device_data, hyper_of, member_keys, stack_hypers
from jaxsweep.space import MemberConfig, resolve
from jaxsweep.train import Settings, make_trainer, population_trainer
from jaxsweep.vocabulary import ACTIVATIONS, INITIALIZERS, OPTIMIZERS

# Step losses of the first epoch must agree to float32 rounding (vmap may reorder sums).
STEP_RTOL, STEP_ATOL = 1e-5, 1e-6
# Final accuracy after many epochs: rounding differences grow, so allow one validation row.
FINAL_ACCURACY_TOL = 1 / 30 + 1e-6

SETTINGS = Settings("accuracy", maximize=True, patience=None, min_delta=0.0, record_steps=True)


def population(dataset: Dataset, configs: list[MemberConfig], settings: Settings = SETTINGS):
    cohort = cohort_of(configs[0], dataset.task)
    hyper = stack_hypers([hyper_of(c, dataset.train.y, dataset.task) for c in configs])
    keys = member_keys(0, list(range(len(configs))))
    return cohort, hyper, keys


def test_a_population_member_trains_like_the_same_config_alone(iris: Dataset) -> None:
    base = {
        "n_layers": 2,
        "units": 16,
        "activation": "rrelu",
        "batch_norm": True,
        "use_dropout": True,
        "batch_size": 16,
    }
    configs = [
        resolve(base | {"learning_rate": lr, "dropout": p}, iris.task, 3)
        for lr, p in [(1e-3, 0.1), (3e-3, 0.3), (1e-2, 0.2), (2e-3, 0.5)]
    ]
    cohort, hyper, keys = population(iris, configs)
    data = device_data(iris)
    vmapped = population_trainer(cohort, SETTINGS)
    state = vmapped.init(keys, hyper, data.X_train[:1])
    pop_state, pop_first = vmapped.run(state, hyper, data, 1)
    for _ in range(14):  # chunks of one epoch, as a sweep with a pruner runs them
        pop_state, pop_last = vmapped.run(pop_state, hyper, data, 1)

    alone = make_trainer(cohort, SETTINGS)
    run_alone = jax.jit(alone.run, static_argnums=3)
    for i in range(len(configs)):
        member_hyper = jax.tree.map(lambda a, i=i: a[i], hyper)
        state = alone.init(keys[i], member_hyper, data.X_train[:1])
        state, first = run_alone(state, member_hyper, data, 1)
        np.testing.assert_allclose(
            first["step_losses"], pop_first["step_losses"][i], rtol=STEP_RTOL, atol=STEP_ATOL
        )
        for _ in range(14):
            state, last = run_alone(state, member_hyper, data, 1)
        assert (
            abs(float(last["accuracy"][-1]) - float(pop_last["accuracy"][i, -1]))
            <= FINAL_ACCURACY_TOL
        )


def zipped_configs() -> list[tuple[str, dict]]:
    """Every activation, initializer, optimizer and loss at least once, in few programs."""
    activations, initializers, optimizers = ACTIVATIONS, INITIALIZERS[1:], OPTIMIZERS
    cases = []
    for i, activation in enumerate(activations):
        cases.append(
            (
                "iris",
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
                },
            )
        )
    for loss, output in [
        ("mse", "linear"),
        ("mae", "tanh"),
        ("huber", "sigmoid"),
        ("mse", "softplus"),
    ]:
        cases.append(("diabetes", {"loss": loss, "output_activation": output}))
    cases.append(("breast_cancer", {"optimizer": "sgd", "learning_rate": 0.01}))
    return cases


@pytest.mark.parametrize(("source", "values"), zipped_configs(), ids=lambda v: str(v)[:60])
def test_every_option_builds_and_trains_to_a_finite_loss(source: str, values: dict) -> None:
    dataset = load_dataset(DataConfig(source=source), seed=0)
    config = resolve({"units": 8, "batch_size": 32} | values, dataset.task, dataset.output_dim)
    settings = Settings("loss", maximize=False, patience=None, min_delta=0.0)
    cohort, hyper, keys = population(dataset, [config], settings)
    trainer = population_trainer(cohort, settings)
    state, history = trainer.run(
        trainer.init(keys, hyper, jnp.asarray(dataset.train.X[:1])), hyper, device_data(dataset), 2
    )
    assert np.all(np.isfinite(history["train_loss"])) and np.all(np.isfinite(history["loss"]))
    assert not bool(state.diverged[0])


def test_new_hyperparameters_do_not_recompile(iris: Dataset) -> None:
    settings = Settings("accuracy", maximize=True, patience=3, min_delta=0.0)
    first = [resolve({"learning_rate": lr, "units": 8}, "multiclass", 3) for lr in (1e-3, 1e-2)]
    second = [resolve({"learning_rate": lr, "units": 8}, "multiclass", 3) for lr in (5e-4, 0.1)]
    trainer = population_trainer(cohort_of(first[0], "multiclass"), settings)
    for configs in (first, second):
        _, hyper, keys = population(iris, configs, settings)
        trainer.run(
            trainer.init(keys, hyper, jnp.asarray(iris.train.X[:1])), hyper, device_data(iris), 2
        )
    assert trainer.run._cache_size() == 1


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
        trained = history["trained"][i]
        accuracy = np.asarray(history["accuracy"][i])[trained]
        assert float(state.best_score[i]) == pytest.approx(accuracy.max())
        assert int(state.best_epoch[i]) == int(np.argmax(accuracy)) + 1
        if not trained.all():  # stopped: exactly `patience` epochs without improvement
            assert int(state.epoch[i]) == int(state.best_epoch[i]) + 3


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
    trainer = population_trainer(cohort_of(calm[0], "regression"), settings)
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
