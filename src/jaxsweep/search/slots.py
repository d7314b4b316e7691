"""One cohort's compiled program as a set of slots: each holds a trial, or waits for one.

The program trains every slot an epoch (or all epochs, when nothing can free a slot early) at a
time. At each boundary, Optuna hears each trial's epochs and may prune it; a trial that is
pruned, stops early, diverges or reaches the last epoch is told and leaves its slot, and the
slot is given to the next trial Optuna proposes for this cohort (like continuous batching), so
the program stays full until the budget is spent. Optuna proposes the next trials while the
epoch trains. Each trial's epochs count from its own start.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import jax
import jax.numpy as jnp
import numpy as np
import optuna

from jaxsweep.engine.cohort import Cohort, Data, Settings
from jaxsweep.engine.placement import program_cap, spread
from jaxsweep.engine.train import population_trainer
from jaxsweep.search.population import (
    Member,
    devices_for,
    member_hyper,
    member_keys,
    padded_size,
    stack_hypers,
)
from jaxsweep.search.stopping import stop_request
from jaxsweep.storage.optuna_internals import report_all

Slot = tuple[optuna.Trial, Member]


class Refiller(Protocol):
    """Brings trials for freed slots (the search's ``Asker``)."""

    def refill(self, cohort: Cohort, free: int) -> list[Slot]:
        """Up to ``free`` trials of ``cohort`` to train."""
        ...

    def ask_ahead(self, count: int) -> None:
        """Ask about ``count`` trials now and hold them for the next ``refill``."""
        ...


Prune = Callable[[list[optuna.Trial]], list[bool]]  # Optuna's verdict on each running trial


@dataclass
class Program:
    """A cohort's trainer with its per-slot arrays, laid out over ``devices``. Every call keeps
    the shapes fixed, so after the first population nothing compiles again."""

    cohort: Cohort
    settings: Settings
    seed: int
    y_train: np.ndarray
    devices: int
    members: list[Member] = field(default_factory=list)  # each slot's current or last member
    state: Any = None
    hyper: Any = None

    def start(self, members: list[Member], size: int, x: jax.Array) -> None:
        """Fill ``size`` slots; the slots past ``members`` hold a copy of the last, stopped."""
        self.members = members + [members[-1]] * (size - len(members))
        state = self._init(x)
        self.state = spread(
            state._replace(stopped=state.stopped | self._mask(range(len(members), size))),
            self.devices,
        )

    def put(self, slots: list[int], members: list[Member], x: jax.Array) -> None:
        """New members into freed slots: their own initial state, key and hyperparameters."""
        for slot, member in zip(slots, members, strict=True):
            self.members[slot] = member
        fresh = self._init(x)  # the whole population's init program, already compiled
        self.state = spread(_merge(self._mask(slots), fresh, self.state), self.devices)

    def stop(self, slots: list[int]) -> None:
        stopped = self.state.stopped | self._mask(slots)
        self.state = spread(self.state._replace(stopped=stopped), self.devices)

    def _init(self, x: jax.Array) -> Any:
        hypers = [member_hyper(m.config, self.y_train, self.cohort) for m in self.members]
        self.hyper = stack_hypers(hypers, self.devices)
        keys = spread(member_keys(self.seed, [m.number for m in self.members]), self.devices)
        return population_trainer(self.cohort, self.settings).init(keys, self.hyper, x)

    def _mask(self, slots: Iterable[int]) -> np.ndarray:
        mask = np.zeros(len(self.members), bool)
        mask[list(slots)] = True
        return mask


def program_size(sizes: dict[Cohort, int], cohort: Cohort, members: int, input_dim: int) -> int:
    """A cohort's program has one size, set by its first population (see ``padded_size``):
    later populations are padded to it or split, so it compiles once. On a CPU, a population
    wider than two blocks a device (``placement.program_cap``) is split into programs that train
    one after another, where that pads it no more: as many trials a second, told sooner.
    Programs below half the cap are not considered: each call has its own overhead."""
    if cohort not in sizes:
        size = _padded(members)  # the whole population in one program
        cap = program_cap(cohort.layout.weights(input_dim))
        if cap is not None and size > cap:
            fits = {s for s in map(_padded, range(1, cap + 1)) if cap <= 2 * s <= 2 * cap}
            size = min(fits | {size}, key=lambda s: (-(-members // s) * s, s > cap, -s))
        sizes[cohort] = size
    return sizes[cohort]


def _padded(members: int) -> int:
    return padded_size(members, devices_for(padded_size(members)))


@jax.jit
def _merge(mask: jax.Array, fresh: Any, old: Any) -> Any:
    """``fresh`` where ``mask`` (per slot), else ``old``."""
    return jax.tree.map(
        lambda f, o: jnp.where(mask.reshape(-1, *(1,) * (f.ndim - 1)), f, o), fresh, old
    )


@dataclass
class Told:
    """What a slot's trial ended with, read off the program's state."""

    epochs: int
    best_epoch: int
    best_score: float
    diverged: bool


# The trials that ended at an epoch boundary: each slot's trial, what it ended with, and why it
# ended early (None, "pruned", or the stop request's reason: Ctrl-C or the time budget).
Tell = Callable[[list[tuple[Slot, Told, str | None]]], None]


def train_cohort(
    cohort: Cohort,
    group: list[Slot],
    data: Data,
    settings: Settings,
    seed: int,
    y_train: np.ndarray,
    prune: Prune | None,
    tell: Tell,
    size: int,
    refiller: Refiller | None = None,
) -> int:
    """Train ``group`` (at most ``size`` trials; see ``program_size``) and the trials
    ``refiller`` brings, to the end; returns the epochs the program ran. ``tell`` hears the
    trials that end at an epoch boundary together."""
    group = _by_depth(group)
    program = Program(cohort, settings, seed, y_train, devices_for(size))
    program.start([m for _, m in group], size, data.X_train[:1])
    slots: list[Slot | None] = [*group] + [None] * (len(program.state.stopped) - len(group))
    # Epoch by epoch when a pruner or early stopping may free a slot early; otherwise all
    # epochs in one call (a diverged member's slot is then refilled at the end).
    # A deadline stops at the next call's end, so it too trains an epoch a call.
    deadline = stop_request.deadline is not None
    chunk = 1 if prune is not None or settings.patience is not None or deadline else settings.epochs
    trainer = population_trainer(cohort, settings)
    ran, freed = 0, 0
    while any(slots):
        if stop_request.requested:
            _end(jax.device_get(_fields(program.state)), slots, tell, stop_request.reason)
            break
        program.state, history = trainer.run(program.state, program.hyper, data, chunk)
        ran += chunk
        if refiller is not None and freed and not stop_request.requested:
            # The call above runs on its own threads: Optuna samples the trials for the slots
            # this boundary will likely free (as many as the last one freed) meanwhile.
            refiller.ask_ahead(freed)
        history, now = jax.device_get((history, _fields(program.state)))  # one transfer
        stopped = now.stopped
        before = now.epoch - history["trained"].sum(axis=1)  # trained epochs are a prefix
        report_all(
            [
                (slot[0], int(before[i]) + step + 1, float(history[settings.metric][i, step]))
                for i, slot in enumerate(slots)
                for step in range(chunk)
                if slot is not None and history["trained"][i, step]
            ]
        )
        pruned = []
        if prune is not None:
            alive = [i for i, slot in enumerate(slots) if slot is not None and not stopped[i]]
            verdicts = prune([slots[i][0] for i in alive])  # type: ignore[index]
            pruned = [i for i, verdict in zip(alive, verdicts, strict=True) if verdict]
        if pruned:
            program.stop(pruned)
        done = [
            i for i, slot in enumerate(slots) if slot is not None and (stopped[i] or i in pruned)
        ]
        _end(now, slots, tell, None, done, set(pruned))
        free = [i for i, slot in enumerate(slots) if slot is None]
        freed = len(done)
        if refiller is not None and free and not stop_request.requested:
            _refill(program, slots, free, refiller.refill(cohort, len(free)), data)
    return ran


def _refill(
    program: Program, slots: list[Slot | None], free: list[int], new: list[Slot], data: Data
) -> None:
    if not new:
        return
    new = _by_depth(new)
    places = free[: len(new)]
    program.put(places, [m for _, m in new], data.X_train[:1])
    for place, slot in zip(places, new, strict=False):
        slots[place] = slot


def _by_depth(slots: list[Slot]) -> list[Slot]:
    """Shallow members first: neighbouring slots share a CPU's block, whose layers are computed
    only as deep as its deepest member (``placement._by_block``)."""
    return sorted(slots, key=lambda slot: len(slot[1].config.model.widths))


class Readout(NamedTuple):
    """The per-slot fields the host reads after each training call."""

    epoch: np.ndarray
    stopped: np.ndarray
    best_epoch: np.ndarray
    best_score: np.ndarray
    diverged: np.ndarray


def _fields(state: Any) -> Readout:
    return Readout(state.epoch, state.stopped, state.best_epoch, state.best_score, state.diverged)


def _end(
    now: Readout,
    slots: list[Slot | None],
    tell: Tell,
    reason: str | None,
    which: list[int] | None = None,
    pruned: Collection[int] = (),
) -> None:
    """Tell the trials in slots ``which`` (default: every occupied slot) and free the slots."""
    which = [i for i, s in enumerate(slots) if s is not None] if which is None else which
    if not which:
        return
    ended = []
    for i in which:
        told = Told(
            int(now.epoch[i]),
            int(now.best_epoch[i]),
            float(now.best_score[i]),
            bool(now.diverged[i]),
        )
        ended.append((slots[i], told, "pruned" if i in pruned else reason))
        slots[i] = None
    tell(ended)  # type: ignore[arg-type]
