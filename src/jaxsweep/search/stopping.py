"""Ctrl-C or the time budget during a sweep: finish the current training call, then stop
cleanly."""

from __future__ import annotations

import signal
import time
from typing import Any

INTERRUPTED = "interrupted"
TIMED_OUT = "timeout: the sweep's time budget ran out"


class StopRequest:
    """Ctrl-C, or the run's deadline passing, asks the sweep to stop at the next training-call
    boundary (every epoch when a pruner, early stopping or a deadline is on); a second Ctrl-C
    stops at once. Used as a context manager around a sweep."""

    def __init__(self) -> None:
        self.interrupted = False
        self.deadline: float | None = None  # time.monotonic() at which the budget runs out
        self._previous: Any = None

    @property
    def requested(self) -> bool:
        return self.interrupted or self.timed_out

    @property
    def timed_out(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    @property
    def reason(self) -> str:
        """Why the sweep stops, as the trials it cuts short record it."""
        return INTERRUPTED if self.interrupted else TIMED_OUT

    def __enter__(self) -> StopRequest:
        self.interrupted = False
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *_: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _handle(self, *_: object) -> None:
        if self.interrupted:
            raise KeyboardInterrupt
        self.interrupted = True


stop_request = StopRequest()
