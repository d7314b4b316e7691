"""The cache folder a sweep keeps what it can reuse in: XLA's compilations, traced programs
(``programs``) and built-in datasets (``datasets``). A kept file's name starts with the
release (jaxsweep's source and the libraries' versions), so nothing stale is read, and the first
file a new release writes removes those of other releases."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.metadata
import os
import tempfile
from pathlib import Path

# The libraries whose versions change what is kept: traces (jax, jaxlib, flax, optax) and
# built-in datasets, their split and their scaling (scikit-learn, numpy).
LIBRARIES = ("jax", "jaxlib", "flax", "optax", "scikit-learn", "numpy")


def cache_folder() -> Path:
    """``$JAXSWEEP_CACHE_DIR``, else ``~/.cache/jaxsweep/xla``."""
    default = Path.home() / ".cache" / "jaxsweep" / "xla"
    return Path(os.environ.get("JAXSWEEP_CACHE_DIR", str(default)))


def digest(*parts: str, length: int = 32) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:length]


@functools.cache
def release() -> str:
    """jaxsweep's source and the versions of the libraries it builds on."""
    package = Path(__file__).parents[1]
    files = sorted(package.rglob("*.py"))
    source = [str(path.relative_to(package)) + path.read_text(encoding="utf-8") for path in files]
    versions = [f"{name}={importlib.metadata.version(name)}" for name in LIBRARIES]
    return digest(*source, *versions, length=12)


@functools.cache
def forget_other_releases(folder: Path, suffix: str) -> None:
    """Remove the ``suffix`` files of other releases (once a process): they would never be
    read."""
    for path in folder.glob(f"*{suffix}"):
        if not path.name.startswith(f"{release()}-"):
            with contextlib.suppress(OSError):  # another user's, or a read-only folder
                path.unlink(missing_ok=True)


def write_atomically(path: Path, blob: bytes | bytearray) -> None:
    """So that a concurrent sweep reads a whole file or none. A read-only folder writes nothing:
    the sweep runs, only the next one does the work again."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(blob)
        os.replace(temporary, path)
    except OSError:
        Path(temporary).unlink(missing_ok=True)
