"""One host device per core, set before JAX starts, unless XLA_FLAGS already names a count."""

from __future__ import annotations

import os

import pytest

from jaxsweep.app.cores import use_every_core

COUNT = "--xla_force_host_platform_device_count"


def test_every_core_becomes_a_host_device_beside_the_other_flags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setenv("XLA_FLAGS", "--xla_backend_optimization_level=0")
    use_every_core()
    assert os.environ["XLA_FLAGS"].split() == [
        "--xla_backend_optimization_level=0",
        f"{COUNT}={cores}",
    ]
    monkeypatch.delenv("XLA_FLAGS")
    use_every_core()
    assert os.environ["XLA_FLAGS"].split() == [f"{COUNT}={cores}"]


def test_a_device_count_already_set_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XLA_FLAGS", f"{COUNT}=3")
    use_every_core()
    assert os.environ["XLA_FLAGS"] == f"{COUNT}=3"
