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

from jaxsweep.cli import use_every_core

use_every_core()  # before JAX starts

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
import report  # noqa: E402  (beside this script)
from population_vs_sequential import SPACES, sweep_file  # noqa: E402  (beside this script)

from jaxsweep.config import load_sweep  # noqa: E402
from jaxsweep.placement import spread  # noqa: E402
from jaxsweep.population import (  # noqa: E402
    Palette,
    cohort_of,
    device_data,
    devices_for,
    hyper_of,
    member_keys,
    stack_hypers,
)
from jaxsweep.space import MemberConfig  # noqa: E402
from jaxsweep.sweep import Prepared, prepare, propose_from_space, quiet_optuna  # noqa: E402
from jaxsweep.train import population_trainer  # noqa: E402

HERE = Path(__file__).resolve().parent


def members(prepared: Prepared, count: int, batch_size: int) -> list[MemberConfig]:
    """``count`` members drawn at random from the space, each with ``batch_size``."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=batch_size))
    propose = propose_from_space(prepared)
    configs = [propose(study.ask()) for _ in range(count)]
    return [
        dataclasses.replace(c, train=dataclasses.replace(c.train, batch_size=batch_size))
        for c in configs
    ]


def epoch_seconds(prepared: Prepared, configs: list[MemberConfig], repeats: int) -> float:
    """The best time of one epoch of ``configs`` in one program, compile excluded."""
    dataset = prepared.dataset
    cohort = cohort_of(configs[0], dataset.task, Palette.of_space(prepared.space))
    devices = devices_for(len(configs))
    hyper = stack_hypers([hyper_of(c, dataset.train.y, cohort) for c in configs], devices)
    keys = spread(member_keys(0, list(range(len(configs)))), devices)
    data = device_data(dataset)
    trainer = population_trainer(cohort, prepared.settings)
    state = trainer.init(keys, hyper, data.X_train[:1])
    jax.block_until_ready(trainer.run(state, hyper, data, 1))  # compile
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        jax.block_until_ready(trainer.run(state, hyper, data, 1))
        times.append(time.perf_counter() - started)
    return min(times)


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
        seconds = epoch_seconds(prepared, configs, args.repeats)
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
