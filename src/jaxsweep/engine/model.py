"""The MLP, written for one member at a padded shape; populations come from ``jax.vmap``.

Members that differ in depth, widths, activation, initializer, batch norm and dropout share one
program: every hidden layer is laid out at the layout's width, masks zero the units a member does
not have, layers past its depth are the identity, and discrete choices are per-member indices
into the choices the layout holds. Random draws (initial weights, RReLU slopes, dropout masks)
depend on the key, the layer, the row and the unit's index only, so a member draws the same
numbers at any padding: padded, it trains like the same network built at its own size.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxsweep.cache.programs import serializable
from jaxsweep.engine import threefry

RRELU_LOWER, RRELU_UPPER = 1.0 / 8.0, 1.0 / 3.0  # the RReLU paper's slope range
LEAKY_SLOPE = 0.01
PRELU_INIT = 0.25  # He et al. 2015
SELU_SCALE, SELU_ALPHA = 1.0507009873554805, 1.6732632423543772  # as jax.nn.selu's
SELU_NEGATIVE = -SELU_SCALE * SELU_ALPHA  # SELU's saturation value
OUTPUT_LAYER = (1 << 16) - 1  # the output layer's index in its draws: past any hidden layer's
TRUNCATED_STD = 0.87962566103423978  # std of a unit normal truncated to [-2, 2], as jax.nn's

# name: (variance scale, fan mode, normal); jax.nn.initializers.variance_scaling's parameters
INITIALIZERS: dict[str, tuple[float, str, bool]] = {
    "he_normal": (2.0, "fan_in", True),
    "he_uniform": (2.0, "fan_in", False),
    "lecun_normal": (1.0, "fan_in", True),
    "lecun_uniform": (1.0, "fan_in", False),
    "glorot_normal": (1.0, "fan_avg", True),
    "glorot_uniform": (1.0, "fan_avg", False),
}


@dataclass(frozen=True)
class Layout:
    """The padded shape and the choices one compiled program can take (static)."""

    depth: int
    width: int
    output_dim: int
    activations: tuple[str, ...]
    batch_norm: bool  # some member may use batch norm
    dropout: bool  # some member may drop out
    # The fewest hidden layers a member may have: the layers up to it are computed for every
    # member, with no test of a block's reach (a test that always passes cost a fixed-depth
    # population 8% of its speed).
    shallowest: int = 1

    def weights(self, input_dim: int) -> int:
        """A member's parameters at this size: kernels and biases, batch norm's scales and
        offsets, PReLU's slopes (one a layer). A CPU sizes its blocks and programs by it."""
        dims = [input_dim, *[self.width] * self.depth, self.output_dim]
        dense = sum((a + 1) * b for a, b in itertools.pairwise(dims))
        norms = 2 * self.width * self.depth if self.batch_norm else 0
        return dense + norms + (self.depth if "prelu" in self.activations else 0)


@serializable
class Arch(NamedTuple):
    """One member's network as data; stacked, each field gains a leading member axis."""

    widths: jax.Array  # (layout.depth,) int32, zero past the member's depth
    depth: jax.Array
    activation: jax.Array  # index into layout.activations
    initializer: jax.Array  # index into INITIALIZERS
    batch_norm: jax.Array  # bool
    alpha_dropout: jax.Array  # bool: alpha dropout (with SELU) instead of standard dropout


LAYER_BITS = 16  # a layer's counters start at layer 2^16: past any width's units or pairs


def unit_uniforms(
    key: jax.Array, layers: int, rows: int, units: int
) -> tuple[jax.Array, jax.Array]:
    """Two independent (layers, rows, units) arrays of uniform draws in [0, 1), 2^-16 apart,
    for the training noise of a step's hidden layers (dropout masks, RReLU slopes): entry
    (l, i, j) of the first is the high half of a word of the threefry hash of counter
    (i, l 2^16 + j // 2) under ``key``, of the second its low half, so each depends on the key,
    the layer, the row and the unit only. One hash serves two units and both draws: hashing is
    most of the noise's cost, and RReLU's draw alone cost more than twice the other eight
    activations together (64 members, batch 32, forward and backward). Every layer's noise is
    one hash: XLA compiles it once, not once a layer."""
    pairs = (units + 1) // 2  # a hash gives two words: units 2p and 2p + 1 share hash (i, p)
    shape = (layers, rows, pairs)
    row = jax.lax.broadcasted_iota(jnp.uint32, shape, 1)
    pair = jax.lax.broadcasted_iota(jnp.uint32, shape, 2)
    pair = pair + (jax.lax.broadcasted_iota(jnp.uint32, shape, 0) << jnp.uint32(LAYER_BITS))
    words = threefry.hash2x32(key, row, pair)
    bits = jnp.stack(words, axis=-1).reshape(layers, rows, 2 * pairs)[..., :units]
    half = jnp.float32(2.0**-16)  # 16-bit integers convert to float32 exactly
    return (bits >> 16).astype(jnp.float32) * half, (bits & 0xFFFF).astype(jnp.float32) * half


def kernel_bits(key: jax.Array, layer: int, shape: tuple[int, int]) -> jax.Array:
    """Random words for a layer's kernel: entry (i, j) is a word of the threefry hash of
    counter (i, layer 2^16 + j) under ``key``, so it depends on the key, the layer, the row and
    the unit only, and a kernel's corner is the same at any padding. With one written-out hash
    the init program of 256 members of 2 x 64 compiles in 0.27 s; JAX's draws, a key folded in
    per layer and per row, took 1.36 s (5 x 100: 0.73 s against 1.95 s)."""
    rows = jax.lax.broadcasted_iota(jnp.uint32, shape, 0)
    units = jax.lax.broadcasted_iota(jnp.uint32, shape, 1)
    counter = units + (jnp.uint32(layer) << jnp.uint32(LAYER_BITS))
    return threefry.hash2x32(key, rows, counter)[0]


def uniform_from_bits(bits: jax.Array, low: jax.Array, high: jax.Array) -> jax.Array:
    """Uniform draws in [low, high) from random words, as ``jax.random.uniform`` makes them."""
    one = jnp.uint32(0x3F800000)  # 1.0: 23 random mantissa bits give [1, 2)
    unit = jax.lax.bitcast_convert_type((bits >> jnp.uint32(9)) | one, jnp.float32) - 1.0
    return jnp.maximum(low, unit * (high - low) + low)


def truncated_normal_from_bits(bits: jax.Array) -> jax.Array:
    """A unit normal truncated to [-2, 2] from random words, as ``jax.random.truncated_normal``
    makes it: the inverse error function of a uniform draw between the bounds' CDFs."""
    sqrt2 = jnp.float32(math.sqrt(2.0))
    bound = jax.lax.erf(jnp.float32(2.0) / sqrt2)
    drawn = sqrt2 * jax.lax.erf_inv(uniform_from_bits(bits, -bound, bound))
    inside = jnp.nextafter(jnp.float32(2.0), jnp.float32(0.0))
    return jnp.clip(drawn, -inside, inside)


def padded_kernel(
    key: jax.Array,
    layer: int,
    shape: tuple[int, int],
    fan_in: jax.Array,
    fan_out: jax.Array,
    initializer: jax.Array,
    glorot: bool = False,
) -> jax.Array:
    """A kernel drawn as ``jax.nn.initializers.variance_scaling`` does for a (fan_in, fan_out)
    layer, laid out in the top-left corner of ``shape`` with zeros around it; the corner is the
    same at any padding. ``glorot``: the output layer's Glorot initializer, in the hidden
    initializer's normal/uniform flavour."""
    bits = kernel_bits(key, layer, shape)
    table = list(INITIALIZERS.values())
    normal = jnp.asarray([n for _, _, n in table])[initializer]
    if glorot:
        scale, fan = jnp.asarray(1.0), (fan_in + fan_out) / 2.0
    else:
        scale = jnp.asarray([s for s, _, _ in table])[initializer]
        by_input = jnp.asarray([m == "fan_in" for _, m, _ in table])[initializer]
        fan = jnp.where(by_input, fan_in, (fan_in + fan_out) / 2.0)
    std = jnp.sqrt(scale / jnp.maximum(fan, 1.0))
    flat = uniform_from_bits(bits, jnp.float32(-1.0), jnp.float32(1.0))
    values = jnp.where(
        normal, truncated_normal_from_bits(bits) / TRUNCATED_STD, flat * jnp.sqrt(3.0)
    )
    rows, cols = jnp.arange(shape[0])[:, None], jnp.arange(shape[1])[None, :]
    return jnp.where((rows < fan_in) & (cols < fan_out), values * std, 0.0)


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


class MLP(nn.Module):
    """Hidden layers: Dense → BatchNorm? → activation → dropout?; then a Dense output layer
    (never dropped out). Returns the output layer's pre-activation; see ``train.py`` for the
    output activation and the loss that go with the task. ``key`` seeds the initial weights
    (at init) and the training noise (RReLU, dropout) of this step. ``reach``, when given, is
    the greatest depth among the members computed together (a CPU's block, see ``placement``):
    the hidden layers past it are the identity for every one of them, and are not computed."""

    layout: Layout

    @nn.compact
    def __call__(
        self,
        x: jax.Array,
        arch: Arch,
        dropout_rate: jax.Array,
        key: jax.Array,
        train: bool,
        reach: jax.Array | None = None,
    ) -> jax.Array:
        s = self.layout
        fan_in = jnp.asarray(x.shape[-1])
        h = x
        noise = None
        if train and (s.dropout or "rrelu" in s.activations):
            noise = unit_uniforms(key, s.depth, x.shape[0], s.width)
        for layer in range(s.depth):
            hidden = functools.partial(
                MLP._hidden,
                layer=layer,
                arch=arch,
                dropout_rate=dropout_rate,
                key=key,
                noise=noise,
                train=train,
            )
            if reach is None or layer < s.shallowest or self.is_initializing():
                h, fan_in = hidden(self, h, fan_in)
            else:
                skipped = functools.partial(MLP._skipped, layer=layer, train=train)
                h, fan_in = nn.cond(layer < reach, hidden, skipped, self, h, fan_in)
        kernel = self.param(
            "kernel_out",
            self._drawn(
                lambda _, shape: padded_kernel(
                    key,
                    OUTPUT_LAYER,
                    shape,
                    fan_in,
                    jnp.asarray(s.output_dim),
                    arch.initializer,
                    glorot=True,
                )
            ),
            (s.width, s.output_dim),
        )
        return h @ kernel + self.param("bias_out", nn.initializers.zeros, (s.output_dim,))

    @nn.nowrap
    def _hidden(
        self,
        h: jax.Array,
        fan_in: jax.Array,
        layer: int,
        arch: Arch,
        dropout_rate: jax.Array,
        key: jax.Array,
        noise: tuple[jax.Array, jax.Array] | None,
        train: bool,
    ) -> tuple[jax.Array, jax.Array]:
        """Hidden layer ``layer``: the next ``h``, and the fan-in of the layer after it."""
        s = self.layout
        width = arch.widths[layer]
        kernel = self.param(
            f"kernel_{layer}",
            self._drawn(
                lambda _, shape: padded_kernel(key, layer, shape, fan_in, width, arch.initializer)
            ),
            (h.shape[-1], s.width),
        )
        z = h @ kernel + self.param(f"bias_{layer}", nn.initializers.zeros, (s.width,))
        if s.batch_norm:
            z = jnp.where(arch.batch_norm, self._batch_norm(layer, train)(z), z)
        slope = None
        if "prelu" in s.activations:
            slope = self.param(f"prelu_{layer}", nn.initializers.constant(PRELU_INIT), ())
        drops, slopes = (None, None) if noise is None else (noise[0][layer], noise[1][layer])
        a = activate(z, s.activations, arch.activation, slope, slopes)
        if drops is not None and s.dropout:
            a = dropout(a, dropout_rate, drops, arch.alpha_dropout)
        a = jnp.where(jnp.arange(s.width) < width, a, 0.0)
        real = layer < arch.depth
        h = a if layer == 0 else jnp.where(real, a, h)  # past its depth: the identity
        return h, jnp.where(real, width, fan_in)

    @nn.nowrap
    def _skipped(
        self, h: jax.Array, fan_in: jax.Array, layer: int, train: bool
    ) -> tuple[jax.Array, jax.Array]:
        """Hidden layer ``layer`` past every member's depth: the identity. Computed, its kernel
        and bias are zeros (drawn with no units, and their gradients are zero), so its batch
        norm sees zeros: its running statistics are updated with those, exactly as computed."""
        if self.layout.batch_norm and train:
            self._batch_norm(layer, train)(jnp.zeros((h.shape[0], self.layout.width), h.dtype))
        return h, fan_in

    @nn.nowrap
    def _batch_norm(self, layer: int, train: bool) -> nn.BatchNorm:
        return nn.BatchNorm(use_running_average=not train, momentum=0.9, name=f"batch_norm_{layer}")

    def _drawn(self, initializer: Callable[..., jax.Array]) -> Callable[..., jax.Array]:
        """``initializer`` at init; afterwards a stand-in of the same shape. Flax traces a
        parameter's initializer at every ``apply`` to check its shape, and the kernels' random
        draws were about half of the tracing of a training program: a warm sweep retraces
        its programs to find them in the compilation cache."""
        if self.is_initializing():
            return initializer
        return lambda _, shape: jnp.zeros(shape, jnp.float32)
