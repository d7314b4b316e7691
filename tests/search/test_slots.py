"""A cohort's program as slots: freed slots refilled, and the program's size on a CPU."""

from __future__ import annotations

from pathlib import Path

import optuna

from jaxsweep.config import load_sweep
from jaxsweep.engine.placement import program_cap
from jaxsweep.search.member_config import resolve
from jaxsweep.search.population import cohort_of, padded_size
from jaxsweep.search.prepare import prepare
from jaxsweep.search.slots import program_size
from jaxsweep.search.study import make_pruner, make_sampler
from jaxsweep.search.sweep import run_search
from jaxsweep.storage.urls import open_storage
from tests.conftest import cpu_only, one_structure_space, tiny_sweep


def test_freed_slots_are_refilled_so_the_budget_takes_fewer_population_epochs(
    tmp_path: Path,
) -> None:
    # one structure; most rates are poor, so the pruner stops most trials early
    space = one_structure_space(tmp_path, low=1e-4, high=1.0)
    runs = {}
    for refill in (False, True):
        config = load_sweep(
            tiny_sweep(
                tmp_path / str(refill),
                search_space=str(space),
                population=4,
                trials=16,
                epochs=8,
                refill=refill,
                early_stopping={"patience": None},
                pruner={"type": "median", "n_startup_trials": 2, "n_warmup_steps": 0},
            )
        )
        storage = open_storage(f"sqlite:///{tmp_path / f'{refill}.db'}")
        study = optuna.create_study(
            sampler=make_sampler(config), pruner=make_pruner(config), storage=storage
        )
        seen: list = []
        run_search(prepare(config), study, seen.append)
        states = [t.state for t in study.trials]
        assert (
            states.count(optuna.trial.TrialState.COMPLETE)
            + states.count(optuna.trial.TrialState.PRUNED)
            == 16
        )
        assert states.count(optuna.trial.TrialState.PRUNED) >= 4  # the pruner did act
        for trial in study.trials:  # each trial's epochs count from its own start
            assert min(trial.intermediate_values) == 1
        runs[refill] = seen[-1].population_epochs
    assert runs[True] < runs[False], runs


@cpu_only
def test_on_a_cpu_a_population_wider_than_its_cap_a_device_is_split_without_more_padding() -> None:
    wide = cohort_of(resolve({"n_layers": 5, "units": 100}, "multiclass", 10), "multiclass")
    cap = program_cap(wide.layout.weights(64))
    assert cap == 10  # one device: 8 MiB over 47,910 weights of 16 bytes (with Adam's moments)
    for members in (51, 58, 256):
        size = program_size({}, wide, members, 64)
        assert size <= cap
        assert -(-members // size) * size == padded_size(members)  # no more padding than whole
    narrow = cohort_of(resolve({"units": 8}, "multiclass", 10), "multiclass")
    assert program_size({}, narrow, 256, 64) == 256  # 256 fit a block: one program
