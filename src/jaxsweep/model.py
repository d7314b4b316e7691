"""The MLP, written for one member; populations come from ``jax.vmap`` over it."""

from __future__ import annotations

from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxsweep.space import ModelConfig

RRELU_LOWER, RRELU_UPPER = 1.0 / 8.0, 1.0 / 3.0  # the RReLU paper's slope range
LEAKY_SLOPE = 0.01
PRELU_INIT = 0.25  # He et al. 2015
SELU_NEGATIVE = -1.0507009873554805 * 1.6732632423543772  # SELU's saturation value, -λα


@dataclass(frozen=True)
class Structure:
    """Everything about a network that changes the compiled program. The dropout *rate* is not
    here: it is passed in as data so that members with different rates share one program."""

    widths: tuple[int, ...]
    activation: str
    initializer: str
    batch_norm: bool
    dropout: str  # none | standard | alpha
    output_dim: int

    @classmethod
    def of(cls, config: ModelConfig) -> Structure:
        dropout = "none"
        if config.dropout > 0:
            dropout = "alpha" if config.activation == "selu" else "standard"
        return cls(
            config.widths,
            config.activation,
            config.initializer,
            config.batch_norm,
            dropout,
            config.output_dim,
        )


def initializer(name: str) -> jax.nn.initializers.Initializer:
    return getattr(jax.nn.initializers, name)()


def output_initializer(hidden_initializer: str) -> jax.nn.initializers.Initializer:
    """Glorot for the softmax/sigmoid/linear output, in the hidden layers' flavour."""
    flavour = "uniform" if hidden_initializer.endswith("uniform") else "normal"
    return initializer(f"glorot_{flavour}")


def dropout(x: jax.Array, rate: jax.Array, key: jax.Array, alpha: bool) -> jax.Array:
    """Inverted dropout, or alpha dropout (keeps SELU's mean and variance) when ``alpha``."""
    keep = 1.0 - rate
    mask = jax.random.bernoulli(key, keep, x.shape)
    if not alpha:
        return jnp.where(mask, x / keep, 0.0)
    a = (keep + SELU_NEGATIVE**2 * keep * rate) ** -0.5
    b = -a * SELU_NEGATIVE * rate
    return a * jnp.where(mask, x, SELU_NEGATIVE) + b


class Activation(nn.Module):
    name_: str

    @nn.compact
    def __call__(self, x: jax.Array, train: bool) -> jax.Array:
        if self.name_ == "prelu":
            slope = self.param("slope", nn.initializers.constant(PRELU_INIT), ())
            return jnp.where(x >= 0, x, slope * x)
        if self.name_ == "rrelu":
            if train:
                slope = jax.random.uniform(
                    self.make_rng("dropout"), x.shape, minval=RRELU_LOWER, maxval=RRELU_UPPER
                )
            else:
                slope = (RRELU_LOWER + RRELU_UPPER) / 2.0
            return jnp.where(x >= 0, x, slope * x)
        if self.name_ == "leaky_relu":
            return jax.nn.leaky_relu(x, LEAKY_SLOPE)
        return getattr(jax.nn, self.name_)(x)


class MLP(nn.Module):
    """Hidden layers: Dense → BatchNorm? → activation → dropout?; then a Dense output layer
    (never dropped out). Returns the output layer's pre-activation; see ``train.py`` for the
    output activation and the loss that go with the task."""

    structure: Structure

    @nn.compact
    def __call__(self, x: jax.Array, dropout_rate: jax.Array, train: bool) -> jax.Array:
        s = self.structure
        for width in s.widths:
            x = nn.Dense(width, kernel_init=initializer(s.initializer))(x)
            if s.batch_norm:
                x = nn.BatchNorm(use_running_average=not train, momentum=0.9)(x)
            x = Activation(s.activation)(x, train)
            if s.dropout != "none" and train:
                x = dropout(x, dropout_rate, self.make_rng("dropout"), s.dropout == "alpha")
        return nn.Dense(s.output_dim, kernel_init=output_initializer(s.initializer))(x)
