"""What Optuna hears of a trial: the pruner's verdicts, from one snapshot of the study."""

from __future__ import annotations

from pathlib import Path

import optuna

from jaxsweep.search.verdicts import should_prune
from jaxsweep.storage.urls import open_storage


def test_the_pruning_snapshot_gives_optunas_own_verdicts(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path / 'p.db'}")
    study = optuna.create_study(
        storage=storage,
        direction="maximize",
        pruner=optuna.pruners.MedianPruner(n_startup_trials=2, n_warmup_steps=1),
    )
    for final in (0.5, 0.6, 0.7):  # finished trials set the median at each step
        trial = study.ask()
        for step in range(1, 5):
            trial.report(final * step / 4, step)
        study.tell(trial, final)
    running = [study.ask() for _ in range(6)]
    for i, trial in enumerate(running):
        for step in range(1, 2 + i % 4):
            trial.report(0.2 * i * step / 4, step)
    verdicts = should_prune(study, running)
    assert verdicts == [trial.should_prune() for trial in running]
    assert any(verdicts) and not all(verdicts)
