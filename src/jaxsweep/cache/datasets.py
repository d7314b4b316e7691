"""Built-in datasets kept split and scaled in the cache folder (see ``disk``), so that a
repeated sweep reads them back instead of importing scikit-learn: its datasets and its splitter
import SciPy's statistics, 0.8 to 0.9 s of a 3.2 s tiny `jaxsweep run` on 2 cores (the
parameter-importance plot, when plots are on, still imports it once training is done). Only the
built-in datasets are kept, which are small and public; a data file is read on every run."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import numpy as np

from jaxsweep.cache.disk import digest, forget_other_releases, release, write_atomically
from jaxsweep.config import DataConfig
from jaxsweep.data.dataset import BUILTINS, Dataset, Split
from jaxsweep.data.preprocessing import Preprocessor

SUFFIX = ".npz"
PARTS = ("train", "val", "test")


def read(folder: Path, config: DataConfig, seed: int) -> Dataset | None:
    """The dataset ``config`` and ``seed`` give, as a run before this one kept it; None when it
    was not kept (or its file cannot be read: it is loaded anew)."""
    path = _path(folder, config, seed)
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as arrays:
            splits = [Split(arrays[f"{part}_X"], arrays[f"{part}_y"]) for part in PARTS]
            preprocessor = Preprocessor.from_dict(json.loads(str(arrays["preprocessor"])))
            return Dataset(
                config.source,
                str(arrays["task"]),
                *splits,
                preprocessor,
                tuple(arrays["classes"].tolist()),
            )
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile):
        return None


def keep(folder: Path, config: DataConfig, seed: int, dataset: Dataset) -> None:
    """Keep a built-in ``dataset`` for the next run (nothing for a data file)."""
    path = _path(folder, config, seed)
    if path is None or path.is_file():
        return
    arrays = {
        f"{part}_{axis}": getattr(getattr(dataset, part), axis) for part in PARTS for axis in "Xy"
    }
    buffer = io.BytesIO()
    np.savez(
        buffer,
        **arrays,
        task=np.asarray(dataset.task),
        preprocessor=np.asarray(json.dumps(dataset.preprocessor.as_dict())),
        classes=np.asarray(dataset.classes),
    )
    forget_other_releases(path.parent, SUFFIX)
    write_atomically(path, buffer.getvalue())


def _path(folder: Path, config: DataConfig, seed: int) -> Path | None:
    if config.source not in BUILTINS:
        return None
    key = digest(config.model_dump_json(), str(seed))
    return folder / "datasets" / f"{release()}-{config.source}-{key}{SUFFIX}"
