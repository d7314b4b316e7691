"""Stage ``lr_find``: run the LR range test, record it in Optuna and on disk, reuse it."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np
import optuna
from rich.console import Console
from rich.table import Table

from jaxsweep.engine.cohort import steps_per_epoch
from jaxsweep.engine.lr_find import Curve, Suggestion, population_range_test, read_curve, suggest
from jaxsweep.search.member_config import MemberConfig, resolve
from jaxsweep.search.population import (
    Palette,
    cohort_of,
    device_data,
    member_hyper,
    member_keys,
    stack_hypers,
)
from jaxsweep.search.prepare import Prepared
from jaxsweep.search.space import SearchSpace
from jaxsweep.storage.urls import open_storage

RESULT_KEY = "suggestions"  # study user attribute holding the finished stage's result
MEMBER_SEED_OFFSET = 1_000_003  # keeps range-test keys apart from the search's trial keys
ARCHITECTURE_SEED = 0  # the range test's architectures are the same for every sweep on a space
# Steps of a curve recorded in the study: storages write an intermediate value a row, and all
# 400 steps of the article space's 20 members took 2.8 s of a 7.6 s `jaxsweep lr-find` on
# SQLite. lr_find.json and lr_find.png keep every step.
RECORDED_STEPS = 100


def lr_find_members(prepared: Prepared) -> list[tuple[str, str, MemberConfig, int]]:
    """(optimizer, label, config, key index): every optimizer of the space x a few architectures
    drawn at random from it x seeds. The architectures depend on the space alone, not on the
    sweep's seed (which draws the members' weights and data order): every sweep on the space
    then reuses the same range-test programs from the compilation cache. A new seed once
    compiled them again: 20-30 s a program for the article's space on a loaded 2-core
    machine."""
    config, dataset = prepared.config, prepared.dataset
    draw = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=ARCHITECTURE_SEED))
    architectures = []
    for _ in range(config.lr_find.architectures):
        trial = draw.ask()
        architectures.append(prepared.space.sample(trial))
        draw.tell(trial, 0.0)
    members = []
    for optimizer in prepared.space.optimizers():
        for a, values in enumerate(architectures):
            member = resolve(values | {"optimizer": optimizer}, dataset.task, dataset.output_dim)
            for seed in range(config.lr_find.seeds):
                label = f"{optimizer} arch{a} seed{seed}"
                members.append((optimizer, label, member, len(members)))
    return members


def run_range_tests(prepared: Prepared) -> list[Curve]:
    """All members, one compiled program per cohort (the seeds of an architecture share one)."""
    settings, dataset = prepared.config.lr_find, prepared.dataset
    data = device_data(dataset)
    groups: dict[Any, list] = defaultdict(list)
    members = lr_find_members(prepared)
    palette = Palette.of([m[2] for m in members])
    for member in members:
        groups[cohort_of(member[2], dataset.task, palette)].append(member)
    curves = []
    for cohort, group in groups.items():
        steps = settings.steps_for(steps_per_epoch(dataset.train.X.shape[0], cohort.batch_size))
        test = population_range_test(cohort, steps, settings.min_lr, settings.max_lr)
        hyper = stack_hypers([member_hyper(m[2], dataset.train.y, cohort) for m in group])
        keys = member_keys(prepared.config.seed + MEMBER_SEED_OFFSET, [m[3] for m in group])
        rates, losses = jax.device_get(test(keys, hyper, data))
        for i, (optimizer, label, _, _) in enumerate(group):
            curves.append(
                read_curve(
                    optimizer,
                    label,
                    np.asarray(rates[i], np.float64),
                    np.asarray(losses[i], np.float64),
                    settings.smoothing,
                    settings.turn_up,
                )
            )
    return curves


def record(study: optuna.Study, suggestions: dict[str, Suggestion]) -> None:
    """Each member becomes a trial whose intermediate values are its smoothed loss curve (step
    t has rate min_lr * (max_lr / min_lr) ** (t / (steps - 1))), so the dashboard shows it:
    ``RECORDED_STEPS`` evenly spaced steps at most, the last one before divergence among them."""
    choices = optuna.distributions.CategoricalDistribution(list(suggestions))
    for suggestion in suggestions.values():
        for curve in suggestion.curves:
            values = {t: float(curve.smoothed[t]) for t in recorded_steps(curve)}
            study.add_trial(
                optuna.trial.create_trial(
                    params={"optimizer": curve.optimizer},
                    distributions={"optimizer": choices},
                    value=curve.diverging_lr / 2,
                    intermediate_values=values,
                    user_attrs={
                        "member": curve.label,
                        "diverging_lr": curve.diverging_lr,
                        "steepest_lr": curve.steepest_lr,
                        "stage": "lr_find",
                    },
                )
            )
    study.set_user_attr(RESULT_KEY, summary(suggestions))


def recorded_steps(curve: Curve) -> list[int]:
    """Evenly spaced steps of the smoothed curve before its loss exploded (all finite), its
    last one included."""
    end = readable_steps(curve)
    every = max(1, math.ceil(end / RECORDED_STEPS))  # none when its first loss is not finite
    return list(range((end - 1) % every, end, every))


def readable_steps(curve: Curve) -> int:
    """How many steps of the curve were smoothed: the loss exploded after them."""
    return int(np.isfinite(curve.smoothed).sum())


def summary(suggestions: dict[str, Suggestion]) -> dict[str, Any]:
    return {
        name: {
            "learning_rate": s.learning_rate,
            "diverging": s.diverging,
            "steepest": s.steepest,
            "spread": list(s.spread),
            "window": list(s.window),
            "members": s.members,
        }
        for name, s in suggestions.items()
    }


Window = tuple[str, float, float]  # optimizer, lowest and highest learning rate


def search_windows(result: dict[str, Any], space: SearchSpace) -> tuple[list[Window], list[str]]:
    """The search's window for each optimizer: the range test's, clipped to the space's own
    learning-rate range, which is a hard bound. An optimizer whose window lies outside that
    range keeps the space's range, and a note says so. A space that fixes or lists its rates
    gets no window."""
    bounds = space.learning_rate_range()
    if bounds is None:
        return [], []
    windows, notes = [], []
    for name, entry in result.items():
        low, high = map(float, entry["window"])
        clipped = (max(low, bounds[0]), min(high, bounds[1]))
        if clipped[0] < clipped[1]:
            windows.append((name, *clipped))
        else:
            notes.append(
                f"lr_find: {name}'s window {low:.3g} - {high:.3g} lies outside the space's "
                f"learning_rate range {bounds[0]:.3g} - {bounds[1]:.3g}; the search keeps "
                "the space's range"
            )
    return windows, notes


Plot = Callable[[dict[str, Suggestion], list[Window], Path, optuna.Study], None]


def run_lr_find(
    prepared: Prepared, results_dir: Path, plot: Plot | None = None
) -> tuple[dict[str, Any], bool]:
    """The stage's result (per-optimizer suggestions); ``True`` when it was reused. ``plot``
    draws the curves and windows (the application's ``plots.plot_lr_find``)."""
    config = prepared.config
    study = optuna.create_study(
        study_name=config.lr_find_study,
        load_if_exists=True,
        storage=open_storage(config.storage_url, config.where("storage")),
    )
    if RESULT_KEY in study.user_attrs:
        return study.user_attrs[RESULT_KEY], True
    suggestions = suggest(run_range_tests(prepared))
    record(study, suggestions)
    results_dir.mkdir(parents=True, exist_ok=True)
    result = summary(suggestions)
    (results_dir / "lr_find.json").write_text(
        json.dumps(
            {
                "settings": config.lr_find.model_dump(),
                "suggestions": result,
                "curves": [curve_json(c) for s in suggestions.values() for c in s.curves],
            },
            indent=1,
        )
    )
    if plot is not None:
        windows, _ = search_windows(result, prepared.space)
        plot(suggestions, windows, results_dir / "lr_find.png", study)
    return result, False


def curve_json(curve: Curve) -> dict[str, Any]:
    return {
        "optimizer": curve.optimizer,
        "member": curve.label,
        "diverging_lr": curve.diverging_lr,
        "steepest_lr": curve.steepest_lr,
        "diverged_at": curve.diverged_at,
        "fitted_at": curve.fitted_at,
        "minimum_lr": curve.minimum_lr,
        "learning_rates": curve.learning_rates.tolist(),
        "smoothed_loss": [float(v) if np.isfinite(v) else None for v in curve.smoothed],
    }


def print_suggestions(console: Console, result: dict[str, Any], windows: list[Window]) -> None:
    """The stage's table; the window column is what the search draws from (the space's own
    range where it has none)."""
    searched = {name: (low, high) for name, low, high in windows}
    table = Table(title="LR range test: per-optimizer suggestions (median over members)")
    for column in (
        "optimizer",
        "suggested lr",
        "spread (members)",
        "diverging",
        "Smith steepest",
        "search window",
    ):
        table.add_column(column)
    for name, s in result.items():
        table.add_row(
            name,
            f"{s['learning_rate']:.3g}",
            f"{s['spread'][0]:.3g} - {s['spread'][1]:.3g} ({s['members']})",
            f"{2 * s['learning_rate']:.3g}",  # the median diverging rate
            f"{s['steepest']:.3g}",
            "space's range"
            if name not in searched
            else f"{searched[name][0]:.3g} - {searched[name][1]:.3g}",
        )
    console.print(table)
