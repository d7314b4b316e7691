"""The bad-input corpus: every case in tests/e2e/bad_inputs/ is refused with one line naming the
file, key and value, exit code 2, no traceback, and nothing written.

Each case is a folder: sweep.yaml (+ space.yaml, data files) and expect.yaml with the extra
command-line `args` and a `message` the error line must contain. The CLI runs in-process (the
same typer app as the console script) so that 30-odd cases take seconds; test_cli.py runs a few
through a real subprocess."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from jaxsweep.app.cli import app

CASES = sorted(p for p in (Path(__file__).parent / "bad_inputs").iterdir() if p.is_dir())


def test_the_corpus_is_broad() -> None:
    assert len(CASES) >= 25
    assert {p.name.split("_")[0] for p in CASES} >= {"sweep", "space", "data", "cli", "storage"}


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_bad_input_is_refused_cleanly(
    case: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = shutil.copytree(case, tmp_path / case.name)
    expect = yaml.safe_load((folder / "expect.yaml").read_text())
    before = sorted(p.name for p in folder.rglob("*"))
    monkeypatch.chdir(folder)
    result = CliRunner().invoke(app, ["run", "sweep.yaml", *expect["args"]])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert expect["message"] in lines[0]
    assert "Traceback" not in result.output
    assert "secret" not in result.output  # a storage password never shows
    assert sorted(p.name for p in folder.rglob("*")) == before  # no storage, no results folder
