"""A sweep checked end to end before anything is written: its config, data and search spaces."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jaxsweep.cache import datasets
from jaxsweep.config import SweepConfig
from jaxsweep.data.dataset import Dataset, load_dataset
from jaxsweep.engine.cohort import Settings
from jaxsweep.engine.losses import metric_names
from jaxsweep.engine.schedules import DEFAULT_SPACE
from jaxsweep.engine.schedules import PARAMS as SCHEDULE_PARAMS
from jaxsweep.errors import UserError
from jaxsweep.search.space import SearchSpace, load_space, parse_space
from jaxsweep.storage.urls import check_url


@dataclass(frozen=True)
class Prepared:
    """A sweep checked end to end: config, data and space. Nothing has been written yet."""

    config: SweepConfig
    dataset: Dataset
    space: SearchSpace
    settings: Settings
    schedule_space: SearchSpace | None = None  # loaded when the schedule stage will run


def prepare(config: SweepConfig, cache: Path | None = None) -> Prepared:
    """Every check that can refuse the sweep, before a storage or results folder is created.
    ``cache``: a cache folder to read a built-in dataset from (see ``cache.datasets``)."""
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
