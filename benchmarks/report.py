"""Where every benchmark writes its table: `benchmarks/results/NAME.md` and `NAME.json`.

Each file starts with where its figures come from (``provenance``): the date, the machine (CPU
model, cores, accelerator), the library versions, jaxsweep's commit and the exact command, so a
figure quoted in the README can be traced to the run that measured it and rerun.

    report.write("my_benchmark", table, {"rows": rows})   # header + table, data + provenance
    report.header()                                        # the Markdown header alone
    report.provenance()                                    # the same facts as a dict
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
REPO = Path(__file__).resolve().parents[1]
# The libraries whose versions move the figures; one not installed is left out.
LIBRARIES = (
    "jaxsweep",
    "jax",
    "jaxlib",
    "flax",
    "optax",
    "optuna",
    "numpy",
    "scikit-learn",
    "torch",
)


def write(name: str, table: str, data: dict[str, Any]) -> None:
    """The Markdown ``table`` of benchmark ``name`` under its provenance header, and the JSON
    ``data`` with the same provenance under the key ``provenance``."""
    facts = provenance()
    RESULTS.mkdir(exist_ok=True)
    text = f"# {name}\n\n{header(facts)}\n{table.rstrip()}\n"
    (RESULTS / f"{name}.md").write_text(text, encoding="utf-8")
    document = {"provenance": facts} | data
    (RESULTS / f"{name}.json").write_text(json.dumps(document, indent=2), encoding="utf-8")


def header(facts: dict[str, Any] | None = None) -> str:
    """The provenance as a Markdown list (of ``provenance()`` unless ``facts`` are given)."""
    facts = facts or provenance()
    machine = facts["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in facts["versions"].items())
    return "\n".join(
        [
            f"- date: {facts['date']}",
            f"- machine: {machine['cpu']}, {machine['cores']} cores usable "
            f"({machine['cpus']} in the machine), {machine['accelerator']}; load average "
            f"{machine['load']} when written (other processes share the cores when it is "
            "above their count)",
            f"- versions: Python {facts['python']}, {versions}",
            f"- jaxsweep commit: {facts['commit']}",
            f"- command: `{facts['command']}`",
            "",
        ]
    )


def provenance() -> dict[str, Any]:
    """Date (UTC), machine, versions, commit and the command line of this process."""
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "python": platform.python_version(),
        "versions": versions(),
        "commit": commit(),
        "command": command(),
    }


def machine() -> dict[str, Any]:
    return {
        "cpu": cpu_model(),
        "cores": len(os.sched_getaffinity(0)),  # what this process may use
        "cpus": os.cpu_count(),
        "accelerator": accelerator(),
        # 1, 5 and 15 minutes: a figure measured beside other work reads slower
        "load": "/".join(f"{load:.1f}" for load in os.getloadavg()),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def accelerator() -> str:
    """The devices JAX runs on, when they are not the CPU (read only once JAX has started: the
    benchmarks choose JAX's host devices before it does)."""
    if "jax" not in sys.modules:
        return "accelerator not checked (JAX not started)"
    import jax

    if jax.default_backend() == "cpu":
        return "no accelerator (JAX on the CPU)"
    kinds = sorted({device.device_kind for device in jax.devices()})
    return f"{jax.device_count()} x {', '.join(kinds)} ({jax.default_backend()})"


def versions() -> dict[str, str]:
    found = {}
    for library in LIBRARIES:
        try:
            found[library] = importlib.metadata.version(library)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def commit() -> str:
    """jaxsweep's commit, marked when the working tree differs from it."""

    def git(*args: str) -> str:
        result = subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=False
        )
        return result.stdout.strip() if result.returncode == 0 else ""

    head = git("rev-parse", "--short=12", "HEAD")
    if not head:
        return "unknown (not a git checkout)"
    # A benchmark's own outputs (a plot written before its tables) are not changes to the code.
    changed = git(
        "status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results"
    )
    return f"{head} (with uncommitted changes)" if changed else head


def command() -> str:
    """This process's command line as it can be typed again from the repository root (the
    script's path relative to it, never this machine's own)."""
    if sys.argv[0] in ("", "-c", "-"):  # code given to Python directly: no script to name
        return shlex.join(["python", *sys.argv])
    script = Path(sys.argv[0]).resolve()
    try:
        shown = str(script.relative_to(REPO))
    except ValueError:
        shown = script.name
    return shlex.join(["python", shown, *sys.argv[1:]])
