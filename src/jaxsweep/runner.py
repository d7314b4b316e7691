"""``jaxsweep run``: check everything, then run the stages with a progress bar and write results."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from jaxsweep import sweep
from jaxsweep.config import SweepConfig
from jaxsweep.errors import UserError
from jaxsweep.lr_stage import print_suggestions, run_lr_find, windows_of
from jaxsweep.plots import write_plots
from jaxsweep.results import best_params_document, write_results
from jaxsweep.storage import mask
from jaxsweep.summary import print_best

IMPLEMENTED_STAGES = ("lr_find", "search")


def check_writable(folder: Path, where: str) -> None:
    """Refuse a results folder that cannot be created, without creating anything."""
    existing = folder
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(where, f"cannot write to {folder} ({existing} is not a writable folder)")


def run_sweep(config: SweepConfig, console: Console) -> None:
    missing = [s for s in config.stages if s not in IMPLEMENTED_STAGES]
    if missing:
        raise UserError(
            config.where("stages"),
            f"stage {missing[0]!r} is not available in this version "
            f"(available: {', '.join(IMPLEMENTED_STAGES)})",
        )
    check_writable(config.results_dir, config.where("results"))
    prepared = sweep.prepare(config)
    enable_compilation_cache()
    sweep.quiet_optuna()
    if "lr_find" in config.stages:
        prepared = lr_find_stage(prepared, console)
    if "search" not in config.stages:
        return
    study = sweep.create_study(config, config.study)
    console.print(
        f"study [bold]{study.study_name}[/] in {mask(config.storage_url)}: "
        f"{prepared.dataset.name} ({prepared.dataset.task}), "
        f"population {config.population}, {config.epochs} epochs",
        highlight=False,
    )
    with _progress_bar(console) as bar:
        task = bar.add_task("trials", total=config.trials, best="-", rate="-")

        def update(progress: sweep.Progress) -> None:
            best = "-" if progress.best is None else f"{progress.best:.4f}"
            bar.update(task, completed=progress.done, best=best, rate=f"{progress.rate:.2f}")

        sweep.run_search(prepared, study, update)
    written = write_results(config, study)
    written += write_plots(study, config.results_dir)
    print_best(console, best_params_document(study, config.storage_url))
    console.print(
        f"wrote {len(written)} files to {config.results_dir}/: "
        + ", ".join(str(p.relative_to(config.results_dir)) for p in written),
        highlight=False,
    )


def lr_find_stage(prepared: sweep.Prepared, console: Console) -> sweep.Prepared:
    """Run (or reuse) the LR range test; the search then draws each optimizer's learning rate
    from the window around its suggestion."""
    config = prepared.config
    with console.status("LR range test: one member per optimizer x architecture x seed"):
        result, reused = run_lr_find(prepared, config.results_dir)
    console.print(
        f"stage lr_find {'reused from' if reused else 'recorded in'} study {config.lr_find_study}",
        highlight=False,
    )
    print_suggestions(console, result)
    space = dataclasses.replace(prepared.space, lr_windows=windows_of(result))
    return dataclasses.replace(prepared, space=space)


def _progress_bar(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("best {task.fields[best]}"),
        TextColumn("{task.fields[rate]} trials/s"),
        TimeElapsedColumn(),
        console=console,
    )


def enable_compilation_cache() -> None:
    """Reuse XLA compilations across runs: a second sweep on the same shapes starts at once."""
    import jax

    folder = os.environ.get("JAXSWEEP_CACHE_DIR", str(Path.home() / ".cache" / "jaxsweep" / "xla"))
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
