"""Plots: readable with many trials, and of a fixed size."""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import optuna
import pytest
from optuna.visualization import matplotlib as optuna_plots

from jaxsweep.app.plots import LEGEND_ENTRIES, drop_crowded_legends, write_plots


def _study(trials: int) -> optuna.Study:
    study = optuna.create_study(direction="maximize")
    for _ in range(trials):
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.suggest_int("units", 1, 100)
        for step in range(3):
            trial.report(x * step, step)
        study.tell(trial, x)
    return study


@pytest.mark.parametrize("trials", [3, LEGEND_ENTRIES + 2])
def test_a_legend_of_one_entry_a_trial_is_kept_only_while_it_is_short(trials: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # optuna marks its matplotlib plots experimental
        axes = optuna_plots.plot_intermediate_values(_study(trials))
    assert axes.get_legend() is not None
    drop_crowded_legends(axes.figure)
    assert (axes.get_legend() is not None) == (trials <= LEGEND_ENTRIES)
    plt.close(axes.figure)


def test_each_plot_is_a_900_by_550_png(tmp_path: Path) -> None:
    written = write_plots(_study(LEGEND_ENTRIES + 2), tmp_path)
    assert [p.name for p in written] == [
        "optimization_history.png",
        "intermediate_values.png",
        "param_importances.png",
        "parallel_coordinate.png",
    ]
    for path in written:
        assert matplotlib.image.imread(path).shape[:2] == (550, 900)
