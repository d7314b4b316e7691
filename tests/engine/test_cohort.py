"""Steps per epoch, in their one home: the rows that do not fill a last batch wait."""

from __future__ import annotations

from jaxsweep.engine.cohort import Settings, steps_per_epoch


def test_steps_per_epoch_count_whole_batches_and_at_least_one() -> None:
    assert steps_per_epoch(96, 32) == 3
    assert steps_per_epoch(100, 32) == 3  # the 4 rows over wait for the next shuffle
    assert steps_per_epoch(31, 32) == 1  # fewer rows than a batch: still a step
    settings = Settings("accuracy", True, None, 0.0, train_rows=90, epochs=4)
    assert settings.steps_per_epoch(16) == 5 == steps_per_epoch(90, 16)
