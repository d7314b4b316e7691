"""The optimizers a member may use, as optax transformations with injected hyperparameters.

A program whose members use different optimizers takes ``mixed``: one transformation that
keeps two moment buffers per parameter and computes each member's own optimizer from them with
optax's own moment, norm and bias-correction functions. Running every optimizer side by side
and selecting one would keep nine buffers per parameter (SGD's trace twice, Adam's, Nadam's
and Adamax's two, RMSProp's one) and cost a step and a compile several times over.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxsweep.vocabulary import OPTIMIZERS

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
        leaf = functools.partial(_member_leaf, kind, momentum, count)
        out = jax.tree.map(leaf, updates, state.mu, state.nu)
        step, mu, nu = jax.tree.transpose(
            jax.tree.structure(updates), jax.tree.structure((0, 0, 0)), out
        )
        return step, MomentState(count, mu, nu)

    return optax.GradientTransformation(init, update)


def _member_leaf(
    kind: jax.Array,
    momentum: jax.Array,
    count: jax.Array,
    g: jax.Array,
    mu: jax.Array,
    nu: jax.Array,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """One parameter's update and new moments under each kind; the member's kind is selected."""
    sgd = (kind == KINDS.index("sgd")) | (kind == KINDS.index("sgd_nesterov"))
    trace = g + momentum * mu  # optax.trace, SGD's momentum
    mu = jnp.where(sgd, trace, optax.tree.update_moment(g, mu, B1, 1))
    nu = _select(
        kind,
        rmsprop=optax.tree.update_moment_per_elem_norm(g, nu, RMS_DECAY, 2),
        adamax=optax.tree.update_infinity_moment(g, nu, B2, EPS),
        default=optax.tree.update_moment_per_elem_norm(g, nu, B2, 2),  # Adam's and Nadam's
    )
    mu_hat = optax.tree.bias_correction(mu, B1, count)
    nu_hat = optax.tree.bias_correction(nu, B2, count)
    ahead = optax.tree.bias_correction(mu, B1, optax.safe_increment(count))  # Nadam's look-ahead
    nadam_hat = B1 * ahead + (1 - B1) * optax.tree.bias_correction(g, B1, count)
    step = _select(
        kind,
        sgd=mu,
        sgd_nesterov=g + momentum * mu,
        adam=mu_hat / (jnp.sqrt(nu_hat) + EPS),
        nadam=nadam_hat / (jnp.sqrt(nu_hat) + EPS),
        rmsprop=jax.lax.rsqrt(nu + EPS) * g,
        adamax=mu_hat / nu,
    )
    return step, mu, nu


def _select(kind: jax.Array, default: Any = None, **by_name: jax.Array) -> jax.Array:
    """The value for optimizer ``KINDS[kind]``; kinds not named get ``default``."""
    return jax.lax.select_n(kind, *(by_name.get(name, default) for name in KINDS))
