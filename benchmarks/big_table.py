"""Peak memory and epoch time of a sweep on a big float table.

Makes a table of ROWS x 40 float32 features and a 3-class target (a Parquet file), then runs
`jaxsweep run` on it in a subprocess: population 16, 16 trials, one epoch, the fixed space
(2 x 64 ReLU, Adam, batch 32). The sweep runs twice on one compilation cache; the second run's
trial duration is the epoch time (training, validation and telling Optuna, no compilation).
Peak memory is the subprocess's maximum resident set size.

    python benchmarks/big_table.py [--rows 1000000] [--rows 10000000] [--no-warm] [--folder DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import report  # beside this script
import yaml

HERE = Path(__file__).resolve().parent
FEATURES = 40


def make_table(path: Path, rows: int, seed: int = 0) -> None:
    """A float32 table with a target three linear directions decide, written in row groups."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    directions = rng.normal(size=(FEATURES, 3)).astype(np.float32)
    names = [f"x{i}" for i in range(FEATURES)]
    writer = None
    for start in range(0, rows, 1_000_000):
        X = rng.normal(size=(min(1_000_000, rows - start), FEATURES)).astype(np.float32)
        columns = {name: X[:, i] for i, name in enumerate(names)}
        columns["target"] = np.argmax(X @ directions, axis=1).astype(np.int64)
        table = pa.table(columns)
        writer = writer or pq.ParquetWriter(path, table.schema)
        writer.write_table(table)
    assert writer is not None
    writer.close()


def sweep_file(folder: Path, data: Path, name: str) -> Path:
    document = {
        "study": name,
        "data": {"source": str(data)},
        "search_space": str(HERE / "fixed_space.yaml"),
        "population": 16,
        "trials": 16,
        "epochs": 1,
        "pruner": {"type": "none"},
        "early_stopping": {"patience": None},
        "results": str(folder / "results"),
        "plots": False,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


def run(sweep: Path, cache: Path) -> dict[str, float]:
    """One `jaxsweep run`: its wall time, peak resident memory and its trials' duration."""
    env = os.environ | {"JAXSWEEP_CACHE_DIR": str(cache)}
    command = [sys.executable, "-m", "jaxsweep", "run", str(sweep)]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    out, err = process.stdout.read().decode(), process.stderr.read().decode()  # type: ignore[union-attr]
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"jaxsweep run failed:\n{out}\n{err}")
    study = yaml.safe_load(sweep.read_text())["study"]
    trials = pd.read_csv(Path(yaml.safe_load(sweep.read_text())["results"]) / study / "trials.csv")
    epoch = pd.to_timedelta(trials["duration"]).dt.total_seconds().median()
    return {"wall_s": wall, "peak_rss_mb": usage.ru_maxrss / 1024, "epoch_s": float(epoch)}


def measure(folder: Path, rows: int, warm: bool = True) -> dict[str, float]:
    data = folder / f"table-{rows}.parquet"
    if not data.is_file():
        print(f"making {data} ...", flush=True)
        make_table(data, rows)
    cache = folder / f"cache-{rows}"
    first = run(sweep_file(folder, data, f"cold{rows}-{time.time_ns()}"), cache)
    second = run(sweep_file(folder, data, f"warm{rows}-{time.time_ns()}"), cache) if warm else {}
    result = {
        "rows": rows,
        "parquet_mb": data.stat().st_size / 2**20,
        "features_mb": rows * FEATURES * 4 / 2**20,
        "cold_peak_rss_mb": first["peak_rss_mb"],
        "cold_epoch_s": first["epoch_s"],
        "warm_peak_rss_mb": second.get("peak_rss_mb", float("nan")),
        "warm_epoch_s": second.get("epoch_s", float("nan")),
        "warm_wall_s": second.get("wall_s", float("nan")),
    }
    print(result, flush=True)
    return result


def markdown(results: list[dict[str, float]]) -> str:
    lines = [
        "Population 16, 16 trials, one epoch, 2 x 64 ReLU, Adam, batch 32. Peak memory is the "
        "`jaxsweep run` process's maximum resident set size; the epoch time is the trials' "
        "duration, in the second run (compilations cached) and in the first.\n",
        "| rows | features (float32) | Parquet file | peak memory, cold | peak memory, warm | "
        "epoch s, cold (compiling) | epoch s, warm | run s, warm |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['features_mb']:.0f} MB | {r['parquet_mb']:.0f} MB | "
            f"{r['cold_peak_rss_mb']:.0f} MB | {r['warm_peak_rss_mb']:.0f} MB | "
            f"{r['cold_epoch_s']:.1f} | {r['warm_epoch_s']:.1f} | {r['warm_wall_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="rows (repeatable)")
    parser.add_argument("--folder", type=Path, help="where tables and results go (default: tmp)")
    parser.add_argument("--name", default="big_table", help="results/NAME.md and NAME.json")
    parser.add_argument("--no-warm", action="store_true", help="one run only (no epoch time)")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="big_table-"))
    folder.mkdir(parents=True, exist_ok=True)
    results = [measure(folder, rows, not args.no_warm) for rows in args.rows or [1_000_000]]
    report.write(args.name, markdown(results), {"results": results})
    print((report.RESULTS / f"{args.name}.md").read_text())


if __name__ == "__main__":
    main()
