"""jaxsweep run: what it prints of the study it runs."""

from __future__ import annotations

import re
from pathlib import Path


def test_the_header_names_the_study_and_the_devices_it_trains_on(
    staged_sweep: tuple[Path, str],
) -> None:
    _, stdout = staged_sweep
    header = re.search(r"study digits in sqlite:///\S+: (.+)", stdout)
    assert header, stdout
    devices = r"\d+ (CPU devices?|[A-Z]+s? \(.+\))"  # a CPU: a device a core
    assert re.fullmatch(rf"iris \(multiclass\), population 4, 3 epochs, on {devices}", header[1])
