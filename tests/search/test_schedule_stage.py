"""Stage schedule: the search's best configuration fixed and only its schedule searched, every
schedule trained in one program."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import optuna
import yaml

from jaxsweep.config import load_sweep
from jaxsweep.search.asker import Asker
from jaxsweep.search.member_config import MemberConfig, resolve, schedule_of
from jaxsweep.search.population import Member
from jaxsweep.search.prepare import prepare
from jaxsweep.search.schedule_stage import PALETTE
from jaxsweep.storage.heartbeat import Heartbeat
from tests.conftest import tiny_sweep
from tests.engine.test_schedules import ALL_KINDS, BASE_LR


def test_schedule_stage_fixes_the_best_config_and_searches_schedules(
    staged_sweep: tuple[Path, str],
) -> None:
    folder, _ = staged_sweep
    storage = f"sqlite:///{folder / 'results' / 'digits' / 'study.db'}"
    search = optuna.load_study(study_name="digits", storage=storage)
    schedule = optuna.load_study(study_name="digits-schedule", storage=storage)
    base = MemberConfig.from_dict(search.best_trial.user_attrs["config"])
    assert len(schedule.trials) == 2
    for trial in schedule.trials:
        config = MemberConfig.from_dict(trial.user_attrs["config"])
        assert config.model == base.model
        assert config.train.learning_rate == base.train.learning_rate
        assert config.train.schedule.kind == trial.params["schedule"]
        assert trial.user_attrs["stage"] == "schedule"
    best = yaml.safe_load((folder / "results" / "digits" / "best_params.yaml").read_text())
    # the schedule's best if it beat the search's, else the search's: never worse
    assert math.isclose(best["value"], max(search.best_value, schedule.best_value))
    won = schedule.best_value > search.best_value
    assert best["study"] == ("digits-schedule" if won else "digits")


def test_the_schedule_stage_trains_every_schedule_in_one_program(tmp_path: Path) -> None:
    """The stage's members differ in schedule only, constant included: with the palette the
    stage gives its asker, one cohort for all, at their own size."""
    config = load_sweep(tiny_sweep(tmp_path, stages=["search", "schedule"]))
    prepared = prepare(config)
    study = optuna.create_study()
    base = resolve({"units": 8, "learning_rate": BASE_LR}, "multiclass", 3)
    heartbeat = Heartbeat(study, config.heartbeat)
    asker = Asker(prepared, study, 8, "schedule", lambda _: base, heartbeat, PALETTE)
    members = [
        dataclasses.replace(base, train=dataclasses.replace(base.train, schedule=schedule_of(kind)))
        for kind in ALL_KINDS
    ]
    cohorts = {asker.cohort((study.ask(), Member(i, m))) for i, m in enumerate(members)}
    assert len(cohorts) == 1
    cohort = cohorts.pop()
    assert cohort.scheduled  # at the configuration's own size, not the search space's largest
    assert (cohort.layout.depth, cohort.layout.width) == (len(base.model.widths), 8)
    search = Asker(prepared, study, 8, "search", lambda _: base, heartbeat)
    assert not search.cohort((study.ask(), Member(0, base))).scheduled  # the search's constant rate
