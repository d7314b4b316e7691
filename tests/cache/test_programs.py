"""Stored programs: what one run traced and exported, the next reads back without tracing."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxsweep.cache import programs
from jaxsweep.cache.programs import SUFFIX, Stored
from jaxsweep.engine.cohort import Data
from tests.conftest import run_cli, tiny_sweep

DATA = Data(*(jnp.arange(6.0, dtype=jnp.float32).reshape(2, 3) + i for i in range(4)))
SCALE = jnp.float32(2.0)


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    programs.keep_in(tmp_path)
    try:
        yield tmp_path
    finally:
        programs.keep_in(None)


def counted(traces: list[str]) -> Callable[[Data, jax.Array], Data]:
    """A program that notes each time JAX traces it (its Python body runs only then)."""

    def affine(data: Data, scale: jax.Array) -> Data:
        traces.append("affine")
        return Data(*(leaf * scale + 1 for leaf in data))

    return affine


def files(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{SUFFIX}"))


def test_a_stored_program_is_read_back_untraced(folder: Path) -> None:
    traces: list[str] = []
    first = Stored("affine", counted(traces), "v1")(DATA, SCALE)
    again = Stored("affine", counted(traces), "v1")(DATA, SCALE)  # as the next process would
    assert traces == ["affine"]
    assert len(files(folder)) == 1
    assert isinstance(again, Data)  # jaxsweep's NamedTuples travel through the stored file
    for ours, theirs, given in zip(again, first, DATA, strict=True):
        np.testing.assert_array_equal(ours, theirs)
        np.testing.assert_array_equal(ours, np.asarray(given) * 2 + 1)


def test_another_static_shape_or_type_is_traced_anew(folder: Path) -> None:
    traces: list[str] = []
    Stored("affine", counted(traces), "v1")(DATA, SCALE)
    Stored("affine", counted(traces), "v2")(DATA, SCALE)
    Stored("affine", counted(traces), "v1")(Data(*(jnp.ones((2, 4)),) * 4), SCALE)
    Stored("affine", counted(traces), "v1")(DATA, jnp.float16(2.0))
    assert len(traces) == 4
    assert len(files(folder)) == 4


def test_an_unreadable_stored_program_is_exported_anew(folder: Path) -> None:
    traces: list[str] = []
    Stored("affine", counted(traces), "v1")(DATA, SCALE)
    [path] = files(folder)
    path.write_bytes(path.read_bytes()[:100])  # a truncated write
    result = Stored("affine", counted(traces), "v1")(DATA, SCALE)
    np.testing.assert_array_equal(result.y_val, np.asarray(DATA.y_val) * 2 + 1)
    Stored("affine", counted(traces), "v1")(DATA, SCALE)  # the file was written whole again
    assert traces == ["affine"] * 2


def test_a_new_release_removes_the_programs_of_others(folder: Path) -> None:
    other = folder / f"000000000000-affine-{'0' * 32}{SUFFIX}"  # an older jaxsweep's
    other.write_bytes(b"old")
    unrelated = folder / "notes.txt"
    unrelated.write_text("kept")
    Stored("affine", counted([]), "v1")(DATA, SCALE)
    assert not other.exists() and unrelated.exists()
    assert len(files(folder)) == 1


def test_a_program_jax_cannot_export_runs_as_plain_jit(folder: Path) -> None:
    def host_sine(x: jax.Array) -> jax.Array:  # a host callback: jax.export refuses it
        return jax.pure_callback(np.sin, jax.ShapeDtypeStruct(x.shape, x.dtype), x)

    result = Stored("host_sine", host_sine, None)(jnp.arange(3.0))
    np.testing.assert_allclose(result, np.sin(np.arange(3.0)), rtol=1e-6)
    assert not files(folder)


def test_without_a_folder_programs_are_traced_and_nothing_is_written(tmp_path: Path) -> None:
    traces: list[str] = []
    Stored("affine", counted(traces), "v1")(DATA, SCALE)
    Stored("affine", counted(traces), "v1")(DATA, SCALE)
    assert traces == ["affine"] * 2
    assert programs.FOLDER is None and not files(tmp_path)


def traced(stderr: str) -> set[str]:
    """The functions JAX traced, from its compile log (JAX_LOG_COMPILES)."""
    return set(re.findall(r"Finished tracing \+ transforming (\S+) for", stderr)) | set(
        re.findall(r"Finished tracing (\S+) for", stderr)
    )


def test_a_second_sweep_traces_none_of_its_programs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAXSWEEP_CACHE_DIR", str(tmp_path / "cache"))  # empty: the first run
    monkeypatch.setenv("JAX_LOG_COMPILES", "1")
    stages = {"stages": ["lr_find", "search"], "lr_find": {"steps": 40, "architectures": 1}}
    sweeps = [tiny_sweep(tmp_path / name, **stages) for name in ("first", "second")]
    runs = [run_cli("run", str(sweep)) for sweep in sweeps]
    for run in runs:
        assert run.returncode == 0, run.stderr
    # the range test, and the population's initial variables, initial state and training
    programs = {"member", "init_member", "start", "_local"}
    assert programs <= traced(runs[0].stderr)
    assert not programs & traced(runs[1].stderr)
    assert len(os.listdir(tmp_path / "cache" / "programs")) == 4
    assert trials(tmp_path / "first") == trials(tmp_path / "second")  # same trials and values
    assert not (tmp_path / "first" / "results" / "tiny" / "plots").exists()  # plots: false


def trials(folder: Path) -> list[dict[str, str]]:
    """A sweep's trials.csv without its clock times and process ids."""
    with (folder / "results" / "tiny" / "trials.csv").open(newline="") as file:
        rows = list(csv.DictReader(file))
    return [
        {k: v for k, v in row.items() if "datetime" not in k and k not in ("duration", "worker")}
        for row in rows
    ]
