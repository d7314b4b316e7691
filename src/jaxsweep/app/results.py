"""What a sweep leaves in ``results/<study>/``: best_params.yaml and trials.csv."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna
import pandas as pd
import yaml

from jaxsweep.config import SweepConfig
from jaxsweep.storage.urls import mask


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    try:
        return study.best_trial
    except ValueError:  # no completed trial yet
        return None


def best_of_stages(studies: list[optuna.Study]) -> tuple[optuna.Study, str | None]:
    """The study whose best trial is the sweep's result: the last stage's, unless that is the
    schedule stage and no schedule beat the search's best trial, which then stays the result at
    its constant learning rate (a note says so). The schedule stage retrains that trial's
    configuration with new initial weights, so its constant schedule may score lower."""
    search, last = studies[0], studies[-1]
    before, after = best_trial(search), best_trial(last)
    if last is search or before is None:
        return last, None
    if after is not None and _better(after.value, before.value, last):  # type: ignore[arg-type]
        return last, None
    return search, (
        f"no schedule beat the search's best trial #{before.number} "
        f"({before.value:.4g}): it stays the result, at its constant learning rate"
    )


def _better(value: float, than: float, study: optuna.Study) -> bool:
    maximize = study.direction == optuna.study.StudyDirection.MAXIMIZE
    return value > than if maximize else value < than


def sweep_best_document(studies: list[optuna.Study], storage_url: str) -> dict[str, Any] | None:
    """The sweep's best trial over its stages (``best_of_stages``), as best_params.yaml holds it."""
    study, note = best_of_stages(studies)
    return best_params_document(study, storage_url, note)


def best_params_document(
    study: optuna.Study, storage_url: str, note: str | None = None
) -> dict[str, Any] | None:
    """The best trial as best_params.yaml and ``jaxsweep best`` show it; None before any.
    ``note``: why this stage's trial is the result (see ``best_of_stages``)."""
    trial = best_trial(study)
    if trial is None:
        return None
    return (
        {
            "study": study.study_name,
            "stage": trial.user_attrs.get("stage"),
            "trial": trial.number,
            "metric": study.user_attrs.get("metric"),
            "direction": study.direction.name.lower(),
            "value": float(trial.value),  # type: ignore[arg-type]
            "best_epoch": trial.user_attrs.get("best_epoch"),
            "params": dict(trial.params),
            "config": trial.user_attrs.get("config"),
            "storage": mask(storage_url),
        }
        | ({"classes": study.user_attrs["classes"]} if "classes" in study.user_attrs else {})
        | ({"note": note} if note else {})
    )


def write_results(
    config: SweepConfig, studies: list[optuna.Study], classes: tuple[Any, ...] = ()
) -> list[Path]:
    """Write best_params.yaml from the sweep's best trial (``best_of_stages``; if any trial
    completed) and trials.csv with every stage's trials; return what was written. ``classes``:
    the target's labels, by class id, recorded in the studies (``jaxsweep best`` shows them
    too)."""
    for study in studies:
        if classes and study.user_attrs.get("classes") != list(classes):
            study.set_user_attr("classes", list(classes))
    folder = config.results_dir
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    document = sweep_best_document(studies, config.storage_url)
    if document is not None:
        path = folder / "best_params.yaml"
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
        written.append(path)
    frame = pd.concat([trials_frame(s) for s in studies], ignore_index=True)
    path = folder / "trials.csv"
    frame.to_csv(path, index=False)
    written.append(path)
    return written


def trials_frame(study: optuna.Study) -> pd.DataFrame:
    frame = study.trials_dataframe(
        attrs=(
            "number",
            "state",
            "value",
            "datetime_start",
            "datetime_complete",
            "duration",
            "params",
            "user_attrs",
        )
    )
    frame = frame.drop(columns=[c for c in frame.columns if c == "user_attrs_config"])
    # Flat names: `stage`, `epochs`, ...; `value` even when the study names its metric.
    frame = frame.rename(
        columns=lambda c: "value" if c.startswith("value_") else c.removeprefix("user_attrs_")
    )
    frame.insert(0, "study", study.study_name)
    return frame
