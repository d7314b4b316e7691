"""Ctrl-C or the time budget: a sweep is asked to stop, and says why."""

from __future__ import annotations

import signal
import time

import pytest

from jaxsweep.search.stopping import INTERRUPTED, TIMED_OUT, StopRequest


def test_a_deadline_in_the_past_reads_as_timed_out_with_its_reason() -> None:
    request = StopRequest()
    assert not request.requested and not request.timed_out  # no deadline: never timed out
    request.deadline = time.monotonic() + 3600
    assert not request.requested
    request.deadline = time.monotonic() - 1
    assert request.timed_out and request.requested and request.reason == TIMED_OUT
    assert TIMED_OUT.startswith("timeout")  # what the trials it cuts short record


def test_ctrl_c_asks_to_stop_and_a_second_stops_at_once() -> None:
    before = signal.getsignal(signal.SIGINT)
    with StopRequest() as request:
        signal.raise_signal(signal.SIGINT)  # handled before it returns, in this thread
        assert request.interrupted and request.requested and request.reason == INTERRUPTED
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before  # the handler before it, back
