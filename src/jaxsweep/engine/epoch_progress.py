"""How far the running epoch has got, so that a long epoch (a big table) never looks frozen.

An epoch is one compiled call, silent until it returns. A program whose epochs have at least
``LONG_EPOCH`` steps calls back to Python about ``REPORTS`` times an epoch (``scan``), and
``describe`` gives the progress line its latest word. A program with host callbacks is kept
neither by ``cache.programs`` (``jax.export`` refuses them) nor by XLA's persistent cache (JAX
does not write it), so each run compiles it again: for a 1,000,000-row table at batch 32 (18,750
steps, an epoch of about 30 s on 2 cores) that made a warm run's one-epoch trials 10-14 s
longer. From 50,000 steps an epoch (a minute or more on a CPU) the compile is a small part of
the first epoch and nothing of the later ones; shorter epochs compile as before, without
callbacks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

LONG_EPOCH = 50_000  # steps an epoch from which it reports its progress
REPORTS = 100  # reports an epoch
FRESH_S = 5.0  # a report older than this is not shown (the epoch has ended)

_latest: dict[str, float] = {}
_lock = threading.Lock()

Step = Callable[[Any, Any], tuple[Any, Any]]


def scan(step: Step, carry: Any, batches: Any, steps: int) -> tuple[Any, Any]:
    """``lax.scan(step, carry, batches)`` over ``steps`` steps, in about ``REPORTS`` segments,
    each a scan of its steps followed by a report of the steps done. A report taken inside the
    step (a ``lax.cond`` on the step's index) made an epoch of a 1,000,000-row table 5-20%
    slower; between segments it costs nothing measurable."""
    every = max(1, steps // REPORTS)
    outer = steps // every
    head = outer * every
    segments = jax.tree.map(lambda x: x[:head].reshape(outer, every, *x.shape[1:]), batches)

    def segment(carry: Any, numbered: tuple[Any, jax.Array]) -> tuple[Any, Any]:
        carry, out = jax.lax.scan(step, carry, numbered[0])
        jax.debug.callback(_report, (numbered[1] + 1) * every, steps)
        return carry, out

    carry, out = jax.lax.scan(segment, carry, (segments, jnp.arange(outer)))
    out = jax.tree.map(lambda x: x.reshape(head, *x.shape[2:]), out)
    if head == steps:
        return carry, out
    carry, rest = jax.lax.scan(step, carry, jax.tree.map(lambda x: x[head:], batches))
    return carry, jax.tree.map(lambda a, b: jnp.concatenate([a, b]), out, rest)


def _report(done: Any, steps: int) -> None:
    with _lock:
        _latest.update(fraction=float(done) / steps, at=time.monotonic())


def describe() -> str:
    """'epoch 43%' while a long epoch reports, else ''."""
    with _lock:
        if not _latest or time.monotonic() - _latest["at"] > FRESH_S:
            return ""
        return f"epoch {100 * _latest['fraction']:.0f}%"
