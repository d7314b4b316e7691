"""Training of one member as a pure function, and its vmapped, jitted population form.

``make_trainer(cohort, settings)`` returns ``init(key, hyper)`` and ``run(state, hyper, data,
n_epochs)`` for ONE member; ``run`` is a ``lax.scan`` over epochs, each a ``lax.scan`` over
minibatches. A population is ``run`` vmapped and jitted (split over devices and, on a CPU, into
cache-sized blocks: see ``placement``): every continuous hyperparameter is a per-member array
(``Hyper``), so members that share a ``Cohort`` share one compiled program.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxsweep.cache.programs import Stored, serializable
from jaxsweep.engine import (
    epoch_progress,
    losses,
    optimizers,
    placement,
    schedules,
    shuffle,
    threefry,
)
from jaxsweep.engine.model import MLP, Arch, Layout
from jaxsweep.engine.schedules import ScheduleHyper


@dataclass(frozen=True)
class Cohort:
    """What changes the compiled program. Members that agree on it train together: the padded
    layout (the space's largest network and the choices it offers), the optimizers, clipping
    and schedules it offers, the batch size (it sets the number of steps) and the task's loss
    and output."""

    layout: Layout
    optimizers: tuple[str, ...]  # sgd, sgd_nesterov, adam, …; a member's is Hyper.optimizer
    scheduled: bool  # some member may have an LR schedule; a member's is Hyper.schedule
    batch_size: int
    clipping: bool  # some member clips its gradients by norm (the others at +inf)
    loss: str
    output_activation: str
    task: str


@dataclass(frozen=True)
class Settings:
    """Sweep-wide training settings (static)."""

    metric: str  # the early-stopping and reported metric
    maximize: bool
    patience: int | None
    min_delta: float
    record_steps: bool = False  # keep every minibatch loss (tests compare them step by step)
    train_rows: int = 0  # rows of the training split and epochs: where schedules count steps
    epochs: int = 0

    def steps_per_epoch(self, batch_size: int) -> int:
        return max(1, self.train_rows // batch_size)


@serializable
class Hyper(NamedTuple):
    """Per-member continuous values; stacked, each is an array with one entry per member."""

    learning_rate: jax.Array
    momentum: jax.Array
    dropout: jax.Array
    clip_norm: jax.Array  # +inf: no clipping
    target_shift: jax.Array
    target_scale: jax.Array
    optimizer: jax.Array  # index into Cohort.optimizers
    schedule: ScheduleHyper
    arch: Arch


@serializable
class Data(NamedTuple):
    X_train: jax.Array
    y_train: jax.Array
    X_val: jax.Array
    y_val: jax.Array


@serializable
class MemberState(NamedTuple):
    params: Any
    batch_stats: Any
    # The optimizer's state as a list of leaves: the training step rebuilds optax's structure
    # in its trace, so a stored program's state holds only jaxsweep's types (see ``stored``).
    opt_state: list[jax.Array]
    key: jax.Array
    epoch: jax.Array  # epochs trained so far
    best_params: Any
    best_batch_stats: Any
    best_score: jax.Array  # the metric, sign-flipped so that higher is better
    best_epoch: jax.Array
    bad_epochs: jax.Array
    stopped: jax.Array  # early-stopped, diverged or pruned: parameters no longer change
    diverged: jax.Array


class Trainer(NamedTuple):
    init: Callable[[jax.Array, Hyper, jax.Array], MemberState]  # (key, hyper, example input)
    run: Callable[..., tuple[MemberState, dict[str, jax.Array]]]
    start: Callable[..., MemberState]  # (params, batch_stats, key, hyper): state at epoch 0


def make_optimizer(
    cohort: Cohort,
    hyper: Hyper,
    settings: Settings | None = None,
    learning_rate: optax.ScalarOrSchedule | None = None,
) -> optax.GradientTransformation:
    """The optax optimizer with injected (traced) hyperparameters, behind clipping by norm and
    with the cohort's schedule; ``learning_rate`` (e.g. the LR range test's ramp) replaces it."""
    per_epoch = settings.steps_per_epoch(cohort.batch_size) if settings else 1
    total = per_epoch * (settings.epochs if settings else 1)
    rate = learning_rate
    if rate is None:
        rate = schedules.learning_rate(
            cohort.scheduled, hyper.learning_rate, hyper.schedule, per_epoch, total
        )
    names = cohort.optimizers
    if len(names) == 1:
        inner = optimizers.single(names[0], rate, hyper.momentum)
    else:
        inner = optimizers.mixed(names, hyper.optimizer, rate, hyper.momentum)
    plateau = None
    if learning_rate is None:
        plateau = schedules.plateau(cohort.scheduled, hyper.schedule, per_epoch)
    return optax.chain(
        *([optimizers.clip_by_global_norm(hyper.clip_norm)] if cohort.clipping else []),
        inner,
        *([plateau] if plateau else []),
    )


def scaled_target(cohort: Cohort, y: jax.Array, hyper: Hyper) -> jax.Array:
    """Regression targets in the output activation's range (see ``losses.target_scaling``)."""
    if cohort.task != "regression":
        return y
    return (y - hyper.target_shift) / hyper.target_scale


Carry = tuple[Any, Any, Any]  # params, batch_stats, opt_state
Batch = tuple[jax.Array, jax.Array]  # the step's training rows and its key (training noise)


def make_step(
    cohort: Cohort,
    model: MLP,
    tx: optax.GradientTransformation,
    hyper: Hyper,
    data: Data,
    reach: jax.Array | None = None,
) -> Callable[[Carry, Batch], tuple[Carry, jax.Array]]:
    """One minibatch update, for ``lax.scan``; returns the loss."""
    y_train = scaled_target(cohort, data.y_train, hyper)

    def loss_fn(params: Any, batch_stats: Any, rows: jax.Array, key: jax.Array) -> tuple[Any, Any]:
        output, updates = model.apply(
            {"params": params, "batch_stats": batch_stats},
            data.X_train[rows],
            hyper.arch,
            hyper.dropout,
            key,
            train=True,
            reach=reach,
            mutable=["batch_stats"],
        )
        loss = losses.loss_value(cohort.loss, output, y_train[rows], cohort.output_activation)
        return loss, updates.get("batch_stats", batch_stats)

    def step(carry: Carry, batch: Batch) -> tuple[Carry, jax.Array]:
        params, batch_stats, opt_state = carry
        (loss, batch_stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, batch_stats, *batch
        )
        # `value` feeds reduce-on-plateau; the other transformations ignore it.
        updates, opt_state = tx.update(grads, opt_state, params, value=loss)
        return (optax.apply_updates(params, updates), batch_stats, opt_state), loss

    return step


def make_trainer(cohort: Cohort, settings: Settings) -> Trainer:
    model = MLP(cohort.layout)

    def start(params: Any, batch_stats: Any, key: jax.Array, hyper: Hyper) -> MemberState:
        opt_state = jax.tree.leaves(make_optimizer(cohort, hyper, settings).init(params))
        zero = jnp.zeros((), jnp.int32)
        return MemberState(
            params,
            batch_stats,
            opt_state,
            key,
            zero,
            params,
            batch_stats,
            jnp.array(-jnp.inf, jnp.float32),
            zero,
            zero,
            jnp.array(False),
            jnp.array(False),
        )

    def evaluate(
        params: Any, batch_stats: Any, hyper: Hyper, data: Data, reach: jax.Array | None
    ) -> dict[str, jax.Array]:
        """The validation loss and metrics, a big split in chunks (see ``losses.chunked``)."""

        def means(X: jax.Array, y: jax.Array) -> dict[str, jax.Array]:
            variables = {"params": params, "batch_stats": batch_stats}
            noise = jax.random.PRNGKey(0)  # evaluation draws no noise
            output = model.apply(variables, X, hyper.arch, hyper.dropout, noise, False, reach)
            target = scaled_target(cohort, y, hyper)
            loss = losses.loss_value(cohort.loss, output, target, cohort.output_activation)
            shift, scale = hyper.target_shift, hyper.target_scale
            prediction = losses.predict(output, cohort.task, cohort.output_activation, shift, scale)
            return {"loss": loss} | losses.metric_means(prediction, y, cohort.task)

        return losses.finished(losses.chunked(means, data.X_val, data.y_val))

    def train_epoch(
        state: MemberState, hyper: Hyper, data: Data, reach: jax.Array | None
    ) -> tuple[Any, ...]:
        tx = make_optimizer(cohort, hyper, settings)
        n_train = data.X_train.shape[0]
        steps = max(1, n_train // cohort.batch_size)
        key, order_key, noise_key = threefry.split(state.key, 3)
        order = shuffle.permutation(order_key, n_train)
        order = jnp.resize(order, steps * cohort.batch_size).reshape(steps, -1)
        structure = jax.tree.structure(jax.eval_shape(tx.init, state.params))
        opt_state = jax.tree.unflatten(structure, state.opt_state)
        carry = (state.params, state.batch_stats, opt_state)
        step = make_step(cohort, model, tx, hyper, data, reach)
        # the steps' keys drawn at once: split step by step, the chain of keys cost a loop of
        # small kernels in every step (4% of a fixed-structure step)
        batches = (order, threefry.split(noise_key, steps))
        if steps >= epoch_progress.LONG_EPOCH:  # a long epoch reports how far it has got
            carry, step_losses = epoch_progress.scan(step, carry, batches, steps)
        else:
            carry, step_losses = jax.lax.scan(step, carry, batches)
        params, batch_stats, opt_state = carry
        return params, batch_stats, jax.tree.leaves(opt_state), key, step_losses

    def one_epoch(
        state: MemberState, hyper: Hyper, data: Data, reach: jax.Array | None
    ) -> tuple[MemberState, dict[str, jax.Array]]:
        params, batch_stats, opt_state, key, step_losses = train_epoch(state, hyper, data, reach)
        metrics = evaluate(params, batch_stats, hyper, data, reach)
        diverged = ~jnp.isfinite(metrics["loss"]) | ~jnp.all(jnp.isfinite(step_losses))
        score = metrics[settings.metric] * (1.0 if settings.maximize else -1.0)
        improved = ~diverged & (score > state.best_score + settings.min_delta)
        bad_epochs = jnp.where(improved, 0, state.bad_epochs + 1)
        patience_out = (settings.patience is not None) & (bad_epochs >= (settings.patience or 0))
        last = (settings.epochs > 0) & (state.epoch + 1 >= settings.epochs)  # its budget spent
        keep_best = functools.partial(jnp.where, improved)
        new = MemberState(
            params,
            batch_stats,
            opt_state,
            key,
            state.epoch + 1,
            jax.tree.map(keep_best, params, state.best_params),
            jax.tree.map(keep_best, batch_stats, state.best_batch_stats),
            jnp.where(improved, score, state.best_score),
            jnp.where(improved, state.epoch + 1, state.best_epoch),
            bad_epochs,
            diverged | patience_out | last,
            diverged,
        )
        # A stopped member keeps its state: its slot still computes, but nothing changes.
        trained = ~state.stopped
        state = jax.tree.map(functools.partial(jnp.where, state.stopped), state, new)
        history = metrics | {"train_loss": jnp.mean(step_losses), "trained": trained}
        if settings.record_steps:
            history["step_losses"] = step_losses
        return state, history

    def run(
        state: MemberState,
        hyper: Hyper,
        data: Data,
        n_epochs: int,
        reach: jax.Array | None = None,
    ) -> tuple[MemberState, dict[str, jax.Array]]:
        """Train ``n_epochs`` more epochs; the history has one entry per epoch."""
        return jax.lax.scan(
            lambda s, _: one_epoch(s, hyper, data, reach), state, None, length=n_epochs
        )

    def init(key: jax.Array, hyper: Hyper, example: jax.Array) -> MemberState:
        return start(*init_member(model, key, hyper, example), hyper)

    return Trainer(init, run, start)


def init_member(
    model: MLP, key: jax.Array, hyper: Hyper, example: jax.Array
) -> tuple[Any, Any, jax.Array]:
    """A member's initial parameters and batch statistics, and the key its training goes on
    with."""
    init_key, key = threefry.split(key, 2)
    return *init_variables(model, init_key, hyper, example), key


def init_variables(model: MLP, key: jax.Array, hyper: Hyper, example: jax.Array) -> tuple[Any, Any]:
    """A member's initial parameters and batch statistics, drawn from ``key``."""
    variables = model.init(jax.random.PRNGKey(0), example, hyper.arch, hyper.dropout, key, False)
    return variables["params"], variables.get("batch_stats", {})


@functools.cache
def population_trainer(cohort: Cohort, settings: Settings) -> Trainer:
    """The vmapped, jitted trainer for a cohort; cached so a cohort compiles once per shape."""
    trainer = make_trainer(cohort, settings)
    variables = population_variables(cohort.layout)
    start = Stored("start", jax.vmap(trainer.start), (cohort, settings))

    def init(keys: jax.Array, hyper: Hyper, example: jax.Array) -> MemberState:
        return start(*variables(keys, hyper, example), hyper)

    return Trainer(init, placement.PopulationRun(trainer.run, (cohort, settings)), start)


@functools.cache
def population_variables(layout: Layout) -> Callable[..., tuple[Any, Any, jax.Array]]:
    """The initial variables of a population: they depend on the layout only, so cohorts that
    differ in batch size, optimizers or schedule share this program (each compiles in about a
    second on a CPU)."""
    member = functools.partial(init_member, MLP(layout))
    return Stored("variables", jax.vmap(member, in_axes=(0, 0, None)), layout)
