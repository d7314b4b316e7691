"""The one place that touches Optuna's private API, each use kept for a figure measured on whole
sweeps (2 cores, warm compilation cache) and covered by a contract test
(``tests/storage/optuna_internals/``) that fails if Optuna changes it:

- ``own_trials``: a SQLite worker's cache that never reads its own running trials back. A
  256-trial fixed-space sweep on SQLite: 17.4 s with it, 28.2 s without; its check of the trials
  above the newest read: 96-97 trials/s with it, 80-82 without.
- ``bulk_writes``: a population's reports and attributes in one transaction (one append on a
  journal file). A warm fixed-space sweep of 256 trials: 74-82 trials/s on SQLite against 42,
  115-119 on a journal file against 78-83.
- ``trials.tell_without_readback``: ``Study.tell`` without reading each trial back for its
  caller: 80-82 trials/s against 72-75 on SQLite.
- ``trials.trial_id`` and ``trials.storage_of``: the ids and storage the heartbeat writes
  through, as ``Study.optimize`` does with its own heartbeat.

Held-back parameter writes (a population's sampled parameters in one transaction) were removed:
on whole warm article-space sweeps they measured 0.96x, 1.00x and 0.997x, within the noise.

Importing this package checks the installed Optuna against the versions these hooks are tested
on, and refuses any other with one line.
"""

from __future__ import annotations

import optuna
from packaging.version import Version

# The versions the contract tests pass on; pyproject.toml pins the same range.
LOWEST, BEYOND = "4.9", "6"


def check_version(installed: str = optuna.__version__) -> None:
    """Refuse an Optuna outside the tested range: its private API may have changed."""
    if not Version(LOWEST) <= Version(installed) < Version(BEYOND):
        raise ImportError(
            f"jaxsweep needs optuna>={LOWEST},<{BEYOND} (it relies on internals tested on those "
            f"versions), not {installed}: pip install 'optuna>={LOWEST},<{BEYOND}'"
        )


check_version()

from jaxsweep.storage.optuna_internals.bulk_writes import report_all, set_user_attrs_all  # noqa: E402
from jaxsweep.storage.optuna_internals.own_trials import OwnTrialsCache  # noqa: E402
from jaxsweep.storage.optuna_internals.trials import (  # noqa: E402
    storage_of,
    tell_without_readback,
    trial_id,
)

__all__ = [
    "OwnTrialsCache",
    "report_all",
    "set_user_attrs_all",
    "storage_of",
    "tell_without_readback",
    "trial_id",
]
