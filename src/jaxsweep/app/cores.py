"""The process's devices, set before JAX starts."""

from __future__ import annotations

import os


def use_every_core() -> None:
    """XLA runs one program on one CPU core; one host device per core lets a population spread
    over all of them. Must run before JAX starts; an explicit XLA_FLAGS setting wins."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_force_host_platform_device_count" not in flags:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        os.environ["XLA_FLAGS"] = f"{flags} --xla_force_host_platform_device_count={cores or 1}"
