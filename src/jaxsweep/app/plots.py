"""Static plots of a study (PNG, no display, no network), also uploaded as Optuna artifacts."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")  # files only: works with no display

import matplotlib.pyplot as plt
import numpy as np
import optuna
from matplotlib.figure import Figure
from optuna.artifacts import FileSystemArtifactStore, get_all_artifact_meta, upload_artifact
from optuna.visualization import matplotlib as optuna_plots

if TYPE_CHECKING:
    from jaxsweep.engine.lr_find import Suggestion

ARTIFACTS = "artifacts"
LEGEND_ENTRIES = 10  # beyond this a legend (one entry a trial) hides the plot and doubles its cost

PLOTS: dict[str, tuple[Callable[..., object], int]] = {
    # name: (optuna's matplotlib plot, completed trials it needs)
    "optimization_history": (optuna_plots.plot_optimization_history, 1),
    "intermediate_values": (optuna_plots.plot_intermediate_values, 1),
    "param_importances": (optuna_plots.plot_param_importances, 2),
    "parallel_coordinate": (optuna_plots.plot_parallel_coordinate, 2),
}


def artifact_store(results_dir: Path) -> FileSystemArtifactStore:
    folder = results_dir / ARTIFACTS
    folder.mkdir(parents=True, exist_ok=True)
    return FileSystemArtifactStore(str(folder))


def write_plots(study: optuna.Study, results_dir: Path, prefix: str = "") -> list[Path]:
    """Save each plot that the study has enough trials for; upload each to the study's artifacts
    so the dashboard shows it beside the trials."""
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    folder = results_dir / "plots"
    folder.mkdir(parents=True, exist_ok=True)
    store = artifact_store(results_dir)
    written = []
    for name, (plot, needs) in PLOTS.items():
        if len(complete) < needs or (needs > 1 and not complete[0].params):
            continue
        path = folder / f"{prefix}{name}.png"
        with warnings.catch_warnings():
            # optuna marks its matplotlib plots experimental; matplotlib warns on tight layouts
            warnings.simplefilter("ignore")
            axes = plot(study)
            figure = axes.ravel()[0].figure if hasattr(axes, "ravel") else axes.figure
            drop_crowded_legends(figure)
            save(figure, path)
        publish(store, path, study)
        written.append(path)
    return written


def plot_lr_find(
    suggestions: dict[str, Suggestion],
    windows: list[tuple[str, float, float]],
    path: Path,
    study: optuna.Study,
) -> Path:
    """Smoothed loss against the learning rate (log scale), a curve per member up to where its
    loss exploded, coloured by optimizer. Per optimizer: the search window shaded, the
    diverging rate (dash-dot; where a loss that never turned up fell a hundredfold), the
    suggestion, half of it (dashed), and Smith's steepest
    descent (dotted), each the median over members."""
    figure, axes = plt.subplots(figsize=(8, 5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    searched = {name: (low, high) for name, low, high in windows}
    tops = []
    for i, (name, suggestion) in enumerate(suggestions.items()):
        colour = colours[i % len(colours)]
        for j, curve in enumerate(suggestion.curves):
            axes.plot(
                curve.learning_rates,
                curve.smoothed,  # NaN past the explosion: not drawn
                color=colour,
                alpha=0.6,
                lw=1,
                label=name if j == 0 else None,
            )
            finite = curve.smoothed[np.isfinite(curve.smoothed)]
            if len(finite):
                tops.append(finite[: max(2, len(finite) // 10)].max())
        if name in searched:
            axes.axvspan(*searched[name], color=colour, alpha=0.12, lw=0)
        axes.axvline(suggestion.diverging, color=colour, ls="-.", lw=1.2)
        axes.axvline(suggestion.learning_rate, color=colour, ls="--", lw=1.5)
        axes.axvline(suggestion.steepest, color=colour, ls=":", lw=1)
    axes.set_xscale("log")
    if tops:
        axes.set_ylim(top=1.5 * max(tops))
    axes.set_xlabel("learning rate")
    axes.set_ylabel("smoothed training loss")
    axes.set_title(
        "LR range test: shaded, the search window; dash-dot, diverging rate (or a 100x fall);\n"
        "dashed, suggestion (half of it); dotted, steepest descent",
        fontsize=10,
    )
    axes.legend()
    save(figure, path)
    publish(artifact_store(path.parent), path, study)
    return path


def drop_crowded_legends(figure: Figure) -> None:
    """Remove each legend of more than ``LEGEND_ENTRIES`` entries (Optuna's: one a trial)."""
    for legend in [axes.get_legend() for axes in figure.axes]:
        if legend is not None and len(legend.legend_handles) > LEGEND_ENTRIES:
            legend.remove()


def save(figure: Figure, path: Path) -> None:
    """Write a PNG of 900 x 550 pixels, the layout fitted in its one drawing (a tight bounding
    box draws the figure twice), and close the figure."""
    figure.set_size_inches(9, 5.5)
    figure.set_layout_engine("tight")
    figure.savefig(path, dpi=100)
    plt.close(figure)


def publish(store: FileSystemArtifactStore, path: Path, study: optuna.Study) -> None:
    """Upload a plot as a study artifact, or replace the content of the one a previous run of
    the sweep uploaded under the same name, so a resumed study lists each plot once."""
    for meta in get_all_artifact_meta(study):
        if meta.filename == path.name:
            with path.open("rb") as content:
                store.write(meta.artifact_id, content)
            return
    upload_artifact(artifact_store=store, file_path=str(path), study_or_trial=study)
