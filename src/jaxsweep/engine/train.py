"""Training of one member as a pure function, and its vmapped, jitted population form.

``make_trainer(cohort, settings)`` returns a ``MemberTrainer``: ``init(key, hyper, example)``
and ``run(state, hyper, data, n_epochs)`` for ONE member; ``run`` is a ``lax.scan`` over epochs,
each a ``lax.scan`` over minibatches (``train_steps``, which the LR range test trains through
too). A population is ``run`` vmapped and jitted (split over devices and, on a CPU, into
cache-sized blocks: see ``placement``): every continuous hyperparameter is a per-member array
(``Hyper``), so members that share a ``Cohort`` share one compiled program.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from jaxsweep.cache.programs import Stored
from jaxsweep.engine import epoch_progress, losses, placement, shuffle, threefry
from jaxsweep.engine.cohort import Cohort, Data, Hyper, MemberState, Settings, steps_per_epoch
from jaxsweep.engine.model import MLP, Layout
from jaxsweep.engine.optimizers import make_optimizer

History = dict[str, jax.Array]  # per epoch: the validation metrics, the training loss, …


class MemberTrainer(NamedTuple):
    """One member's pure functions, for ``jax.vmap``."""

    init: Callable[[jax.Array, Hyper, jax.Array], MemberState]  # (key, hyper, example input)
    run: Callable[[MemberState, Hyper, Data, int, jax.Array | None], tuple[MemberState, History]]
    start: Callable[[Any, Any, jax.Array, Hyper], MemberState]  # (params, batch_stats, key, hyper)


class PopulationTrainer(NamedTuple):
    """A cohort's compiled programs for a population (a leading member axis on keys, hypers and
    states), placed over devices and blocks by ``placement``."""

    init: Callable[[jax.Array, Hyper, jax.Array], MemberState]  # (keys, hypers, example input)
    run: placement.PopulationRun  # (states, hypers, data, n_epochs)
    start: Stored  # (params, batch_stats, keys, hypers)


def scaled_target(cohort: Cohort, y: jax.Array, hyper: Hyper) -> jax.Array:
    """Regression targets in the output activation's range (see ``losses.target_scaling``)."""
    if cohort.task != "regression":
        return y
    return (y - hyper.target_shift) / hyper.target_scale


def member_loss(cohort: Cohort, hyper: Hyper, output: jax.Array, y: jax.Array) -> jax.Array:
    return losses.member_loss(cohort.losses, hyper.loss, output, y, cohort.outputs, hyper.output)


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
        loss = member_loss(cohort, hyper, output, y_train[rows])
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


def shuffled_rows(keys: jax.Array, n_train: int, batch_size: int, steps: int) -> jax.Array:
    """The training rows of ``steps`` minibatches, ``(steps, batch_size)``: one shuffled pass over
    the training split from each key, end to end. An epoch takes one pass and leaves out its
    last rows that do not fill a batch; the range test may run over several."""
    if keys.shape[0] == 1:
        order = shuffle.permutation(keys[0], n_train)
    else:
        order = jax.vmap(lambda key: shuffle.permutation(key, n_train))(keys).reshape(-1)
    return order[: steps * batch_size].reshape(steps, batch_size)


def train_steps(
    step: Callable[[Carry, Batch], tuple[Carry, jax.Array]],
    carry: Carry,
    rows: jax.Array,
    noise_key: jax.Array,
) -> tuple[Carry, jax.Array]:
    """``step`` over the minibatches ``rows``; returns the carry and each step's loss."""
    steps = rows.shape[0]
    # the steps' keys drawn at once: split step by step, the chain of keys cost a loop of
    # small kernels in every step (4% of a fixed-structure step)
    batches = (rows, threefry.split(noise_key, steps))
    if steps >= epoch_progress.LONG_EPOCH:  # a long epoch reports how far it has got
        return epoch_progress.scan(step, carry, batches, steps)
    return jax.lax.scan(step, carry, batches)


def make_trainer(cohort: Cohort, settings: Settings) -> MemberTrainer:
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
            loss = member_loss(cohort, hyper, output, target)
            shift, scale = hyper.target_shift, hyper.target_scale
            prediction = losses.member_predict(
                output, cohort.task, cohort.outputs, hyper.output, shift, scale
            )
            return {"loss": loss} | losses.metric_means(prediction, y, cohort.task)

        return losses.finished(losses.chunked(means, data.X_val, data.y_val))

    def train_epoch(
        state: MemberState, hyper: Hyper, data: Data, reach: jax.Array | None
    ) -> tuple[Any, ...]:
        tx = make_optimizer(cohort, hyper, settings)
        n_train = data.X_train.shape[0]
        steps = steps_per_epoch(n_train, cohort.batch_size)
        key, order_key, noise_key = threefry.split(state.key, 3)
        rows = shuffled_rows(order_key[None], n_train, cohort.batch_size, steps)
        structure = jax.tree.structure(jax.eval_shape(tx.init, state.params))
        opt_state = jax.tree.unflatten(structure, state.opt_state)
        carry = (state.params, state.batch_stats, opt_state)
        step = make_step(cohort, model, tx, hyper, data, reach)
        carry, step_losses = train_steps(step, carry, rows, noise_key)
        params, batch_stats, opt_state = carry
        return params, batch_stats, jax.tree.leaves(opt_state), key, step_losses

    def one_epoch(
        state: MemberState, hyper: Hyper, data: Data, reach: jax.Array | None
    ) -> tuple[MemberState, History]:
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
    ) -> tuple[MemberState, History]:
        """Train ``n_epochs`` more epochs; the history has one entry per epoch."""
        return jax.lax.scan(
            lambda s, _: one_epoch(s, hyper, data, reach), state, None, length=n_epochs
        )

    def init(key: jax.Array, hyper: Hyper, example: jax.Array) -> MemberState:
        return start(*init_member(model, key, hyper, example), hyper)

    return MemberTrainer(init, run, start)


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
def population_trainer(cohort: Cohort, settings: Settings) -> PopulationTrainer:
    """The vmapped, jitted trainer for a cohort; cached so a cohort compiles once per shape."""
    trainer = make_trainer(cohort, settings)
    variables = population_variables(cohort.layout)
    start = Stored("start", jax.vmap(trainer.start), (cohort, settings))

    def init(keys: jax.Array, hyper: Hyper, example: jax.Array) -> MemberState:
        return start(*variables(keys, hyper, example), hyper)

    return PopulationTrainer(init, placement.PopulationRun(trainer.run, (cohort, settings)), start)


@functools.cache
def population_variables(layout: Layout) -> Callable[..., tuple[Any, Any, jax.Array]]:
    """The initial variables of a population: they depend on the layout only, so cohorts that
    differ in batch size, optimizers or schedule share this program (each compiles in about a
    second on a CPU)."""
    member = functools.partial(init_member, MLP(layout))
    return Stored("variables", jax.vmap(member, in_axes=(0, 0, None)), layout)
