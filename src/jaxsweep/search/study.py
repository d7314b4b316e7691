"""The Optuna study of a sweep: created with its sampler and pruner, and counted."""

from __future__ import annotations

import warnings

import optuna

from jaxsweep.config import SweepConfig
from jaxsweep.errors import UserError
from jaxsweep.storage.urls import open_storage

FINISHED = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)


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


def count_trials(study: optuna.Study) -> tuple[int, int]:
    """Finished and running trials of the study."""
    states = [t.state for t in study.get_trials(deepcopy=False)]
    return sum(s in FINISHED for s in states), states.count(optuna.trial.TrialState.RUNNING)


def best_value(study: optuna.Study) -> float | None:
    try:
        return study.best_value
    except ValueError:
        return None
