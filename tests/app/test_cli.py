"""The jaxsweep command in a subprocess: validate writes nothing, and each command's help."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.conftest import run_cli, tiny_sweep


def test_validate_prints_the_resolved_config_and_writes_nothing(tmp_path: Path) -> None:
    result = run_cli("validate", str(tiny_sweep(tmp_path)))
    assert result.returncode == 0, result.stderr
    document = yaml.safe_load(result.stdout)
    assert document["resolved"]["data"]["task"] == "multiclass"
    assert document["storage"].endswith("results/tiny/study.db")
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ([], ["lr-find", "dashboard"]),
        # <study> and $JAXSWEEP_CACHE_DIR: not taken for markup
        (["run"], ["RESULTS/<study>/", "$JAXSWEEP_CACHE_DIR", "--timeout", "10m"]),
        (["best"], ["results/<study>"]),
        (["predict"], ["probability_<label>", "--keep", "any order"]),
    ],
)
def test_help_explains_each_command(command: list[str], says: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout
    flat = " ".join(result.stdout.split())  # the help wraps to the terminal's width
    for words in says:
        assert words in flat, words
