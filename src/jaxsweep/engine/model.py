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
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxsweep.cache.programs import serializable
from jaxsweep.engine.activations import activate, dropout
from jaxsweep.engine.draws import padded_kernel, unit_uniforms

PRELU_INIT = 0.25  # He et al. 2015
OUTPUT_LAYER = (1 << 16) - 1  # the output layer's index in its draws: past any hidden layer's


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


class MLP(nn.Module):
    """Hidden layers: Dense → BatchNorm? → activation → dropout?; then a Dense output layer
    (never dropped out). Returns the output layer's pre-activation; see ``train`` for the
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
