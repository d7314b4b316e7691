"""The collector setting of a sweep process, in a subprocess: freezing is process-wide."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc
from jaxsweep.app import collector
before = gc.get_freeze_count()  # what the interpreter's own start-up froze, if anything
collector.settle()  # not tuned: an embedding process keeps its collector
untuned = gc.get_freeze_count() - before
collector.tune()
collector.settle()
print(untuned, gc.get_freeze_count() > 0, gc.get_threshold() == collector.THRESHOLDS)
"""


def test_only_a_tuned_process_freezes_what_it_has_imported() -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.split() == ["0", "True", "True"]
