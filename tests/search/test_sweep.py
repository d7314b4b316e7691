"""Samplers and pruners from the sweep file, on real Optuna studies."""

from __future__ import annotations

from pathlib import Path

import jax
import optuna
import pytest

from jaxsweep.config import SweepConfig, load_sweep
from jaxsweep.search.member_config import resolve
from jaxsweep.search.population import cohort_of
from jaxsweep.search.prepare import prepare
from jaxsweep.search.study import make_pruner, make_sampler
from jaxsweep.search.sweep import in_turns, run_search
from jaxsweep.search.verdicts import should_prune
from jaxsweep.storage.urls import open_storage
from tests.conftest import one_structure_space, tiny_sweep, write_yaml


def proposals(config: SweepConfig, trials: int = 6) -> list[tuple[float, float]]:
    """What the sweep's sampler proposes for a two-parameter objective, told as it goes."""
    study = optuna.create_study(sampler=make_sampler(config))
    for _ in range(trials):
        trial = study.ask()
        x, y = trial.suggest_float("x", -1, 1), trial.suggest_float("y", -1, 1)
        study.tell(trial, x**2 + y**2)
    return [(t.params["x"], t.params["y"]) for t in study.trials]


def sweep_with(folder: Path, sweep_seed: int = 0, **sampler: object) -> SweepConfig:
    return load_sweep(
        tiny_sweep(folder, seed=sweep_seed, sampler={"n_startup_trials": 2} | sampler)
    )


@pytest.mark.parametrize("kind", ["tpe", "random", "cmaes"])
def test_each_sampler_proposes_seeded_values(tmp_path: Path, kind: str) -> None:
    first = proposals(sweep_with(tmp_path, sweep_seed=1, type=kind))
    assert proposals(sweep_with(tmp_path, sweep_seed=1, type=kind)) == first  # repeatable
    assert proposals(sweep_with(tmp_path, sweep_seed=2, type=kind)) != first  # the seed is used
    # the sampler's own seed, when given, comes before the sweep's
    assert proposals(sweep_with(tmp_path, sweep_seed=2, type=kind, seed=1)) == first


def test_the_sampler_type_and_its_startup_trials_change_the_proposals(tmp_path: Path) -> None:
    runs = {kind: proposals(sweep_with(tmp_path, type=kind)) for kind in ("tpe", "random", "cmaes")}
    after_startup = {kind: tuple(run[2:]) for kind, run in runs.items()}  # past 2 random ones
    assert len(set(after_startup.values())) == 3
    # TPE's startup trials are its random sampler's draws: with 6 of them, all six are
    assert proposals(sweep_with(tmp_path, type="tpe", n_startup_trials=6)) == runs["random"]
    assert runs["tpe"][2:] != runs["random"][2:]


def nan_pruned_from(pruner: optuna.pruners.BasePruner, trials: int, last: int) -> set[int]:
    """For each of ``trials`` trials, the first step at which a NaN report is pruned (or
    ``last + 1``): where ``pruner`` first judges a trial."""
    study = optuna.create_study(pruner=pruner, direction="maximize")
    firsts = set()
    for _ in range(trials):
        trial = study.ask()
        step = 0
        while step <= last:
            trial.report(float("nan"), step)
            if trial.should_prune():
                break
            step += 1
        firsts.add(step)
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    return firsts


def test_the_median_pruner_waits_its_startup_trials_and_warmup_steps(tmp_path: Path) -> None:
    median = {"type": "median", "n_startup_trials": 3, "n_warmup_steps": 2}
    pruner = make_pruner(load_sweep(tiny_sweep(tmp_path, pruner=median)))
    study = optuna.create_study(pruner=pruner, direction="maximize")

    def judged(value: float, step: int) -> bool:
        trial = study.ask()
        for s in range(step + 1):
            trial.report(value, s)
        verdict = trial.should_prune()
        study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        return verdict

    for completed in range(3):
        assert not judged(0.0, step=5), completed  # fewer than 3 finished trials: no verdict
        trial = study.ask()
        for s in range(6):
            trial.report(1.0, s)
        study.tell(trial, 1.0)
    assert not judged(0.0, step=1)  # steps 0 and 1 are the warm-up
    assert judged(0.0, step=2)


@pytest.mark.parametrize(
    ("pruner", "epochs", "first_judged"),
    [
        ({"type": "none"}, 9, {10}),
        ({"type": "successive_halving", "min_resource": 2, "reduction_factor": 3}, 9, {2}),
        # a bracket a rung: its first promotion at min_resource x factor ** bracket, up to epochs
        ({"type": "hyperband", "min_resource": 1, "reduction_factor": 3}, 9, {1, 3, 9}),
        ({"type": "hyperband", "min_resource": 2, "reduction_factor": 2}, 8, {2, 4, 8}),
    ],
    ids=lambda v: str(v.get("type")) if isinstance(v, dict) else None,
)
def test_each_pruner_is_built_with_the_sweep_files_parameters(
    tmp_path: Path, pruner: dict, epochs: int, first_judged: set[int]
) -> None:
    config = load_sweep(tiny_sweep(tmp_path, pruner=pruner, epochs=epochs))
    assert nan_pruned_from(make_pruner(config), trials=40, last=epochs) == first_judged


def test_mixed_proposals_compile_once_per_cohort(tmp_path: Path) -> None:
    """A second sweep of three times the trials, all new proposals, compiles nothing."""
    space = write_yaml(
        tmp_path / "space.yaml",
        {
            "n_layers": {"type": "int", "low": 1, "high": 2},  # padded to 2 x 32
            "units": {"type": "int", "low": 17, "high": 32},
            "width_shape": {"type": "categorical", "choices": ["constant", "funnel"]},
            "activation": {"type": "categorical", "choices": ["relu", "tanh", "elu"]},
            "optimizer": {"type": "categorical", "choices": ["adam", "sgd"]},
            "batch_norm": {"type": "categorical", "choices": [False, True]},
            "use_dropout": {"type": "categorical", "choices": [False, True]},
            "dropout": {"type": "float", "low": 0.1, "high": 0.5, "when": {"use_dropout": [True]}},
            "batch_size": 16,
        },
    )
    compiles: list[str] = []

    def count(event: str, _duration: float, **_: object) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(event)

    counts, structures = [], set()
    jax.monitoring.register_event_duration_secs_listener(count)
    try:
        for seed, trials in ((0, 16), (1, 48)):  # early stopping frees slots: they are refilled
            config = load_sweep(
                tiny_sweep(
                    tmp_path / str(seed),
                    search_space=str(space),
                    population=8,
                    trials=trials,
                    epochs=4,
                    seed=seed,
                )
            )
            storage = open_storage(f"sqlite:///{tmp_path / f'{seed}.db'}")
            study = optuna.create_study(sampler=make_sampler(config), storage=storage)
            run_search(prepare(config), study)
            assert len(study.trials) == trials
            structures |= {
                (t.params["activation"], t.params["n_layers"], t.params["units"])
                for t in study.trials
            }
            counts.append(len(compiles))
    finally:
        jax.monitoring.unregister_event_duration_listener(count)
    assert len(structures) > 30  # mixed proposals
    assert counts[0] > 0 and counts[1] == counts[0], counts


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


def test_cohorts_with_the_fewest_steps_train_first(tmp_path: Path) -> None:
    rate = {"type": "float", "low": 1e-3, "high": 1e-1, "log": True}
    batches = {"type": "categorical", "choices": [4, 32]}
    space = write_yaml(
        tmp_path / "space.yaml", {"units": 8, "learning_rate": rate, "batch_size": batches}
    )
    config = load_sweep(
        tiny_sweep(
            tmp_path,
            search_space=str(space),
            population=8,
            trials=8,
            epochs=2,
            early_stopping={"patience": None},
        )
    )
    study = optuna.create_study(sampler=make_sampler(config))
    run_search(prepare(config), study)
    done = {
        size: [t.datetime_complete for t in study.trials if t.params["batch_size"] == size]
        for size in (4, 32)
    }
    assert done[4] and done[32], done  # both cohorts in the one population
    assert max(done[32]) <= min(done[4])  # batches of 32: 8 times fewer steps an epoch


def test_the_programs_of_a_population_take_turns_by_cohort() -> None:
    members = {32: ["a1", "a2", "a3"], 16: ["b1"], 4: ["c1", "c2", "c3", "c4"]}
    cohorts = {
        cohort_of(resolve({"batch_size": batch}, "multiclass", 3), "multiclass"): of_batch
        for batch, of_batch in members.items()
    }
    sizes = dict.fromkeys(cohorts, 2)  # programs of 2, as a CPU splits a wide population
    order = [group for _, group, _ in in_turns(cohorts, sizes, 4)]  # type: ignore[arg-type]
    assert order == [["a1", "a2"], ["b1"], ["c1", "c2"], ["a3"], ["c3", "c4"]]


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
