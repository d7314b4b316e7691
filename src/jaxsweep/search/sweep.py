"""A sweep stage: Optuna asks for a population, JAX trains it, Optuna is told and prunes."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import optuna

from jaxsweep.engine.cohort import Cohort
from jaxsweep.errors import Interrupted
from jaxsweep.search.asker import Asker, Propose, propose_from_space
from jaxsweep.search.population import Palette, device_data
from jaxsweep.search.prepare import Prepared
from jaxsweep.search.slots import Slot, program_size, train_cohort
from jaxsweep.search.stopping import stop_request
from jaxsweep.search.study import best_value, count_trials, finished_trials
from jaxsweep.search.verdicts import should_prune, tell_all
from jaxsweep.storage.heartbeat import Heartbeat
from jaxsweep.storage.optuna_internals import trial_id


@dataclass
class Progress:
    done: int
    total: int
    best: float | None
    started: float
    done_at_start: int  # trials finished by earlier runs of this sweep
    population_epochs: int = 0  # epochs the compiled programs ran, over all their slots

    @property
    def rate(self) -> float:
        """Trials per second finished by this run."""
        return (self.done - self.done_at_start) / max(time.perf_counter() - self.started, 1e-9)


def run_search(
    prepared: Prepared,
    study: optuna.Study,
    on_progress: Callable[[Progress], None] = lambda _: None,
    stage: str = "search",
    budget: int | None = None,
    propose: Propose | None = None,
    palette: Palette | None = None,
) -> None:
    """Ask populations of trials until the budget of finished trials is reached. ``propose``
    turns a trial into a member config (default: sample the search space); ``palette``: the
    choices every program holds besides its members' own (default: the search space's)."""
    budget = prepared.config.trials if budget is None else budget
    propose = propose or propose_from_space(prepared)
    done = finished_trials(study)
    progress = Progress(done, budget, best_value(study), time.perf_counter(), done)
    on_progress(progress)
    heartbeat = Heartbeat(study, prepared.config.heartbeat)
    heartbeat.start()
    try:
        asker = Asker(prepared, study, budget, stage, propose, heartbeat, palette)
        _search_loop(prepared, study, budget, stage, asker, progress, on_progress, heartbeat)
    finally:
        heartbeat.stopped.set()


def _search_loop(
    prepared: Prepared,
    study: optuna.Study,
    budget: int,
    stage: str,
    asker: Asker,
    progress: Progress,
    on_progress: Callable[[Progress], None],
    heartbeat: Heartbeat,
) -> None:
    config, dataset = prepared.config, prepared.dataset
    data = device_data(dataset)
    sizes: dict[Cohort, int] = {}  # each cohort's program size, fixed by its first population
    try:
        while not stop_request.timed_out:
            heartbeat.fail_stale()  # a killed worker's trials are failed and queued again
            finished, running = count_trials(study)
            if finished >= budget:
                return
            room = budget - finished - running  # ours held over are among the running
            if room <= 0 and not asker.held:  # the rest is running elsewhere; those trials may
                _wait_for_others(progress, finished, on_progress)  # be pruned or fail: stay
                continue
            held = asker.take_held()
            members = held + asker.ask(min(config.population - len(held), room))
            cohorts = asker.by_cohort(members)
            for cohort, group, size in in_turns(cohorts, sizes, data.X_train.shape[1]):
                if stop_request.requested:
                    asker.held.extend(group)  # failed below, so a rerun retries them
                    continue
                progress.population_epochs += train_cohort(
                    cohort,
                    group,
                    data,
                    prepared.settings,
                    config.seed,
                    dataset.train.y,
                    None if config.pruner.type == "none" else partial(should_prune, study),
                    lambda ended: tell_all(study, ended, prepared.settings),
                    size,
                    asker if config.refill else None,
                )
                progress.done, progress.best = finished_trials(study), best_value(study)
                on_progress(progress)
            if stop_request.interrupted:
                raise Interrupted(f"stopped by Ctrl-C in stage {stage}")
    finally:
        met = "not trained: the budget was met"
        reason = stop_request.reason if stop_request.requested else met
        for trial, _ in asker.take_held():  # asked, never trained: failed, so a rerun retries
            trial.set_user_attr("stopped", reason)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            heartbeat.beat([trial_id(trial)], running=False)


def in_turns(
    cohorts: dict[Cohort, list[Slot]], sizes: dict[Cohort, int], input_dim: int
) -> list[tuple[Cohort, list[Slot], int]]:
    """The programs that train ``cohorts`` (in ``Asker.by_cohort``'s order): each cohort's
    trials split into groups of its program size (``program_size``), taken in turns: every
    cohort's first group, then every cohort's second, and so on. Every batch size then reports
    early, to Optuna's sampler for the slots it refills and to the dashboard."""
    queues = []
    for cohort, of_cohort in cohorts.items():
        size = program_size(sizes, cohort, len(of_cohort), input_dim)
        starts = range(0, len(of_cohort), size)
        queues.append([(cohort, of_cohort[i : i + size], size) for i in starts])
    return [group for turn in itertools.zip_longest(*queues) for group in turn if group]


def _wait_for_others(
    progress: Progress, finished: int, on_progress: Callable[[Progress], None]
) -> None:
    progress.done = finished
    on_progress(progress)
    for _ in range(20):  # about 2 s, still answering Ctrl-C and the deadline
        if stop_request.interrupted:
            raise Interrupted("stopped by Ctrl-C while waiting for other workers")
        if stop_request.timed_out:
            return
        time.sleep(0.1)
