"""How far the running epoch has got, so that a long epoch (a big table) never looks frozen.

An epoch is one compiled call, silent until it returns. A program whose epochs have at least
``LONG_EPOCH`` steps calls back to Python about ``REPORTS`` times an epoch (``reporting``), and
``describe`` gives the progress line its latest word. Such a program is not kept on disk by
``stored`` (``jax.export`` refuses host callbacks): it is traced again by each run, seconds
against epochs of minutes. Shorter epochs compile as before, without callbacks.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

LONG_EPOCH = 2000  # steps an epoch from which it reports its progress
REPORTS = 100  # reports an epoch
FRESH_S = 5.0  # a report older than this is not shown (the epoch has ended)

_latest: dict[str, float] = {}
_lock = threading.Lock()

Step = Callable[[Any, Any], tuple[Any, Any]]


def reporting(step: Step, steps: int) -> Step:
    """``step`` for ``lax.scan`` over ``(batch, index)``: each batch's update, and every
    ``steps // REPORTS`` steps a report of the index reached."""
    every = max(1, steps // REPORTS)

    def counted(carry: Any, batch_and_index: tuple[Any, jax.Array]) -> tuple[Any, Any]:
        batch, index = batch_and_index
        jax.lax.cond(
            index % every == every - 1,
            lambda: jax.debug.callback(_report, index + 1, steps),
            lambda: None,
        )
        return step(carry, batch)

    return counted


def indexed(batches: Any, steps: int) -> tuple[Any, jax.Array]:
    return batches, jnp.arange(steps, dtype=jnp.int32)


def _report(done: Any, steps: int) -> None:
    with _lock:
        _latest.update(fraction=float(done) / steps, at=time.monotonic())


def describe() -> str:
    """'epoch 43%' while a long epoch reports, else ''."""
    with _lock:
        if not _latest or time.monotonic() - _latest["at"] > FRESH_S:
            return ""
        return f"epoch {100 * _latest['fraction']:.0f}%"
