"""Built-in datasets kept split and scaled, so a repeated run need not import scikit-learn."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from jaxsweep.cache import datasets
from jaxsweep.config import DataConfig
from jaxsweep.data.dataset import Dataset, load_dataset
from tests.conftest import tiny_sweep


def assert_same(a: Dataset, b: Dataset) -> None:
    assert (a.name, a.task, a.classes) == (b.name, b.task, b.classes)
    for part in ("train", "val", "test"):
        for axis in ("X", "y"):
            expected, got = getattr(getattr(a, part), axis), getattr(getattr(b, part), axis)
            assert got.dtype == expected.dtype, (part, axis)
            np.testing.assert_array_equal(got, expected, f"{part} {axis}")
    np.testing.assert_array_equal(a.feature_mean, b.feature_mean)
    np.testing.assert_array_equal(a.feature_scale, b.feature_scale)


@pytest.mark.parametrize("source", ["iris", "diabetes"])  # class ids; regression targets
def test_a_kept_dataset_reads_back_as_loaded(tmp_path: Path, source: str) -> None:
    config = DataConfig(source=source, val_fraction=0.25)
    assert datasets.read(tmp_path, config, 3) is None
    loaded = load_dataset(config, 3)
    datasets.keep(tmp_path, config, 3, loaded)
    assert_same(loaded, datasets.read(tmp_path, config, 3))
    # another seed or another split is another dataset
    assert datasets.read(tmp_path, config, 4) is None
    assert datasets.read(tmp_path, DataConfig(source=source), 3) is None


def test_data_files_are_not_kept_and_a_broken_file_is_loaded_anew(tmp_path: Path) -> None:
    path = tmp_path / "data.npz"
    rng = np.random.default_rng(0)
    np.savez(path, X=rng.normal(size=(40, 2)), y=rng.integers(0, 2, 40))
    own = DataConfig(source=str(path))
    datasets.keep(tmp_path / "cache", own, 0, load_dataset(own, 0))
    assert not (tmp_path / "cache").exists()

    config = DataConfig(source="iris")
    datasets.keep(tmp_path / "cache", config, 0, load_dataset(config, 0))
    (kept,) = (tmp_path / "cache" / "datasets").iterdir()
    kept.write_bytes(kept.read_bytes()[:100])  # truncated, as by a full disk
    assert datasets.read(tmp_path / "cache", config, 0) is None


def test_a_run_keeps_its_dataset_and_the_next_command_skips_scikit_learn(tmp_path: Path) -> None:
    sweep = tiny_sweep(tmp_path, trials=2, population=2, epochs=1)
    cache = tmp_path / "cache"
    env = os.environ | {"JAXSWEEP_CACHE_DIR": str(cache)}
    command = [sys.executable, "-X", "importtime", "-m", "jaxsweep"]  # imports go to stderr
    run = subprocess.run([*command, "run", str(sweep)], capture_output=True, text=True, env=env)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "sklearn" in run.stderr  # nothing kept yet: iris loaded, then kept
    (kept,) = (cache / "datasets").iterdir()
    validated = subprocess.run(
        [*command, "validate", str(sweep)], capture_output=True, text=True, env=env, check=True
    )
    assert "sklearn" not in validated.stderr  # read back
    assert list((cache / "datasets").iterdir()) == [kept]
