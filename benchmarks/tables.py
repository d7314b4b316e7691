"""The tables the quality benchmarks train on: scikit-learn's bundled sets by name, and two
synthetic ones written to an .npz file (made the same way every time)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import make_classification, make_friedman1


def source_of(name: str, folder: Path) -> str:
    """A sweep's `data.source` for ``name``: a built-in set as it is; `synthetic` (5,000 rows,
    30 columns, 4 classes) and `friedman` (Friedman #1 regression, 5,000 rows, 10 columns) as a
    file in ``folder``."""
    if name == "synthetic":
        X, y = make_classification(
            n_samples=5000, n_features=30, n_informative=12, n_classes=4, random_state=0
        )
    elif name == "friedman":
        X, y = make_friedman1(n_samples=5000, n_features=10, noise=1.0, random_state=0)
    else:
        return name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.npz"
    np.savez(path, X=X.astype(np.float32), y=y)
    return str(path)
