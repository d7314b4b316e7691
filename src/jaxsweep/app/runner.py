"""``jaxsweep run``: check everything, then run the stages with a progress bar and write results."""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path

import optuna
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from jaxsweep.app import collector
from jaxsweep.app.plots import plot_lr_find, write_plots
from jaxsweep.app.results import sweep_best_document, write_results
from jaxsweep.app.summary import print_best
from jaxsweep.cache import datasets, programs
from jaxsweep.cache.disk import cache_folder
from jaxsweep.config import SweepConfig
from jaxsweep.engine import epoch_progress
from jaxsweep.engine.placement import describe_devices
from jaxsweep.errors import Interrupted, UserError
from jaxsweep.search.lr_stage import print_suggestions, run_lr_find, search_windows
from jaxsweep.search.population import placed
from jaxsweep.search.prepare import Prepared, prepare
from jaxsweep.search.schedule_stage import run_schedule
from jaxsweep.search.stopping import TIMED_OUT, stop_request
from jaxsweep.search.study import create_study, quiet_optuna
from jaxsweep.search.sweep import Progress as SearchProgress
from jaxsweep.search.sweep import run_search
from jaxsweep.storage.urls import mask, open_storage


def check_writable(folder: Path, where: str) -> None:
    """Refuse a results folder that cannot be created, without creating anything."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(where, f"cannot write to {folder} ({existing} is not a writable folder)")


def run_sweep(config: SweepConfig, console: Console) -> None:
    """The stages the sweep names, in order: lr_find, search, schedule. A stage that is already
    complete in the storage is skipped and its result reused. A time budget (``timeout``)
    counts from here and covers them all."""
    started = time.monotonic()
    stop_request.deadline = None if config.timeout is None else started + config.timeout
    try:
        _run_stages(config, console, started)
    finally:
        stop_request.deadline = None


def _run_stages(config: SweepConfig, console: Console, started: float) -> None:
    collector.settle()  # the libraries a sweep runs on are imported
    check_writable(config.results_dir, config.where("results"))
    cache = cache_folder()
    prepared = prepare(config, cache)
    datasets.keep(cache, config.data, config.seed, prepared.dataset)
    prepared = dataclasses.replace(prepared, dataset=placed(prepared.dataset))
    if prepared.dataset.dropped_rows:
        console.print(
            f"dropped {prepared.dataset.dropped_rows} rows without a target "
            f"({config.data.target!r})",
            highlight=False,
        )
    enable_compilation_cache(cache)
    quiet_optuna()
    if "lr_find" in config.stages:
        prepared = lr_find_stage(prepared, console)
    if config.stages == ("lr_find",):
        return
    search = create_study(config, config.study)
    console.print(
        f"study [bold]{search.study_name}[/] in {mask(config.storage_url)}: "
        f"{prepared.dataset.name} ({prepared.dataset.task}), "
        f"population {config.population}, {config.epochs} epochs, on {describe_devices()}",
        highlight=False,
    )
    studies = [search]
    started_stages: list[str] = []
    try:
        with _progress_bar(console) as bar, stop_request:
            if "search" in config.stages and not stop_request.timed_out:
                started_stages.append("search")
                run_search(prepared, search, _tracker(bar, "search", config.trials))
            if "schedule" in config.stages and not stop_request.timed_out:
                started_stages.append("schedule")
                tracker = _tracker(bar, "schedule", config.schedule_trials)
                studies.append(run_schedule(prepared, search, tracker))
    except Interrupted:
        if config.schedule_study in study_names(config):
            studies.append(create_study(config, config.schedule_study))
        written = write_results(config, studies, prepared.dataset.classes)
        console.print(
            f"interrupted: the results so far are in {config.results_dir}/ "
            f"({len(written)} files); run the same command again to go on",
            highlight=False,
        )
        raise
    if stop_request.timed_out:
        not_run = [s for s in config.stages if s != "lr_find" and s not in started_stages]
        console.print(time_budget_note(config, studies, time.monotonic() - started, not_run))
    written = write_results(config, studies, prepared.dataset.classes)
    if config.plots:
        written += write_plots(search, config.results_dir)
        if len(studies) > 1:
            written += write_plots(studies[-1], config.results_dir, prefix="schedule_")
    print_best(console, sweep_best_document(studies, config.storage_url))
    console.print(
        f"wrote {len(written)} files to {config.results_dir}/: "
        + ", ".join(str(p.relative_to(config.results_dir)) for p in written),
        highlight=False,
    )


def time_budget_note(
    config: SweepConfig, studies: list[optuna.Study], elapsed: float, not_run: list[str]
) -> str:
    """What the budget stopped: the trials it cut short, and the stages it left out (a search
    that ran to the deadline leaves the schedule stage out)."""
    cut = sum(
        t.user_attrs.get("stopped") == TIMED_OUT
        for study in studies
        for t in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.FAIL,))
    )
    return (
        f"time budget of {config.timeout:g} s reached after {elapsed:.0f} s: the sweep stopped "
        f"asking; {cut} trials cut short are marked failed (stopped: timeout)"
        + (
            f"; not started: {' and '.join(not_run)} (the same command again goes on from here)"
            if not_run
            else ""
        )
    )


def study_names(config: SweepConfig) -> list[str]:
    return optuna.get_all_study_names(open_storage(config.storage_url, config.where("storage")))


def _tracker(bar: Progress, stage: str, total: int) -> Callable[[SearchProgress], None]:
    task = bar.add_task(stage, total=total, best="-", rate="-")

    def update(progress: SearchProgress) -> None:
        best = "-" if progress.best is None else f"{progress.best:.4f}"
        bar.update(task, completed=progress.done, best=best, rate=f"{progress.rate:.2f}")

    return update


def lr_find_stage(prepared: Prepared, console: Console) -> Prepared:
    """Run (or reuse) the LR range test; the search then draws each optimizer's learning rate
    from the window around its suggestion."""
    config = prepared.config
    with console.status("LR range test: one member per optimizer x architecture x seed"):
        result, reused = run_lr_find(prepared, config.results_dir, plot_lr_find)
    console.print(
        f"stage lr_find {'reused from' if reused else 'recorded in'} study {config.lr_find_study}",
        highlight=False,
    )
    windows, notes = search_windows(result, prepared.space)
    print_suggestions(console, result, windows)
    for note in notes:
        console.print(note, highlight=False)
    space = dataclasses.replace(prepared.space, lr_windows=tuple(windows))
    return dataclasses.replace(prepared, space=space)


def _progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best {task.fields[best]}"),
        TextColumn("{task.fields[rate]} trials/s"),
        TimeElapsedColumn(),
        _EpochColumn(),
        console=console,
    )


class _EpochColumn(ProgressColumn):
    """How far a long epoch has got (a big table's; see ``epoch_progress``), else nothing."""

    def render(self, task: Task) -> Text:
        return Text(epoch_progress.describe())


def enable_compilation_cache(folder: Path | None = None) -> None:
    """Reuse XLA compilations across runs: a second sweep on the same shapes starts at once.
    ``folder``: the cache folder (default ``disk.cache_folder()``)."""
    import jax

    folder = folder or cache_folder()
    jax.config.update("jax_compilation_cache_dir", str(folder))
    # Every program, however small: compiling the small ones again (keys, merges, placement)
    # took 0.5 s of a repeated 5 s sweep; reading them back takes 0.1 s.
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    programs.keep_in(folder / "programs")  # and the traced programs before XLA's compile
