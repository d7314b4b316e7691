"""jaxsweep: hyperparameter sweeps for MLPs, with whole populations trained at once in JAX."""

from __future__ import annotations

from typing import Any

__all__ = ["BestTrial", "Model", "load_best", "load_model"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # Lazy, so that `jaxsweep --help` does not pay for importing JAX and Flax.
    if name in __all__:
        from jaxsweep.app import checkpoint

        return getattr(checkpoint, name)
    raise AttributeError(f"module 'jaxsweep' has no attribute {name!r}")
