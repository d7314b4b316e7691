"""XLA settings that make the suite compile fast, chosen before JAX starts in any test process.

Tests train tiny models for a few epochs, so XLA's compile time dominates the suite. Its CPU
backend compiles about twice as fast without LLVM optimisations, and the suite took 0.7x the
time again with the legacy elemental emitters instead of the fusion emitters (which a sweep
keeps: its programs ran 1.6x faster with them). Numbers are compared only within one setting.
"""

from __future__ import annotations

import os
import subprocess
import sys

FAST_COMPILE = ("--xla_backend_optimization_level=0", "--xla_cpu_use_fusion_emitters=false")


def with_fast_compile(flags: str) -> str:
    """``flags`` with the fast-compile settings this XLA knows added (once: the xdist workers
    and the CLI subprocesses inherit what the first test process set)."""
    added = [flag for flag in FAST_COMPILE if flag.split("=")[0] not in flags]
    if added and not _known(added):
        added = [flag for flag in added if _known([flag])]
    return " ".join([flags, *added]).strip()


def _known(candidates: list[str]) -> bool:
    """Whether this XLA accepts ``candidates``: an unknown flag aborts the process that starts
    JAX, and a later XLA may drop its legacy emitters."""
    probe = subprocess.run(
        [sys.executable, "-c", "import jax; jax.devices()"],
        env=os.environ | {"XLA_FLAGS": " ".join(candidates)},
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0
