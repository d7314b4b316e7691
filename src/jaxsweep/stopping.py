"""Ctrl-C during a sweep: finish the current training call, then stop cleanly."""

from __future__ import annotations

import signal
from typing import Any


class StopRequest:
    """Ctrl-C asks the sweep to stop at the next training-call boundary (every epoch when a
    pruner is on); a second Ctrl-C stops at once. Used as a context manager around a sweep."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def __enter__(self) -> StopRequest:
        self.requested = False
        self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *_: object) -> None:
        signal.signal(signal.SIGINT, self._previous)

    def _handle(self, *_: object) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


stop_request = StopRequest()
