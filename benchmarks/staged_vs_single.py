"""Does the LR range test help? A staged sweep (lr_find, then search in the narrowed windows)
against a one-stage sweep over the full 1e-6..10 range, at the same trial budget, on digits
(accuracy) and diabetes (RMSE), over several seeds. Prints and writes a Markdown/JSON table.

    python benchmarks/staged_vs_single.py [--seeds 3] [--trials 32] [--epochs 20]
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
from rich.console import Console

from jaxsweep.config import load_sweep
from jaxsweep.runner import run_sweep

HERE = Path(__file__).resolve().parent
DATASETS = {"digits": "accuracy", "diabetes": "rmse"}


def one_sweep(
    folder: Path, source: str, metric: str, seed: int, staged: bool, trials: int, epochs: int
) -> tuple[float, float]:
    sweep = folder / f"{source}-{seed}-{staged}.yaml"
    sweep.write_text(
        json.dumps(
            {
                "study": f"{source}-{seed}-{'staged' if staged else 'single'}",
                "data": {"source": source},
                "search_space": str(HERE / "lr_space.yaml"),
                "seed": seed,
                "population": 16,
                "trials": trials,
                "epochs": epochs,
                "pruner": {"type": "none"},
                "metric": {"name": metric},
                "stages": ["lr_find", "search"] if staged else ["search"],
                "results": str(folder / "results"),
            }
        )
    )
    config = load_sweep(sweep)
    started = time.perf_counter()
    run_sweep(config, Console(quiet=True))
    study = optuna.load_study(study_name=config.study, storage=config.storage_url)
    return study.best_value, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--trials", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=20)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for source, metric in DATASETS.items():
            for staged in (True, False):
                runs = [
                    one_sweep(Path(tmp), source, metric, seed, staged, args.trials, args.epochs)
                    for seed in range(args.seeds)
                ]
                values = [v for v, _ in runs]
                rows.append(
                    {
                        "dataset": source,
                        "metric": metric,
                        "sweep": "staged" if staged else "one-stage",
                        "mean": statistics.mean(values),
                        "stdev": statistics.stdev(values) if len(values) > 1 else 0.0,
                        "values": values,
                        "seconds": statistics.mean(s for _, s in runs),
                    }
                )
                print(rows[-1], flush=True)
    table = [
        "| dataset | metric | sweep | mean best | stdev | per seed | mean s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    table += [
        f"| {r['dataset']} | {r['metric']} | {r['sweep']} | {r['mean']:.4f} | "
        f"{r['stdev']:.4f} | {', '.join(f'{v:.4f}' for v in r['values'])} | "
        f"{r['seconds']:.0f} |"
        for r in rows
    ]
    report.write("staged_vs_single", "\n".join(table), {"args": vars(args), "rows": rows})
    print("\n".join(table))


if __name__ == "__main__":
    main()
