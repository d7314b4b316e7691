"""Does training a population at once cost search quality? jaxsweep's populations (TPE with
constant_liar, slots refilled as trials finish) against sequential Optuna TPE (one trial asked,
trained and told at a time, by the same engine: population 1), on digits, over several seeds.
Reports the best validation accuracy at an equal trial budget and at an equal wall-clock budget
(the sequential run's best when the population run had finished). Writes Markdown and JSON.

    python benchmarks/search_quality.py [--seeds 5] [--trials 64] [--populations 16,64]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import tempfile
import time
from pathlib import Path

import optuna
import report  # beside this script

from jaxsweep.config import load_sweep
from jaxsweep.search.prepare import prepare
from jaxsweep.search.study import make_pruner, make_sampler, quiet_optuna
from jaxsweep.search.sweep import run_search
from jaxsweep.storage.urls import open_storage

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
    parser.add_argument("--populations", default="16,64", help="comma-separated sizes")
    args = parser.parse_args()
    populations = [int(p) for p in args.populations.split(",")]
    quiet_optuna()
    runs: dict[int, list[dict]] = {p: [] for p in [1, *populations]}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(args.seeds):
            for population in runs:
                runs[population].append(
                    sweep(Path(tmp), seed, population, args.trials, args.epochs)
                )
                print(seed, population, runs[population][-1]["best"], flush=True)
    rows = [summary(p, runs[p], runs[1]) for p in runs]
    table = "\n".join(
        [
            f"digits, {SPACE.name}, {args.trials} trials, {args.epochs} epochs, "
            f"{args.seeds} seeds; "
            "best validation accuracy at an equal trial budget, and the sequential run's best "
            "once as much wall-clock time had passed as the population run took",
            "",
            "| population | mean best ± sd | per seed | gap to sequential (pooled sd) | "
            "target: gap >= -0.25 sd | sequential at this wall clock | wall s |",
            "| --- | --- | --- | --- | --- | --- | --- |",
            *(row_text(r) for r in rows),
        ]
    )
    print(table)
    report.write(
        "search_quality",
        table,
        {"args": vars(args), "rows": rows, "runs": {str(p): r for p, r in runs.items()}},
    )


def summary(population: int, runs: list[dict], sequential: list[dict]) -> dict:
    best = [r["best"] for r in runs]
    alone = [r["best"] for r in sequential]
    pooled = math.sqrt((statistics.variance(best) + statistics.variance(alone)) / 2)
    at_wall = [best_within(s["curve"], r["wall_s"]) for r, s in zip(runs, sequential, strict=True)]
    return {
        "population": population,
        "best": best,
        "mean": statistics.mean(best),
        "sd": statistics.stdev(best),
        "gap_sd": (statistics.mean(best) - statistics.mean(alone)) / pooled if pooled else 0.0,
        "sequential_at_wall": [v for v in at_wall if v is not None],
        "wall_s": statistics.mean(r["wall_s"] for r in runs),
    }


def row_text(r: dict) -> str:
    at_wall = r["sequential_at_wall"]
    return (
        f"| {r['population']}{' (sequential TPE)' if r['population'] == 1 else ''} | "
        f"{r['mean']:.4f} ± {r['sd']:.4f} | {', '.join(f'{v:.4f}' for v in r['best'])} | "
        f"{r['gap_sd']:+.2f} | {'yes' if r['gap_sd'] >= -0.25 else 'no'} | "
        f"{statistics.mean(at_wall):.4f} (n={len(at_wall)}) | {r['wall_s']:.0f} |"
        if at_wall
        else f"| {r['population']} | {r['mean']:.4f} ± {r['sd']:.4f} | "
        f"{', '.join(f'{v:.4f}' for v in r['best'])} | {r['gap_sd']:+.2f} | "
        f"{'yes' if r['gap_sd'] >= -0.25 else 'no'} | - | {r['wall_s']:.0f} |"
    )


if __name__ == "__main__":
    main()
