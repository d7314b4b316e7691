"""What a mixed article-space population costs an epoch at each batch size.

The batch size sets an epoch's steps, and every step passes over each member's padded weights
(forward and backward products, clipping, the optimizer) whatever its batch: small batches cost
far more a trial. Members are drawn at random from `search_spaces/article.yaml` with the batch
size set, and trained in one program per batch size at the space's padded size and choices, as
a sweep builds it (split over every core, in blocks). Compile time is excluded; each figure is
the best of --repeats. A linear fit of a step's time against the batch size splits it into a
part a step pays whatever its batch and a part a row.

    python benchmarks/batch_sizes.py [--population 64] [--repeats 3] [--batch-sizes 2,4,8,16,32]
"""

from __future__ import annotations

from jaxsweep.app.cores import use_every_core

use_every_core()  # before JAX starts

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
import report  # noqa: E402  (beside this script, as population_vs_sequential)
from population_vs_sequential import SPACES, sweep_file, training_seconds  # noqa: E402

from jaxsweep.config import load_sweep  # noqa: E402
from jaxsweep.search.asker import propose_from_space  # noqa: E402
from jaxsweep.search.member_config import MemberConfig  # noqa: E402
from jaxsweep.search.population import Palette, cohort_of  # noqa: E402
from jaxsweep.search.prepare import Prepared, prepare  # noqa: E402
from jaxsweep.search.study import quiet_optuna  # noqa: E402


def members(prepared: Prepared, count: int, batch_size: int) -> list[MemberConfig]:
    """``count`` members drawn at random from the space, each with ``batch_size``."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=batch_size))
    propose = propose_from_space(prepared)
    configs = [propose(study.ask()) for _ in range(count)]
    return [
        dataclasses.replace(c, train=dataclasses.replace(c.train, batch_size=batch_size))
        for c in configs
    ]


def markdown(rows: list[dict], fixed_ms: float, per_row_ms: float, population: int) -> str:
    lines = [
        f"| batch | steps an epoch | epoch s ({population} members) | ms a step | "
        "trial-epochs/s | epoch cost against the largest batch |",
        "|---|---|---|---|---|---|",
    ]
    largest = rows[-1]["epoch_s"]
    for r in rows:
        lines.append(
            f"| {r['batch_size']} | {r['steps']} | {r['epoch_s']:.3f} | {r['step_ms']:.2f} | "
            f"{r['trial_epochs_per_s']:.1f} | {r['epoch_s'] / largest:.2f}x |"
        )
    lines.append("")
    lines.append(
        f"A step's time ≈ {fixed_ms:.2f} ms + {per_row_ms:.3f} ms a row of its batch "
        f"({population} members, least squares over the batch sizes above)."
    )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", default="2,4,8,16,32")
    args = parser.parse_args()
    quiet_optuna()
    with tempfile.TemporaryDirectory() as tmp:
        config = load_sweep(sweep_file(Path(tmp), SPACES["article"], 8, 1, args.population))
        prepared = prepare(config)
    rows = []
    for batch_size in sorted(int(b) for b in args.batch_sizes.split(",")):
        configs = members(prepared, args.population, batch_size)
        cohort = cohort_of(configs[0], prepared.dataset.task, Palette.of_space(prepared.space))
        seconds = training_seconds(prepared, cohort, configs, 1, args.repeats)
        steps = prepared.settings.steps_per_epoch(batch_size)
        rows.append(
            {
                "batch_size": batch_size,
                "steps": steps,
                "epoch_s": seconds,
                "step_ms": 1e3 * seconds / steps,
                "trial_epochs_per_s": args.population / seconds,
            }
        )
        print(f"  batch {batch_size}: {seconds:.3f} s an epoch", flush=True)
    per_row_ms, fixed_ms = np.polyfit(
        [r["batch_size"] for r in rows], [r["step_ms"] for r in rows], 1
    )
    table = markdown(rows, float(fixed_ms), float(per_row_ms), args.population)
    print(table)
    report.write(
        "batch_sizes",
        table,
        {
            "args": vars(args),
            "devices": jax.local_device_count(),
            "rows": rows,
            "step_ms_fixed": float(fixed_ms),
            "step_ms_per_row": float(per_row_ms),
        },
    )


if __name__ == "__main__":
    main()
