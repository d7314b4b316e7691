"""XLA settings for the suite, chosen before JAX starts in any test process.

Tests train tiny models for a few epochs, so XLA's compile time dominates the suite. Its CPU
backend compiles about twice as fast without LLVM optimisations, and the suite took 0.7x the
time again with the legacy elemental emitters instead of the fusion emitters (which a sweep
keeps: its programs ran 1.6x faster with them). Numbers are compared only within one setting.

Users get XLA's defaults, so the README's test command runs the engine's contracts (tests
marked ``contract``) under them, in a process of their own:
``JAXSWEEP_TEST_XLA=default pytest -m contract``, after ``pytest -m "not contract"``. A bug
that only optimised code shows (a fused reduction reordered, a select folded away) would
otherwise pass the suite. Running them fast as well would cost the suite's time budget (five
minutes on 2 cores) and test only what no user runs.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping

FAST_COMPILE = ("--xla_backend_optimization_level=0", "--xla_cpu_use_fusion_emitters=false")
SETTING = "JAXSWEEP_TEST_XLA"  # "fast" (the default) or "default": XLA's own settings


def xla_flags_for_tests(environ: Mapping[str, str]) -> str:
    """The ``XLA_FLAGS`` a test process starts JAX with: the user's own, plus the fast-compile
    settings unless ``JAXSWEEP_TEST_XLA=default`` asks for XLA's defaults (then any fast-compile
    flag inherited is removed, so the contracts really run as users compile them)."""
    flags = environ.get("XLA_FLAGS", "")
    setting = environ.get(SETTING, "fast")
    if setting == "default":
        names = {flag.split("=")[0] for flag in FAST_COMPILE}
        return " ".join(f for f in flags.split() if f.split("=")[0] not in names)
    if setting != "fast":
        raise ValueError(f"{SETTING}={setting!r}: expected 'fast' or 'default'")
    return with_fast_compile(flags)


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
