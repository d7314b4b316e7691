"""Does training a population at once cost search quality? jaxsweep's populations (TPE with
constant_liar, slots refilled as trials finish) against sequential Optuna TPE (one trial asked,
trained and told at a time, by the same engine: population 1), on digits, over several seeds.
Reports the best validation accuracy at an equal trial budget and at an equal wall-clock budget
(the sequential run's best when the population run had finished). Writes Markdown and JSON.

    python benchmarks/search_quality.py [--seeds 5] [--trials 64] [--epochs 10] [--population 16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import optuna
import report  # beside this script

from jaxsweep.config import load_sweep
from jaxsweep.storage import open_storage
from jaxsweep.sweep import make_pruner, make_sampler, prepare, quiet_optuna, run_search

HERE = Path(__file__).resolve().parent
SPACE = HERE.parent / "search_spaces" / "small.yaml"


def sweep(folder: Path, seed: int, population: int, trials: int, epochs: int) -> dict:
    path = folder / f"{seed}-{population}.yaml"
    document = {
        "study": f"s{seed}p{population}",
        "data": {"source": "digits"},
        "search_space": str(SPACE),
        "seed": seed,
        "population": population,
        "trials": trials,
        "epochs": epochs,
        "early_stopping": {"patience": 3},
        "pruner": {"type": "median", "n_startup_trials": 8, "n_warmup_steps": 3},
        "results": str(folder / "results"),
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    config = load_sweep(path)
    study = optuna.create_study(
        storage=open_storage(f"journal:///{(folder / f'{seed}-{population}.log').as_posix()}"),
        sampler=make_sampler(config),
        pruner=make_pruner(config),
        direction="maximize",
    )
    started = time.perf_counter()
    run_search(prepare(config), study)
    wall = time.perf_counter() - started
    begin = min(t.datetime_start for t in study.trials)
    finished = sorted(
        ((t.datetime_complete - begin).total_seconds(), t.value)
        for t in study.trials
        if t.value is not None
    )
    return {"wall_s": wall, "best": study.best_value, "curve": finished}


def best_within(curve: list[tuple[float, float]], seconds: float) -> float | None:
    values = [value for at, value in curve if at <= seconds]
    return max(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--trials", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--population", type=int, default=16)
    args = parser.parse_args()
    quiet_optuna()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            batched = sweep(Path(tmp), seed, args.population, args.trials, args.epochs)
            alone = sweep(Path(tmp), seed, 1, args.trials, args.epochs)
            rows.append(
                {
                    "seed": seed,
                    "population_best": batched["best"],
                    "population_wall_s": batched["wall_s"],
                    "sequential_best": alone["best"],
                    "sequential_wall_s": alone["wall_s"],
                    "sequential_best_at_population_wall": best_within(
                        alone["curve"], batched["wall_s"]
                    ),
                }
            )
            print(rows[-1], flush=True)

    def summary(key: str) -> str:
        values = [r[key] for r in rows if r[key] is not None]
        if not values:
            return "-"
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.4f} ± {spread:.4f} (n={len(values)})"

    table = "\n".join(
        [
            f"digits, {SPACE.name}, {args.trials} trials, {args.epochs} epochs, "
            f"{args.seeds} seeds, population {args.population}",
            "",
            "| budget | population (jaxsweep) | sequential TPE |",
            "|---|---|---|",
            f"| equal trials | {summary('population_best')} | {summary('sequential_best')} |",
            f"| equal wall clock | {summary('population_best')} | "
            f"{summary('sequential_best_at_population_wall')} |",
            f"| wall s | {summary('population_wall_s')} | {summary('sequential_wall_s')} |",
        ]
    )
    print(table)
    report.write("search_quality", table, {"args": vars(args), "rows": rows})


if __name__ == "__main__":
    main()
