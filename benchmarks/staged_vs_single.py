"""Does the LR range test help? A staged sweep (lr_find, then the search in each optimizer's
window) against the search alone, at an equal wall-clock budget: both run under the same
`timeout`, which counts the range test's time too. Four classification tables by default
(digits, wine, breast cancer, a synthetic 5,000-row table), and regression ones on request
(diabetes, Friedman #1: by RMSE), several seeds, the two sweeps alternated; a warm-up pair per
table first, so that neither pays the compiles. Writes a Markdown/JSON table: the median best
validation metric of each, per table.

    python benchmarks/staged_vs_single.py [--seeds 5] [--budget 45] [--space article]
    python benchmarks/staged_vs_single.py --datasets diabetes,friedman --report NAME
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path
from typing import Any

import optuna
import report  # beside this script
from rich.console import Console
from tables import source_of  # beside this script

from jaxsweep.app.runner import run_sweep
from jaxsweep.config import load_sweep
from jaxsweep.search.study import quiet_optuna

HERE = Path(__file__).resolve().parent
SPACES = {
    "article": HERE.parent / "search_spaces" / "article.yaml",
    "small": HERE.parent / "search_spaces" / "small.yaml",
}
DATASETS = ("digits", "wine", "breast_cancer", "synthetic")
VARIANTS = {"single": ["search"], "staged": ["lr_find", "search"]}
REGRESSION = ("diabetes", "friedman")  # read by RMSE, lower is better


def metric_of(name: str) -> tuple[str, bool]:
    """The table's metric and whether it is maximised."""
    return ("rmse", False) if name in REGRESSION else ("accuracy", True)


def at_least_as_good(a: float, b: float, maximize: bool) -> bool:
    return a >= b if maximize else a <= b


def one_sweep(
    folder: Path,
    source: str,
    seed: int,
    variant: str,
    args: argparse.Namespace,
    warm_up: bool = False,
) -> dict[str, Any]:
    """One sweep under the budget: its best validation metric (the worst possible when no trial
    completed) and how many trials completed. ``warm_up``: two populations, no time budget, to
    compile every cohort's programs before the timed sweeps."""
    study = f"{Path(source).stem}-{seed}-{variant}-{args.space}"
    metric, maximize = metric_of(Path(source).stem)
    document = {
        "study": study,
        "data": {"source": source},
        "search_space": str(SPACES[args.space]),
        "seed": seed,
        "population": args.population,
        "trials": 2 * args.population if warm_up else 100_000,  # else the time budget ends it
        "timeout": None if warm_up else args.budget,
        "epochs": args.epochs,
        "early_stopping": {"patience": 5},
        "pruner": {"type": "median", "n_startup_trials": 8, "n_warmup_steps": 5},
        "metric": {"name": metric},
        "stages": VARIANTS[variant],
        "storage": f"sqlite:///{(folder / f'{study}.db').as_posix()}",
        "results": str(folder / "results"),
        "plots": False,
    }
    path = folder / f"{study}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    config = load_sweep(path)
    run_sweep(config, Console(quiet=True))
    search = optuna.load_study(study_name=study, storage=config.storage_url)
    values = [t.value for t in search.trials if t.value is not None]
    best = max(values, default=0.0) if maximize else min(values, default=float("inf"))
    return {"best": best, "complete": len(values), "trials": len(search.trials)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--budget", type=float, default=45.0, help="seconds a sweep")
    parser.add_argument("--space", choices=sorted(SPACES), default="article")
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--report", default="staged_vs_single", help="results/NAME.md and .json")
    args = parser.parse_args()
    quiet_optuna()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name in args.datasets.split(","):
            source = source_of(name, folder)
            for variant in VARIANTS:  # warm-up: compiles and the dataset cache
                one_sweep(folder, source, 10_000, variant, args, warm_up=True)
            runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
            for seed in range(args.seeds):
                order = list(VARIANTS) if seed % 2 == 0 else list(VARIANTS)[::-1]
                for variant in order:
                    runs[variant].append(one_sweep(folder, source, seed, variant, args))
                    print(name, seed, variant, runs[variant][-1], flush=True)
            rows.append(summary(name, runs))
    text = table(rows, args)
    report.write(args.report, text, {"args": vars(args), "rows": rows})
    print(text)


def summary(name: str, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    best = {v: [r["best"] for r in runs[v]] for v in runs}
    metric, maximize = metric_of(name)
    median = {v: statistics.median(best[v]) for v in runs}
    return {
        "dataset": name,
        "metric": metric,
        "maximize": maximize,
        "median": median,
        "median_staged_as_good": at_least_as_good(median["staged"], median["single"], maximize),
        "best": best,
        "complete": {v: statistics.median(r["complete"] for r in runs[v]) for v in runs},
        "staged_wins_or_ties": sum(
            at_least_as_good(a, b, maximize)
            for a, b in zip(best["staged"], best["single"], strict=True)
        ),
    }


def table(rows: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"{args.budget:g} s a sweep, {args.space} space, population {args.population}, "
        f"{args.epochs} epochs, {args.seeds} seeds; best validation metric (accuracy, or "
        "RMSE where the table says so: lower is better).",
        "",
        "| table | search alone (median) | lr_find + search (median) | staged as good | "
        "per seed, alone | per seed, staged | completed trials (median) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r['dataset']} ({r['metric']}) | {r['median']['single']:.4f} | "
            f"{r['median']['staged']:.4f} | "
            f"{'yes' if r['median_staged_as_good'] else 'no'} "
            f"({r['staged_wins_or_ties']} of {len(r['best']['staged'])} seeds) | "
            f"{', '.join(f'{v:.4f}' for v in r['best']['single'])} | "
            f"{', '.join(f'{v:.4f}' for v in r['best']['staged'])} | "
            f"{r['complete']['single']:g} / {r['complete']['staged']:g} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
