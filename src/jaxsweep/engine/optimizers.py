"""The optimizers a member may use, as optax transformations with injected hyperparameters, and
``make_optimizer``, a member's whole update: clipping, its optimizer and its LR schedule.

A program whose members use different optimizers takes ``mixed``: one transformation that
keeps two moment buffers per parameter and computes each member's own optimizer from them as
one formula whose scalars depend on the member's optimizer (``Coefficients``). Running every
optimizer side by side and selecting one would keep nine buffers per parameter (SGD's trace
twice, Adam's, Nadam's and Adamax's two, RMSProp's one) and cost a step and a compile several
times over; computing each optimizer's update from the shared buffers and selecting one cost
seven divisions and two roots a weight, a quarter of an article-space step at batch 2.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsweep.engine import schedules
from jaxsweep.engine.cohort import Cohort, Hyper, Settings
from jaxsweep.engine.vocabulary import OPTIMIZERS

# optax's defaults for its adam, nadam, rmsprop and adamax aliases, in float32 as
# inject_hyperparams holds them (1 - b1 then rounds as it does there)
B1, B2, RMS_DECAY, EPS = np.float32([0.9, 0.999, 0.9, 1e-8])
KINDS = (*OPTIMIZERS, "sgd_nesterov")  # sgd_nesterov: SGD with Nesterov momentum


def single(
    name: str, rate: optax.ScalarOrSchedule, momentum: jax.Array
) -> optax.GradientTransformationExtraArgs:
    """One optax optimizer by name, its learning rate (and SGD's momentum) injected."""
    if name.startswith("sgd"):
        factory = optax.inject_hyperparams(optax.sgd, static_args=("nesterov",))
        return factory(rate, momentum=momentum, nesterov=name == "sgd_nesterov")
    return optax.inject_hyperparams(getattr(optax, name))(rate)


def clip_by_global_norm(max_norm: jax.Array) -> optax.GradientTransformation:
    """``optax.clip_by_global_norm``, cheaper on a CPU: the updates scaled by one factor a
    member, not divided by the norm weight by weight. Updates agree with optax's to float32
    rounding. The norm is optax's own: with each leaf's squares summed as a matrix-vector
    product instead (once faster, on an AVX2 machine), an epoch of 32 article-space members
    took 1.54-1.55 s at batch 2 on an AVX-512 machine, not 1.28-1.31 s, and 0.71 s at batch 8,
    not 0.64-0.68 s."""

    def update(updates: Any, state: Any, params: Any = None) -> tuple[Any, Any]:
        del params
        norm = optax.tree.norm(updates)
        scale = jnp.where(norm < max_norm, 1.0, max_norm / norm)
        return jax.tree.map(lambda t: t * scale, updates), state

    return optax.GradientTransformation(optax.init_empty_state, update)


def mixed(
    names: tuple[str, ...], index: jax.Array, rate: optax.ScalarOrSchedule, momentum: jax.Array
) -> optax.GradientTransformationExtraArgs:
    """The optimizer ``names[index]`` (``index`` is per member), its learning rate and momentum
    injected as ``single`` does."""

    def factory(learning_rate: jax.Array, momentum: jax.Array) -> optax.GradientTransformation:
        return optax.chain(
            scale_by_member(names, index, momentum),
            optax.scale_by_learning_rate(learning_rate),
        )

    return optax.inject_hyperparams(factory)(rate, momentum=momentum)


class MomentState(NamedTuple):
    count: jax.Array
    mu: Any  # SGD's momentum trace, or the first moment of Adam, Nadam and Adamax
    nu: Any  # the second moment of Adam, Nadam and RMSProp, or Adamax's infinity norm


def scale_by_member(
    names: tuple[str, ...], index: jax.Array, momentum: jax.Array
) -> optax.GradientTransformation:
    """The unscaled update of optimizer ``names[index]``: SGD's (with Nesterov) trace, or the
    scaling of Adam, Nadam, RMSProp or Adamax, each as its optax alias computes it."""
    kind = jnp.asarray([KINDS.index(name) for name in names])[index]

    def init(params: Any) -> MomentState:
        zeros = functools.partial(jax.tree.map, jnp.zeros_like)
        return MomentState(jnp.zeros([], jnp.int32), zeros(params), zeros(params))

    def update(updates: Any, state: MomentState, params: Any = None) -> tuple[Any, MomentState]:
        del params
        count = optax.safe_increment(state.count)
        leaf = functools.partial(_member_leaf, _coefficients(kind, momentum, count))
        out = jax.tree.map(leaf, updates, state.mu, state.nu)
        step, mu, nu = jax.tree.transpose(
            jax.tree.structure(updates), jax.tree.structure((0, 0, 0)), out
        )
        return step, MomentState(count, mu, nu)

    return optax.GradientTransformation(init, update)


class Coefficients(NamedTuple):
    """A member's optimizer as the scalars of one formula (see ``_member_leaf``), worked out
    once a step for the member, so that a weight costs one division and one root whatever
    the optimizer: an article-space step at batch 2 took 12-14% less time than with every
    optimizer's update computed and one selected, at batch 32 3-8% less."""

    mu_decay: jax.Array
    mu_gain: jax.Array
    nu_decay: jax.Array
    nu_gain: jax.Array
    from_mu: jax.Array  # the update's numerator: from_mu mu + from_g g
    from_g: jax.Array
    from_nu: jax.Array  # its denominator: sqrt(from_nu nu + inner) + outer, or Adamax's nu
    inner: jax.Array
    outer: jax.Array
    adamax: jax.Array


# jitted as optax's bias correction is: a power computed op by op rounds differently
@functools.partial(jax.jit, inline=True)
def _coefficients(kind: jax.Array, momentum: jax.Array, count: jax.Array) -> Coefficients:
    """The member's scalars, by kind as each optax alias computes its update. A bias
    correction is a factor, one over optax's divisor, and RMSProp divides by a root where
    optax multiplies by its inverse: updates agree with optax's to float32 rounding (tested),
    not bit for bit."""
    one, zero = jnp.float32(1.0), jnp.float32(0.0)
    mu_hat, nu_hat = one / (1 - B1**count), one / (1 - B2**count)
    ahead = one / (1 - B1 ** optax.safe_increment(count))  # Nadam's look-ahead
    by_kind = {  # in Coefficients' order, Adamax's flag aside
        "sgd": (momentum, one, zero, zero, one, zero, zero, one, zero),
        "sgd_nesterov": (momentum, one, zero, zero, momentum, one, zero, one, zero),
        "adam": (B1, 1 - B1, B2, 1 - B2, mu_hat, zero, nu_hat, zero, EPS),
        "nadam": (B1, 1 - B1, B2, 1 - B2, B1 * ahead, (1 - B1) * mu_hat, nu_hat, zero, EPS),
        "rmsprop": (B1, 1 - B1, RMS_DECAY, 1 - RMS_DECAY, zero, one, one, EPS, zero),
        "adamax": (B1, 1 - B1, B2, zero, mu_hat, zero, zero, one, zero),
    }
    columns = zip(*(by_kind[name] for name in KINDS), strict=True)
    values = [jax.lax.select_n(kind, *map(jnp.float32, column)) for column in columns]
    return Coefficients(*values, adamax=kind == KINDS.index("adamax"))


def _member_leaf(
    c: Coefficients, g: jax.Array, mu: jax.Array, nu: jax.Array
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One parameter's update and new moments under the member's optimizer: SGD's trace
    g + momentum mu, or optax's moments (1 - b) g + b m; Adamax's infinity norm; then the
    numerator over the denominator."""
    mu = c.mu_gain * g + c.mu_decay * mu
    squared = c.nu_gain * (g * g) + c.nu_decay * nu
    nu = jnp.where(c.adamax, jnp.maximum(jnp.abs(g) + EPS, B2 * nu), squared)
    numerator = c.from_mu * mu + c.from_g * g
    denominator = jnp.where(c.adamax, nu, jnp.sqrt(c.from_nu * nu + c.inner) + c.outer)
    return numerator / denominator, mu, nu


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
        inner = single(names[0], rate, hyper.momentum)
    else:
        inner = mixed(names, hyper.optimizer, rate, hyper.momentum)
    plateau = None
    if learning_rate is None:
        plateau = schedules.plateau(cohort.scheduled, hyper.schedule, per_epoch)
    return optax.chain(
        *([clip_by_global_norm(hyper.clip_norm)] if cohort.clipping else []),
        inner,
        *([plateau] if plateau else []),
    )
