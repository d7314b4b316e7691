"""Stage ``schedule``: the search's best configuration is fixed and only its LR schedule is
searched, trained the same vmapped way (the article: tune the schedule last)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import optuna

from jaxsweep.errors import UserError
from jaxsweep.search.member_config import MemberConfig, schedule_of
from jaxsweep.search.population import Palette
from jaxsweep.search.prepare import Prepared
from jaxsweep.search.study import create_study
from jaxsweep.search.sweep import Progress, run_search

# The stage's members are the search's best configuration with different schedules: one
# program for all, at that configuration's own size, not the search space's largest.
PALETTE = Palette.schedules_only()


def best_config(search: optuna.Study) -> tuple[int, MemberConfig]:
    try:
        best = search.best_trial
    except ValueError:
        raise UserError(
            search.study_name,
            "the schedule stage needs a completed search trial; run the search stage first",
        ) from None
    return best.number, MemberConfig.from_dict(best.user_attrs["config"])


def run_schedule(
    prepared: Prepared, search: optuna.Study, on_progress: Callable[[Progress], None]
) -> optuna.Study:
    config, space = prepared.config, prepared.schedule_space
    assert space is not None, "prepare() loads the schedule space when the stage will run"
    number, base = best_config(search)
    study = create_study(config, config.schedule_study)
    study.set_user_attr("base_trial", number)

    def propose(trial: optuna.Trial) -> MemberConfig:
        schedule = schedule_of(space.sample(trial))
        return dataclasses.replace(base, train=dataclasses.replace(base.train, schedule=schedule))

    run_search(
        prepared,
        study,
        on_progress,
        stage="schedule",
        budget=config.schedule_trials,
        propose=propose,
        palette=PALETTE,
    )
    return study
