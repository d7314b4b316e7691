"""A sweep stage: Optuna asks for a population, JAX trains it, Optuna is told and prunes."""

from __future__ import annotations

import itertools
import os
import socket
import time
import warnings
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import optuna
from optuna.study._tell import _tell_with_warning

from jaxsweep.cache import datasets
from jaxsweep.config import SweepConfig
from jaxsweep.data.dataset import Dataset, load_dataset
from jaxsweep.engine.losses import metric_names
from jaxsweep.engine.schedules import DEFAULT_SPACE
from jaxsweep.engine.schedules import PARAMS as SCHEDULE_PARAMS
from jaxsweep.engine.train import Cohort, Settings
from jaxsweep.errors import Interrupted, UserError
from jaxsweep.search.population import Member, Palette, cohort_of, device_data
from jaxsweep.search.slots import Slot, Told, program_size, train_cohort
from jaxsweep.search.space import MemberConfig, SearchSpace, load_space, parse_space, resolve
from jaxsweep.search.stopping import stop_request
from jaxsweep.storage.heartbeat import Heartbeat
from jaxsweep.storage.optuna_internals.bulk_writes import set_user_attrs_all
from jaxsweep.storage.optuna_internals.own_trials import write_params
from jaxsweep.storage.urls import check_url, open_storage

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
WORKER = f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Prepared:
    """A sweep checked end to end: config, data and space. Nothing has been written yet."""

    config: SweepConfig
    dataset: Dataset
    space: SearchSpace
    settings: Settings
    schedule_space: SearchSpace | None = None  # loaded when the schedule stage will run


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


def prepare(config: SweepConfig, cache: Path | None = None) -> Prepared:
    """Every check that can refuse the sweep, before a storage or results folder is created.
    ``cache``: a cache folder to read a built-in dataset from (see ``dataset_cache``)."""
    check_url(config.storage_url, config.where("storage"))
    dataset = None if cache is None else datasets.read(cache, config.data, config.seed)
    if dataset is None:
        dataset = load_dataset(config.data, config.seed, config.where("data.source"))
    accepted = metric_names(dataset.task)
    if config.metric.name not in accepted:
        raise UserError(
            config.where("metric.name"),
            f"{config.metric.name!r} does not fit a {dataset.task} "
            f"task (accepted: {', '.join(accepted)})",
        )
    space = load_space(config.search_space, dataset.task)
    schedule_space = (
        load_schedule_space(config, dataset.task) if "schedule" in config.stages else None
    )
    settings = Settings(
        config.metric.name,
        config.metric.resolved_direction == "maximize",
        config.early_stopping.patience,
        config.early_stopping.min_delta,
        train_rows=len(dataset.train.y),
        epochs=config.epochs,
    )
    return Prepared(config, dataset, space, settings, schedule_space)


def load_schedule_space(config: SweepConfig, task: str) -> SearchSpace:
    """The schedule stage's space: the sweep's `schedule_space` file or the built-in one. It may
    name schedule parameters only: everything else is fixed to the search's best trial."""
    if config.schedule_space is None:
        return parse_space("built-in schedule space", DEFAULT_SPACE, task)
    space = load_space(config.schedule_space, task)
    allowed = ("schedule", *(p for names in SCHEDULE_PARAMS.values() for p in names))
    for param in space.params:
        if param.name not in allowed:
            raise UserError(
                config.schedule_space,
                f"key {param.name!r}: not a schedule parameter (accepted: {', '.join(allowed)})",
            )
    return space


def quiet_optuna() -> None:
    """The progress bar reports trials; Optuna's per-trial log lines would drown it."""
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    # We record heartbeats ourselves (jaxsweep.storage.heartbeat), as Study.optimize would.
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used")
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def create_study(config: SweepConfig, name: str) -> optuna.Study:
    beat = config.heartbeat
    storage = open_storage(
        config.storage_url, config.where("storage"), (beat.interval, beat.grace, beat.max_retry)
    )
    direction = config.metric.resolved_direction
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        sampler=make_sampler(config),
        pruner=make_pruner(config),
        direction=direction,
        load_if_exists=True,
    )
    if study.direction.name.lower() != direction:
        raise UserError(
            config.where("metric.direction"),
            f"study {name!r} already exists with direction "
            f"{study.direction.name.lower()}, not {direction}",
        )
    study.set_user_attr("metric", config.metric.name)
    study.set_metric_names([config.metric.name])  # the dashboard labels its axes with it
    return study


def make_sampler(config: SweepConfig) -> optuna.samplers.BaseSampler:
    seed, kind = config.sampler_seed, config.sampler.type
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if kind == "cmaes":
        return optuna.samplers.CmaEsSampler(
            seed=seed, n_startup_trials=config.sampler.n_startup_trials
        )
    # constant_liar: trials asked but not yet told count as bad guesses, so one population's
    # proposals spread out instead of piling onto the same point.
    return optuna.samplers.TPESampler(
        seed=seed,
        n_startup_trials=config.sampler.n_startup_trials,
        multivariate=True,
        group=True,
        constant_liar=True,
    )


def make_pruner(config: SweepConfig) -> optuna.pruners.BasePruner:
    p = config.pruner
    if p.type == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=p.n_startup_trials, n_warmup_steps=p.n_warmup_steps
        )
    if p.type == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=p.min_resource, reduction_factor=p.reduction_factor
        )
    if p.type == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=p.min_resource,
            max_resource=config.epochs,
            reduction_factor=p.reduction_factor,
        )
    return optuna.pruners.NopPruner()


def finished_trials(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=FINISHED))


Propose = Callable[[optuna.Trial], MemberConfig]


def propose_from_space(prepared: Prepared) -> Propose:
    dataset = prepared.dataset
    return lambda trial: resolve(prepared.space.sample(trial), dataset.task, dataset.output_dim)


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
    progress = Progress(done, budget, _best(study), time.perf_counter(), done)
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
            finished, running = _count(study)
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
                    lambda ended: _tell_all(study, ended, prepared.settings),
                    size,
                    asker.refill if config.refill else None,
                )
                progress.done, progress.best = finished_trials(study), _best(study)
                on_progress(progress)
            if stop_request.interrupted:
                raise Interrupted(f"stopped by Ctrl-C in stage {stage}")
    finally:
        met = "not trained: the budget was met"
        reason = stop_request.reason if stop_request.requested else met
        for trial, _ in asker.take_held():  # asked, never trained: failed, so a rerun retries
            trial.set_user_attr("stopped", reason)
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            heartbeat.beat([trial._trial_id], running=False)


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
            self.heartbeat.beat([trials[-1]._trial_id], running=True)
        kept = _drop_surplus(self.study, trials, self.budget)
        self.heartbeat.beat([t._trial_id for t in trials if t not in kept], running=False)
        slots = [(trial, Member(trial.number, self.propose(trial))) for trial in kept]
        write_params(self.study)  # on SQLite, the population's parameters in one transaction
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

    def refill(self, cohort: Cohort, free: int) -> list[Slot]:
        """Up to ``free`` trials of ``cohort``: held ones first, then new ones while the budget
        allows (new ones of other cohorts are held, up to a population's worth)."""
        chosen = [slot for slot in self.held if self.cohort(slot) == cohort][:free]
        self.held = [slot for slot in self.held if slot not in chosen]
        while len(chosen) < free and len(self.held) < self.prepared.config.population:
            finished, running = _count(self.study)
            room = self.budget - finished - running
            if room <= 0:
                break
            for slot in self.ask(min(free - len(chosen), room)):
                (chosen if self.cohort(slot) == cohort else self.held).append(slot)
        return chosen


def should_prune(study: optuna.Study, trials: list[optuna.Trial]) -> list[bool]:
    """Optuna's pruner on each trial at an epoch boundary. A percentile (median) pruner reads
    every trial of the study for each verdict, which on SQLite took half of a quickstart sweep;
    one snapshot, read once, serves the whole population. Other pruners keep state in the
    storage and are asked trial by trial."""
    pruner = study.pruner
    if not isinstance(pruner, optuna.pruners.PercentilePruner):
        return [trial.should_prune() for trial in trials]
    snapshot = Snapshot(study)
    return [pruner.prune(snapshot, snapshot.trial(t.number)) for t in trials]  # type: ignore[arg-type]


class Snapshot:
    """The part of a study a percentile pruner reads, as it stands now."""

    def __init__(self, study: optuna.Study) -> None:
        self.direction = study.direction
        self.trials = study.get_trials(deepcopy=False)
        self.by_number = {t.number: t for t in self.trials}

    def get_trials(
        self, deepcopy: bool = False, states: tuple[optuna.trial.TrialState, ...] | None = None
    ) -> list[optuna.trial.FrozenTrial]:
        return [t for t in self.trials if states is None or t.state in states]

    def trial(self, number: int) -> optuna.trial.FrozenTrial:
        return self.by_number[number]


def _count(study: optuna.Study) -> tuple[int, int]:
    """Finished and running trials of the study."""
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return sum(s in FINISHED for s in states), states.count(optuna.trial.TrialState.RUNNING)


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


def _tell_all(
    study: optuna.Study, ended: list[tuple[Slot, Told, str | None]], settings: Settings
) -> None:
    """Tell Optuna how each trial ended; their attributes are written together first.
    ``Study.tell`` without its last step, reading the trial back for its caller: a database
    read a trial on SQLite (a warm fixed-space sweep of 256 trials ran 80-82 trials/s
    without it, 72-75 with it)."""
    endings = [_ending(told, why, settings) for _, told, why in ended]
    trials = [slot[0] for slot, _, _ in ended]
    set_user_attrs_all(
        [(trial, attrs) for trial, (attrs, _, _) in zip(trials, endings, strict=True)]
    )
    for trial, (_, state, value) in zip(trials, endings, strict=True):
        _tell_with_warning(study, trial, value, state)


def _ending(
    told: Told, why: str | None, settings: Settings
) -> tuple[dict[str, object], optuna.trial.TrialState | None, float | None]:
    """A trial's attributes (the epochs it trained, its best, why it stopped early if it did),
    and the state and value Optuna is told."""
    attributes: dict[str, object] = {"epochs": told.epochs, "best_epoch": told.best_epoch}
    pruned = optuna.trial.TrialState.PRUNED
    if why not in (None, "pruned"):  # cut short: Ctrl-C or the time budget
        return attributes | {"stopped": why}, optuna.trial.TrialState.FAIL, None
    if told.diverged:
        # Pruned rather than failed: a diverging configuration is a finished, bad result that
        # counts towards the budget, and Optuna's samplers learn from its reported epochs.
        return attributes | {"stopped": "diverged: non-finite loss"}, pruned, None
    if why == "pruned":
        return attributes | {"stopped": "pruned"}, pruned, None
    return attributes, None, told.best_score * (1.0 if settings.maximize else -1.0)


def _best(study: optuna.Study) -> float | None:
    try:
        return study.best_value
    except ValueError:
        return None
