"""The sequential peers of population_vs_sequential.py: one member config trained alone, the way
a user writes it in Flax, PyTorch or scikit-learn. Each returns the best validation accuracy.

Sequential Flax comes twice. (b) is written as a JAX user tuning for speed writes it: one compiled
program a structure (the network, optimizer and batch size), reused by every trial of that
structure, with the learning rate, momentum, clip norm and dropout rate passed in as data
(``optax.inject_hyperparams``), the epoch a ``lax.scan`` whose steps gather their batch inside the
program. (b0) is the naive version a first attempt often is: a step jitted anew in each trial with
the rate baked in as a Python float (so every trial compiles), and the batch indexed outside the
jit, eagerly, every step.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsweep.data.dataset import Dataset
from jaxsweep.search.member_config import MemberConfig

LABELS = {
    "a": "(a) jaxsweep",
    "a2": "(a) jaxsweep, 2nd run",
    "a3": "(a) jaxsweep, 2nd run, journal file",
    "a4": "(a) jaxsweep, 2nd run, SQLite file",
    "b": "(b) Optuna + sequential Flax, a program a structure",
    "b0": "(b0) Optuna + sequential Flax, naive (compiles every trial)",
    "c": "(c) Optuna + PyTorch",
    "d": "(d) Optuna + sklearn MLP",
}
MISSING = {"c": "PyTorch is not installed (pip install torch==2.13.0)"}
Trainer = Callable[[MemberConfig, Dataset, int, int], float]


class FlaxMLP(nn.Module):
    config: MemberConfig

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        m = self.config.model
        for width in m.widths:
            x = nn.Dense(width, kernel_init=getattr(jax.nn.initializers, m.initializer)())(x)
            if m.batch_norm:
                x = nn.BatchNorm(use_running_average=not train)(x)
            x = flax_activation(m.activation, x)
            if m.dropout > 0:
                x = nn.Dropout(m.dropout, deterministic=not train)(x)
        return nn.Dense(m.output_dim)(x)


def flax_activation(name: str, x: jax.Array) -> jax.Array:
    if name in ("leaky_relu", "rrelu", "prelu"):  # the random and learnt slopes: a fixed one
        return jax.nn.leaky_relu(x, 0.25 if name == "prelu" else 0.2)
    return getattr(jax.nn, name)(x)


def optax_optimizer(config: MemberConfig) -> optax.GradientTransformation:
    t = config.train
    if t.optimizer == "sgd":
        inner = optax.sgd(t.learning_rate, momentum=t.momentum, nesterov=t.nesterov)
    else:
        inner = getattr(optax, t.optimizer)(t.learning_rate)
    return optax.chain(optax.clip_by_global_norm(t.clip_norm or float("inf")), inner)


def train_flax_naive(config: MemberConfig, data: Dataset, epochs: int, seed: int) -> float:
    model, tx = FlaxMLP(config), optax_optimizer(config)
    X, y = jnp.asarray(data.train.X), jnp.asarray(data.train.y)
    variables = model.init(jax.random.PRNGKey(seed), X[:1], train=False)
    params, stats = variables["params"], variables.get("batch_stats", {})
    opt_state = tx.init(params)

    @jax.jit
    def step(params, stats, opt_state, xb, yb, key):
        def loss_fn(p):
            logits, updates = model.apply(
                {"params": p, "batch_stats": stats},
                xb,
                train=True,
                rngs={"dropout": key},
                mutable=["batch_stats"],
            )
            loss = optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
            return loss, updates.get("batch_stats", stats)

        (_, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), stats, opt_state

    @jax.jit
    def accuracy(params, stats, X, y):
        logits = model.apply({"params": params, "batch_stats": stats}, X, train=False)
        return (logits.argmax(-1) == y).mean()

    rng, batch, best = np.random.default_rng(seed), config.train.batch_size, 0.0
    key = jax.random.PRNGKey(seed + 1)
    X_val, y_val = jnp.asarray(data.val.X), jnp.asarray(data.val.y)
    for _ in range(epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(y) - batch + 1, batch):
            rows = order[start : start + batch]
            key, sub = jax.random.split(key)
            params, stats, opt_state = step(params, stats, opt_state, X[rows], y[rows], sub)
        best = max(best, float(accuracy(params, stats, X_val, y_val)))
    return best


class Structure(NamedTuple):
    """What changes a (b) trial's program: everything else is data."""

    widths: tuple[int, ...]
    activation: str
    initializer: str
    batch_norm: bool
    dropout: bool  # whether it drops at all; the rate is data
    output_dim: int
    optimizer: str
    nesterov: bool
    batch_size: int

    @classmethod
    def of(cls, config: MemberConfig) -> Structure:
        m, t = config.model, config.train
        return cls(
            m.widths,
            m.activation,
            m.initializer,
            m.batch_norm,
            m.dropout > 0,
            m.output_dim,
            t.optimizer,
            t.nesterov,
            t.batch_size,
        )


class StructureMLP(nn.Module):
    """FlaxMLP with its dropout rate an input: nn.Dropout's rate is a Python float, which would
    make each rate a program of its own."""

    structure: Structure

    @nn.compact
    def __call__(self, x: jax.Array, rate: jax.Array, train: bool) -> jax.Array:
        s = self.structure
        for width in s.widths:
            x = nn.Dense(width, kernel_init=getattr(jax.nn.initializers, s.initializer)())(x)
            if s.batch_norm:
                x = nn.BatchNorm(use_running_average=not train)(x)
            x = flax_activation(s.activation, x)
            if s.dropout and train:
                keep = 1.0 - rate
                kept = jax.random.bernoulli(self.make_rng("dropout"), keep, x.shape)
                x = jnp.where(kept, x / keep, 0.0)
        return nn.Dense(s.output_dim)(x)


class Compiled(NamedTuple):
    """A structure's two programs: a trial's start, and one epoch."""

    init: Callable[..., Any]
    epoch: Callable[..., Any]


def hyperparameters(config: MemberConfig) -> dict[str, jax.Array]:
    """A trial's values, passed to its structure's programs as data."""
    t = config.train
    values = {
        "learning_rate": t.learning_rate,
        "clip_norm": t.clip_norm or float("inf"),
        "dropout": config.model.dropout,
    }
    if t.optimizer == "sgd":
        values["momentum"] = t.momentum or 0.0
    return {name: jnp.float32(value) for name, value in values.items()}


def compile_structure(structure: Structure) -> Compiled:
    model = StructureMLP(structure)

    def make_optimizer(learning_rate: Any, clip_norm: Any, momentum: Any = None) -> Any:
        if structure.optimizer == "sgd":
            inner = optax.sgd(learning_rate, momentum=momentum, nesterov=structure.nesterov)
        else:
            inner = getattr(optax, structure.optimizer)(learning_rate)
        return optax.chain(optax.clip_by_global_norm(clip_norm), inner)

    def optimizer(hypers: dict[str, jax.Array]) -> Any:
        """The optimizer with the trial's values in its state (the update reads them there)."""
        named = {k: v for k, v in hypers.items() if k != "dropout"}
        return optax.inject_hyperparams(make_optimizer)(**named)

    @jax.jit
    def init(key: jax.Array, hypers: dict[str, jax.Array], example: jax.Array) -> Any:
        variables = model.init(key, example, hypers["dropout"], train=False)
        params, stats = variables["params"], variables.get("batch_stats", {})
        return params, stats, optimizer(hypers).init(params)

    @jax.jit
    def epoch(carry: Any, key: jax.Array, hypers: dict[str, jax.Array], data: Any) -> Any:
        X, y, X_val, y_val = data
        tx = optimizer(hypers)  # its values come from the state; only its structure is used
        steps = X.shape[0] // structure.batch_size
        order_key, noise_key = jax.random.split(key)
        order = jax.random.permutation(order_key, X.shape[0])[: steps * structure.batch_size]

        def step(carry: Any, batch: tuple[jax.Array, jax.Array]) -> tuple[Any, None]:
            params, stats, opt_state = carry
            rows, key = batch
            xb, yb = X[rows], y[rows]  # gathered in the program

            def loss_fn(p: Any) -> tuple[jax.Array, Any]:
                logits, updates = model.apply(
                    {"params": p, "batch_stats": stats},
                    xb,
                    hypers["dropout"],
                    train=True,
                    rngs={"dropout": key},
                    mutable=["batch_stats"],
                )
                loss = optax.softmax_cross_entropy_with_integer_labels(logits, yb).mean()
                return loss, updates.get("batch_stats", stats)

            (_, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
            updates, opt_state = tx.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), stats, opt_state), None

        batches = (order.reshape(steps, -1), jax.random.split(noise_key, steps))
        carry, _ = jax.lax.scan(step, carry, batches)
        params, stats, _ = carry
        logits = model.apply({"params": params, "batch_stats": stats}, X_val, 0.0, train=False)
        return carry, (logits.argmax(-1) == y_val).mean()

    return Compiled(init, epoch)


PROGRAMS: dict[Structure, Compiled] = {}  # for the whole study, as a user's module would keep
PLACED: dict[int, tuple[jax.Array, ...]] = {}  # the dataset on the device, placed once


def train_flax(config: MemberConfig, data: Dataset, epochs: int, seed: int) -> float:
    structure = Structure.of(config)
    if structure not in PROGRAMS:
        PROGRAMS[structure] = compile_structure(structure)
    compiled = PROGRAMS[structure]
    if id(data) not in PLACED:
        PLACED[id(data)] = tuple(
            jnp.asarray(a) for part in (data.train, data.val) for a in (part.X, part.y)
        )
    arrays = PLACED[id(data)]
    hypers = hyperparameters(config)
    init_key, key = jax.random.split(jax.random.PRNGKey(seed))
    carry = compiled.init(init_key, hypers, arrays[0][:1])
    accuracies = []
    for epoch_key in jax.random.split(key, epochs):
        carry, accuracy = compiled.epoch(carry, epoch_key, hypers, arrays)
        accuracies.append(accuracy)  # read once at the end: the epochs dispatch without a wait
    return float(jnp.max(jnp.stack(accuracies)))


def torch_trainer() -> Trainer | None:
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    activations = {
        "sigmoid": torch.nn.Sigmoid,
        "tanh": torch.nn.Tanh,
        "relu": torch.nn.ReLU,
        "leaky_relu": torch.nn.LeakyReLU,
        "elu": torch.nn.ELU,
        "selu": torch.nn.SELU,
        "gelu": torch.nn.GELU,
        "rrelu": torch.nn.RReLU,
        "prelu": torch.nn.PReLU,
    }
    optimizers = {
        "sgd": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "nadam": torch.optim.NAdam,
        "rmsprop": torch.optim.RMSprop,
        "adamax": torch.optim.Adamax,
    }

    def train(config: MemberConfig, data: Dataset, epochs: int, seed: int) -> float:
        torch.manual_seed(seed)
        m, t = config.model, config.train
        layers, width_in = [], data.train.X.shape[1]
        for width in m.widths:
            layers.append(torch.nn.Linear(width_in, width))
            if m.batch_norm:
                layers.append(torch.nn.BatchNorm1d(width))
            layers.append(activations[m.activation]())
            if m.dropout > 0:
                drop = torch.nn.AlphaDropout if m.activation == "selu" else torch.nn.Dropout
                layers.append(drop(m.dropout))
            width_in = width
        net = torch.nn.Sequential(*layers, torch.nn.Linear(width_in, m.output_dim))
        kwargs = {"momentum": t.momentum, "nesterov": t.nesterov} if t.optimizer == "sgd" else {}
        opt = optimizers[t.optimizer](net.parameters(), lr=t.learning_rate, **kwargs)
        X, y = torch.from_numpy(data.train.X), torch.from_numpy(data.train.y.astype(np.int64))
        X_val, y_val = torch.from_numpy(data.val.X), torch.from_numpy(data.val.y.astype(np.int64))
        best = 0.0
        for _ in range(epochs):
            net.train()
            order = torch.randperm(len(y))
            for start in range(0, len(y) - t.batch_size + 1, t.batch_size):
                rows = order[start : start + t.batch_size]
                opt.zero_grad()
                loss = torch.nn.functional.cross_entropy(net(X[rows]), y[rows])
                loss.backward()
                if t.clip_norm:
                    torch.nn.utils.clip_grad_norm_(net.parameters(), t.clip_norm)
                opt.step()
            net.eval()
            with torch.no_grad():
                best = max(best, float((net(X_val).argmax(1) == y_val).float().mean()))
        return best

    return train


def train_sklearn(config: MemberConfig, data: Dataset, epochs: int, seed: int) -> float:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    m, t = config.model, config.train
    activation = {"sigmoid": "logistic", "tanh": "tanh"}.get(m.activation, "relu")
    kwargs = (
        {"momentum": t.momentum, "nesterovs_momentum": t.nesterov} if t.optimizer == "sgd" else {}
    )
    model = MLPClassifier(
        hidden_layer_sizes=m.widths,
        activation=activation,
        solver="sgd" if t.optimizer == "sgd" else "adam",
        batch_size=t.batch_size,
        learning_rate_init=t.learning_rate,
        max_iter=epochs,
        random_state=seed,
        n_iter_no_change=epochs + 1,
        tol=0.0,
        **kwargs,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(data.train.X, data.train.y)
    return float(model.score(data.val.X, data.val.y))  # sklearn keeps the last epoch


TRAINERS: dict[str, Callable[[], Trainer | None]] = {
    "b": lambda: train_flax,
    "b0": lambda: train_flax_naive,
    "c": torch_trainer,
    "d": lambda: train_sklearn,
}
