"""Programs kept on disk as exported StableHLO, so a repeated sweep neither traces nor lowers them.

JAX's persistent cache (``runner.enable_compilation_cache``) spares a repeated sweep XLA's
compile, but each new process still traced every program in Python and lowered it to StableHLO
before the cache could answer. A program exported once with ``jax.export`` (a flatbuffer, no
pickle) is read back in milliseconds, and its compile still hits the persistent cache: a
repeated 256-trial sweep of the fixed 2 x 64 space took 2.09 s instead of 2.52 s on 2 cores.

A stored program's file name holds a digest of everything its trace depends on: the function's
name and static settings, the arguments' structure, shapes, types and placement, jaxsweep's own
source, the versions of the libraries that trace it, the backend and the JAX settings that change
a trace. Any change gives a new file, never a stale program. The name starts with the release
(see ``disk``): the first program a new release writes removes those of other releases.
Until ``keep_in`` names a folder (as ``runner.enable_compilation_cache`` does), programs are
traced as usual and nothing is written.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

import jax
from jax import export

from jaxsweep.cache.disk import digest, forget_other_releases, release, write_atomically

T = TypeVar("T")
SUFFIX = ".jaxexport"
FOLDER: Path | None = None  # where programs are kept; see keep_in
Signature = tuple[Any, tuple[tuple[Any, str], ...]]  # tree structure; each leaf's type, placement
# JAX settings that change what a function traces to (the rest change only how XLA compiles,
# which the persistent cache's own key covers).
TRACE_SETTINGS = (
    "jax_enable_x64",
    "jax_default_matmul_precision",
    "jax_default_prng_impl",
    "jax_threefry_partitionable",
    "jax_numpy_rank_promotion",
    "jax_numpy_dtype_promotion",
)


def keep_in(folder: Path | None) -> None:
    """Keep programs in ``folder`` from now on (None: keep none)."""
    global FOLDER
    FOLDER = folder


def serializable(cls: type[T]) -> type[T]:
    """Let a NamedTuple of jaxsweep's travel in a stored program's arguments and results."""
    export.register_namedtuple_serialization(cls, serialized_name=f"jaxsweep.{cls.__qualname__}")
    return cls


class Stored:
    """``jax.jit(fn)``, whose programs are read from the cache folder when a run before this one
    exported them, and exported there otherwise. ``static`` names what ``fn`` closes over (its
    repr goes into the digest)."""

    def __init__(self, name: str, fn: Callable[..., Any], static: Hashable) -> None:
        self.name, self.static, self.jitted = name, static, jax.jit(fn)
        self.calls: dict[Signature, Callable[..., Any]] = {}

    def __call__(self, *args: Any) -> Any:
        signature = _signature(args)
        call = self.calls.get(signature)
        if call is None:
            call = self.calls[signature] = self._open(signature, args)
        return call(*args)

    def compilations(self) -> int:
        """Programs opened so far: one per distinct argument signature."""
        return len(self.calls)

    def _open(self, signature: Signature, args: tuple[Any, ...]) -> Callable[..., Any]:
        folder = FOLDER
        if folder is None:
            return self.jitted
        settings = [f"{name}={getattr(jax.config, name)}" for name in TRACE_SETTINGS]
        parts = [self.name, repr(self.static), repr(signature)]
        key = digest(jax.default_backend(), *settings, *parts)
        path = folder / f"{release()}-{self.name}-{key}{SUFFIX}"
        exported = _read(path)
        if exported is None:
            try:
                exported = export.export(self.jitted)(*args)
            except Exception:  # what jax.export refuses (a backend's custom call): plain jit,
                return self.jitted  # which raises again if the function itself is at fault
            forget_other_releases(folder, SUFFIX)
            write_atomically(path, exported.serialize())
        return jax.jit(exported.call)


def _signature(args: tuple[Any, ...]) -> Signature:
    """What selects a program among a function's: a hashable tuple, as it is built on every
    call (a formatted string cost about 3 times as much); its repr goes into the digest."""
    leaves, treedef = jax.tree.flatten(args)
    return treedef, tuple((jax.typeof(leaf), _placement(leaf)) for leaf in leaves)


def _placement(leaf: Any) -> str:
    sharding = getattr(leaf, "sharding", None)
    if sharding is None:  # a host value: placed on the default device
        return "host"
    spec = getattr(sharding, "spec", None)
    return f"{len(sharding.device_set)}:{spec}"


def _read(path: Path) -> export.Exported | None:
    """The program stored at ``path``; None when absent or unreadable (it is exported anew)."""
    if not path.is_file():
        return None
    try:
        return export.deserialize(bytearray(path.read_bytes()))
    except Exception:  # a truncated or foreign file, whatever the parser raises: export anew
        return None
