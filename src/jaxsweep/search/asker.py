"""Trials asked of Optuna within the budget, turned into members and grouped by cohort."""

from __future__ import annotations

import os
import socket
from collections import defaultdict
from collections.abc import Callable

import optuna

from jaxsweep.engine.cohort import Cohort
from jaxsweep.search.member_config import MemberConfig, resolve
from jaxsweep.search.population import Member, Palette, cohort_of
from jaxsweep.search.prepare import Prepared
from jaxsweep.search.slots import Slot
from jaxsweep.search.study import FINISHED, count_trials
from jaxsweep.storage.heartbeat import Heartbeat
from jaxsweep.storage.optuna_internals import set_user_attrs_all, trial_id

WORKER = f"{socket.gethostname()}:{os.getpid()}"


Propose = Callable[[optuna.Trial], MemberConfig]


def propose_from_space(prepared: Prepared) -> Propose:
    dataset = prepared.dataset
    return lambda trial: resolve(prepared.space.sample(trial), dataset.task, dataset.output_dim)


class Asker:
    """Asks Optuna for trials within the budget and turns them into members. A trial asked
    to refill a slot of another cohort is held for the next population."""

    def __init__(
        self,
        prepared: Prepared,
        study: optuna.Study,
        budget: int,
        stage: str,
        propose: Propose,
        heartbeat: Heartbeat,
        palette: Palette | None = None,
    ) -> None:
        self.prepared, self.study, self.budget = prepared, study, budget
        self.stage, self.propose, self.heartbeat = stage, propose, heartbeat
        self.palette = palette or Palette.of_space(prepared.space)
        self.held: list[Slot] = []

    def take_held(self) -> list[Slot]:
        held, self.held = self.held, []
        return held

    def ask(self, count: int) -> list[Slot]:
        trials = []
        for _ in range(max(count, 0)):
            trials.append(self.study.ask())
            self.heartbeat.beat([trial_id(trials[-1])], running=True)
        kept = _drop_surplus(self.study, trials, self.budget)
        self.heartbeat.beat([trial_id(t) for t in trials if t not in kept], running=False)
        slots = [(trial, Member(trial.number, self.propose(trial))) for trial in kept]
        # The worker attribute says which machine and process trained the trial.
        attributes = {"stage": self.stage, "worker": WORKER}
        set_user_attrs_all([(t, {"config": m.config.as_dict(), **attributes}) for t, m in slots])
        return slots

    def cohort(self, slot: Slot) -> Cohort:
        return cohort_of(slot[1].config, self.prepared.dataset.task, self.palette)

    def by_cohort(self, slots: list[Slot]) -> dict[Cohort, list[Slot]]:
        """Trials that can share one compiled program, in the order they were proposed; the
        cohorts with the fewest steps an epoch (the largest batches) first, so that the first
        finished trials reach Optuna, the dashboard and the progress bar soonest."""
        groups: dict[Cohort, list[Slot]] = defaultdict(list)
        for slot in slots:
            groups[self.cohort(slot)].append(slot)
        return dict(sorted(groups.items(), key=lambda group: -group[0].batch_size))

    def ask_ahead(self, count: int) -> None:
        """Ask up to ``count`` trials now and hold them (at most a population's worth), while
        a program trains: the next ``refill`` finds them held."""
        count = min(count, self.prepared.config.population - len(self.held))
        if count > 0:  # the storage is read only when there is room to hold more
            count = min(count, self._room())
        if count > 0:
            self.held.extend(self.ask(count))

    def refill(self, cohort: Cohort, free: int) -> list[Slot]:
        """Up to ``free`` trials of ``cohort``: held ones first, then new ones while the budget
        allows (new ones of other cohorts are held, up to a population's worth)."""
        chosen = [slot for slot in self.held if self.cohort(slot) == cohort][:free]
        self.held = [slot for slot in self.held if slot not in chosen]
        while len(chosen) < free and len(self.held) < self.prepared.config.population:
            room = self._room()
            if room <= 0:
                break
            for slot in self.ask(min(free - len(chosen), room)):
                (chosen if self.cohort(slot) == cohort else self.held).append(slot)
        return chosen

    def _room(self) -> int:
        """Trials the budget still allows: neither finished nor running (held ones run)."""
        finished, running = count_trials(self.study)
        return self.budget - finished - running


def _drop_surplus(
    study: optuna.Study, trials: list[optuna.Trial], budget: int
) -> list[optuna.Trial]:
    """Several workers on one study may ask for the last trials at the same moment. Trial
    numbers order every worker's asks the same way, so each worker keeps its trials that lie
    within the budget's first live trials and fails the rest, before sampling them; a failed
    trial does not count towards the budget and the samplers ignore it."""
    live = (optuna.trial.TrialState.RUNNING, *FINISHED)
    numbers = sorted(t.number for t in study.get_trials(deepcopy=False, states=live))
    kept = set(numbers[:budget])
    for trial in trials:
        if trial.number not in kept:
            trial.set_user_attr("stopped", "surplus: other workers reached the trial budget")
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
    return [trial for trial in trials if trial.number in kept]
