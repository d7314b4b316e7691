"""The article's activations and dropout, each written for a member whose choice is an index
into the choices its program holds."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

RRELU_LOWER, RRELU_UPPER = 1.0 / 8.0, 1.0 / 3.0  # the RReLU paper's slope range
LEAKY_SLOPE = 0.01
SELU_SCALE, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772  # as jax.nn.selu's
SELU_NEGATIVE = -SELU_SCALE * SELU_ALPHA  # SELU's saturation value


# The activations in three families, each one formula with per-member constants: a program
# that may hold all nine computes three (one transcendental each) and selects, not nine. With
# one noise draw for dropout and RReLU (``unit_uniforms``), the article space's batch-32 program
# ran 10% faster and its batch-2 one 3%; a 256-trial, 10-epoch article sweep 13% faster.
# Piecewise linear, where(z > 0, z, slope z): the slope (PReLU's is learned, RReLU's drawn).
PIECEWISE: dict[str, tuple[float, ...]] = {
    "relu": (0.0,),
    "leaky_relu": (LEAKY_SLOPE,),
    "prelu": (0.0,),
    "rrelu": (0.0,),
}
# Exponential, scale where(z > 0, z, alpha expm1(z)) as jax.nn's: (scale, alpha).
EXPONENTIAL: dict[str, tuple[float, ...]] = {
    "elu": (1.0, 1.0),
    "selu": (SELU_SCALE, SELU_ALPHA),
}
# Logistic, s = sigmoid(a z + c z^3) and s (m + g z) + b: (a, c, m, g, b). tanh z is
# 2 sigmoid(2z) - 1, and jax.nn.gelu's tanh form z (1 + tanh u) / 2 is z sigmoid(2u).
GELU_A = 2.0 * math.sqrt(2.0 / math.pi)
LOGISTIC: dict[str, tuple[float, ...]] = {
    "sigmoid": (1.0, 0.0, 1.0, 0.0, 0.0),
    "tanh": (2.0, 0.0, 2.0, 0.0, -1.0),
    "gelu": (GELU_A, GELU_A * 0.044715, 0.0, 1.0, 0.0),
}
FAMILIES = (PIECEWISE, EXPONENTIAL, LOGISTIC)


def activate(
    z: jax.Array,
    names: tuple[str, ...],
    index: jax.Array,
    slope: jax.Array | None,
    noise: jax.Array | None,
) -> jax.Array:
    """The member's activation, ``names[index]``: each family present is computed with the
    member's constants and the member's family is selected (exactly: the others contribute
    nothing, not even to gradients). ``slope``: PReLU's; ``noise``: RReLU's slopes, drawn per
    row and unit in training, or None for their mean (evaluation)."""
    present = [table for table in FAMILIES if any(name in table for name in names)]
    outputs = []
    for table in present:
        if table is PIECEWISE:
            negative = _negative_slope(
                _constants(table, names, index)[0], names, index, slope, noise
            )
            # z > 0, as jax.nn.relu's gradient: zero at z = 0
            outputs.append(jnp.where(z > 0, z, negative * z))
        elif table is EXPONENTIAL:
            scale, alpha = _constants(table, names, index)
            outputs.append(scale * jnp.where(z > 0, z, alpha * jnp.expm1(jnp.minimum(z, 0.0))))
        else:
            a, c, m, g, b = _constants(table, names, index)
            argument = a * z + c * z * z * z if "gelu" in names else a * z
            s = jax.nn.sigmoid(argument)
            outputs.append(s * (m + g * z) + b)
    if len(outputs) == 1:
        return outputs[0]
    family = [next(i for i, table in enumerate(present) if name in table) for name in names]
    return jax.lax.select_n(jnp.asarray(family)[index], *outputs)


def _constants(
    table: dict[str, tuple[float, ...]], names: tuple[str, ...], index: jax.Array
) -> jax.Array:
    """The member's constants from ``table``, one scalar each (zeros for names outside it)."""
    width = len(next(iter(table.values())))
    rows = [table.get(name, (0.0,) * width) for name in names]
    return jnp.asarray(rows, jnp.float32)[index]


def _negative_slope(
    constant: jax.Array,
    names: tuple[str, ...],
    index: jax.Array,
    learned: jax.Array | None,
    drawn: jax.Array | None,
) -> jax.Array:
    """A piecewise-linear member's slope below zero: its constant, PReLU's learned slope, or
    RReLU's drawn slopes (their mean in evaluation)."""
    if "prelu" in names:
        constant = jnp.where(index == names.index("prelu"), learned, constant)
    if "rrelu" in names:
        rrelu = (RRELU_LOWER + RRELU_UPPER) / 2.0
        if drawn is not None:
            rrelu = RRELU_LOWER + (RRELU_UPPER - RRELU_LOWER) * drawn
        constant = jnp.where(index == names.index("rrelu"), rrelu, constant)
    return constant


def dropout(x: jax.Array, rate: jax.Array, uniform: jax.Array, alpha: jax.Array) -> jax.Array:
    """Inverted dropout, or alpha dropout (keeps SELU's mean and variance) when ``alpha``, with
    ``uniform`` draws shaped like ``x``; a rate of 0 leaves ``x`` exactly as it is."""
    keep = 1.0 - rate
    mask = uniform < keep
    standard = jnp.where(mask, x / keep, 0.0)
    a = (keep + SELU_NEGATIVE**2 * keep * rate) ** -0.5
    b = -a * SELU_NEGATIVE * rate
    alpha_dropped = a * jnp.where(mask, x, SELU_NEGATIVE) + b
    return jnp.where(rate > 0, jnp.where(alpha, alpha_dropped, standard), x)
