"""CI runs what the README tells a contributor to run, and stops at the first failing step."""

from __future__ import annotations

import shlex
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TEST_COMMENT = "# install the development extras and run the tests"


def readme_test_command() -> list[str]:
    """The README's test command, split into its steps at ``&&``."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    command = lines[next(i for i, line in enumerate(lines) if line.startswith(TEST_COMMENT)) + 1]
    return [step.strip() for step in command.split(" && ")]


def ci_commands() -> list[str]:
    """The commands `.ci/run` runs, one a line (comments, blank lines and its setup left out)."""
    lines = (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    setup = ("#", "set ", "cd ", "export ")
    return [line.strip() for line in lines if line.strip() and not line.startswith(setup)]


def test_ci_runs_the_readmes_test_command_step_by_step_then_the_linter() -> None:
    steps = readme_test_command()
    assert any("pytest" in step and "-m contract" in step for step in steps)
    assert ci_commands() == [*steps, ".venv/bin/ruff check ."]


def test_ci_stops_at_the_first_failing_command() -> None:
    """Under ``set -e`` a failure inside an ``&&`` chain, except its last command, does not stop
    a script: each command stands alone, so any failure ends the run with its status."""
    text = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "set -euo pipefail" in text.splitlines()
    for command in ci_commands():
        tokens = shlex.split(command, comments=True)
        assert not {"&&", "||", ";", "|"} & set(tokens), command
