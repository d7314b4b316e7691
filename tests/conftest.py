"""Shared fixtures: tiny real datasets, sweep files written to tmp, the real CLI and waits on it."""

from __future__ import annotations

import os

from tests.xla_flags import xla_flags_for_tests

os.environ["XLA_FLAGS"] = xla_flags_for_tests(os.environ)  # before JAX starts
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import jax
import pytest
import yaml

from jaxsweep.config import DataConfig
from jaxsweep.data.dataset import Dataset, load_dataset

if TYPE_CHECKING:
    from collections.abc import Callable

    from jaxsweep.app.checkpoint import Model

REPO = Path(__file__).resolve().parents[1]
SMALL_SPACE = REPO / "search_spaces" / "small.yaml"

# Blocks, program caps and host devices are how a CPU shares out a population; an accelerator
# trains a device's share in one program, so tests of that sharing run on a CPU only.
cpu_only = pytest.mark.skipif(
    jax.default_backend() != "cpu", reason="how a CPU shares out a population (no accelerator)"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "contract: the engine's contracts; the README's test command runs them under XLA's "
        "default compile settings (JAXSWEEP_TEST_XLA=default pytest -m contract)",
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Which compile settings the run had, even under ``-q``: the contract subset must be seen
    to run at XLA's defaults (``JAXSWEEP_TEST_XLA=default``)."""
    terminalreporter.write_line(f"XLA_FLAGS={os.environ['XLA_FLAGS']!r}")


@pytest.fixture(scope="session", autouse=True)
def compilation_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One XLA cache for the session's CLI subprocesses, kept out of the user's home."""
    folder = tmp_path_factory.mktemp("xla-cache")
    os.environ["JAXSWEEP_CACHE_DIR"] = str(folder)
    return folder


@pytest.fixture(scope="session")
def iris() -> Dataset:
    return load_dataset(DataConfig(source="iris"), seed=0)


@pytest.fixture(scope="session")
def diabetes() -> Dataset:
    return load_dataset(DataConfig(source="diabetes"), seed=0)


def write_yaml(path: Path, document: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def tiny_sweep(folder: Path, **changes: object) -> Path:
    """A sweep on iris that finishes in seconds; ``changes`` replace top-level keys."""
    document = {
        "study": "tiny",
        "data": {"source": "iris"},
        "search_space": str(SMALL_SPACE),
        "population": 4,
        "trials": 8,
        "epochs": 3,
        "early_stopping": {"patience": 2},
        "pruner": {"type": "none"},
        "results": str(folder / "results"),
        "plots": False,  # seconds a run; the end-to-end sweep (staged_sweep) writes them
    } | changes
    return write_yaml(folder / "sweep.yaml", document)


def one_structure_space(folder: Path, low: float = 1e-3, high: float = 1e-1) -> Path:
    """A space with one network (8 units) and a searched learning rate: one program to compile."""
    rate = {"type": "float", "low": low, "high": high, "log": True}
    return write_yaml(folder / "space.yaml", {"units": 8, "learning_rate": rate})


@pytest.fixture(scope="session")
def staged_sweep(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One tiny sweep through all three stages, shared by the end-to-end tests: its folder, and
    what `jaxsweep run` printed. The study is named like the README's, to run its example."""
    folder = tmp_path_factory.mktemp("staged")
    sweep = tiny_sweep(
        folder,
        study="digits",
        stages=["lr_find", "search", "schedule"],
        schedule_trials=2,
        pruner={"type": "median", "n_startup_trials": 2, "n_warmup_steps": 1},
        lr_find={"steps": 40, "architectures": 1, "seeds": 2},
        plots=True,
    )
    result = run_cli("run", str(sweep))
    assert result.returncode == 0, result.stderr
    return folder, result.stdout


def untrained_model(dataset: Dataset, **values: object) -> Model:
    """A member for ``dataset`` at its initial weights, as ``jaxsweep train`` would keep it: tests
    of saving, loading and predicting need a network, not a trained one (no compile to wait for
    beyond its forward pass)."""
    from jaxsweep.app.checkpoint import Model
    from jaxsweep.data.preprocessing import Preprocessing
    from jaxsweep.engine.model import MLP
    from jaxsweep.search.member_config import resolve
    from jaxsweep.search.population import arch_of, cohort_of

    config = resolve({"units": 8} | values, dataset.task, dataset.output_dim)  # type: ignore[arg-type]
    layout = cohort_of(config, dataset.task).layout
    key = jax.random.PRNGKey(0)
    arch = arch_of(config, layout)
    variables = MLP(layout).init(key, dataset.train.X[:1], arch, 0.0, key, False)
    preprocessing = Preprocessing(dataset.preprocessor, 0.0, 1.0, dataset.task, dataset.classes)
    return Model(config, variables, preprocessing, layout)


# Generous: a run's first trials wait for its compile, which a slow or busy machine can take
# minutes over. A wait fails the test with what it waited for, never acts on regardless.
WAIT_S = 300


def wait_for(condition: Callable[[], bool], what: str, process: subprocess.Popen) -> None:
    """Poll ``condition`` until it holds; fail if ``process`` ends or ``WAIT_S`` pass first."""
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the process ended (exit code {process.returncode}) before {what}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"{what}: not within {WAIT_S} s")
        time.sleep(0.1)


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The real ``jaxsweep`` command in a subprocess."""
    return subprocess.run(
        [sys.executable, "-m", "jaxsweep", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=100,
        check=False,
    )
