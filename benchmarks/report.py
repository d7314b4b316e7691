"""Where every benchmark writes its table: `benchmarks/results/NAME.md` and `NAME.json`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def write(name: str, table: str, data: dict[str, Any]) -> None:
    """The Markdown ``table`` and the JSON ``data`` of benchmark ``name``."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.md").write_text(table.rstrip("\n") + "\n", encoding="utf-8")
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2), encoding="utf-8")
