"""Does the LR range test suggest the right learning rate? Ground truth from a grid.

For every optimizer of the article space, on several datasets, a grid of constant learning rates
(log-spaced, several seeds each, all trained in one population by jaxsweep's own engine) gives the
best constant rate by the metric a sweep optimizes by default (accuracy, or RMSE for regression;
``best_rate`` says how it is read), and by the validation loss for comparison. The range test
runs on the same network, as `jaxsweep lr-find` runs it, and its suggestion is compared with the
metric's best rate: the target is a factor of 3 or less for at least 80% of (optimizer, dataset)
pairs. Three seeds leave many rates tied on a flat optimum, so the table also counts the pairs
within 3x of any rate the seeds cannot tell from the best (within one standard error), gives the
metric at the suggested rate beside the best, and says whether the best rate lies in the search
window. The network is
fixed (2 x 64 ReLU, batch 16, no dropout, batch norm or clipping; SGD with momentum 0.9) so that
the learning rate is the only thing that changes.

    python benchmarks/lr_truth.py [--seeds 3] [--rates 19] [--epochs 20]
    python benchmarks/lr_truth.py --reread benchmarks/results/lr_truth.json   # curves read anew

Writes `benchmarks/results/lr_truth.md` and `.json` (the JSON keeps every grid value and every
range-test loss, so `--reread` reads the curves again without training).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import report  # beside this script
from tables import source_of  # beside this script

from jaxsweep.config import LrFindConfig, load_sweep
from jaxsweep.engine.lr_find import read_curve, suggest
from jaxsweep.search.lr_stage import run_range_tests
from jaxsweep.search.prepare import Prepared, prepare
from jaxsweep.search.study import quiet_optuna
from jaxsweep.search.sweep import run_search

OPTIMIZERS = ("sgd", "adam", "nadam", "rmsprop", "adamax")
DATASETS = ("digits", "wine", "diabetes", "synthetic")
GRID = (-5.0, 1.0)  # log10 of the grid's lowest and highest rate
TARGET_FACTOR, TARGET_SHARE = 3.0, 0.8


def space(folder: Path) -> Path:
    document = {
        "n_layers": 2,
        "units": 64,
        "activation": "relu",
        "use_dropout": False,
        "clipping": False,
        "optimizer": {"type": "categorical", "choices": list(OPTIMIZERS)},
        "learning_rate": {"type": "float", "low": 1e-6, "high": 10.0, "log": True},
        "momentum": 0.9,
        "batch_size": 16,
    }
    path = folder / "space.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def sweep_file(folder: Path, name: str, metric: str, trials: int, epochs: int) -> Path:
    document = {
        "study": name,
        "data": {"source": source_of(name, folder)},
        "search_space": str(space(folder)),
        "population": trials,
        "trials": trials,
        "epochs": epochs,
        "early_stopping": {"patience": 5},
        "pruner": {"type": "none"},
        "metric": {"name": metric},
        "stages": ["lr_find", "search"],
        "results": str(folder / "results"),
        "plots": False,
    }
    path = folder / f"{name}-{metric}.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def measure(name: str, rates: np.ndarray, seeds: int, epochs: int) -> dict[str, Any]:
    """The range test's raw curves, and the grid's best validation value for every (optimizer,
    rate, seed), by the sweep's default metric and by the loss: everything the table reads."""
    trials = len(OPTIMIZERS) * len(rates) * seeds
    run: dict[str, Any] = {"dataset": name, "rates": rates.tolist(), "grids": {}}
    with tempfile.TemporaryDirectory() as tmp:
        prepared = prepare(load_sweep(sweep_file(Path(tmp), name, "loss", trials, epochs)))
        metric = "accuracy" if prepared.dataset.task != "regression" else "rmse"
        started = time.perf_counter()
        curves = run_range_tests(prepared)
        run["range_test_s"] = time.perf_counter() - started
        for name_of_metric in (metric, "loss"):
            path = sweep_file(Path(tmp), name, name_of_metric, trials, epochs)
            started = time.perf_counter()
            run["grids"][name_of_metric] = grid(prepare(load_sweep(path)), rates, seeds)
            run[f"grid_{name_of_metric}_s"] = time.perf_counter() - started
    run["metric"] = metric
    # One network and batch size (``space``): one cohort, so every member has the same steps
    assert len({len(c.learning_rates) for c in curves}) == 1
    run["curve_rates"] = curves[0].learning_rates.tolist()  # every member's, step by step
    run["curves"] = [
        {
            "optimizer": c.optimizer,
            "member": c.label,
            "losses": [float(f"{v:.5g}") if np.isfinite(v) else None for v in c.losses],
        }
        for c in curves
    ]
    return run


def grid(prepared: Prepared, rates: np.ndarray, seeds: int) -> dict[str, list[list[float | None]]]:
    """Every optimizer at every rate, ``seeds`` times, in one population: each trial's best
    validation value (None: it diverged)."""
    direction = prepared.config.metric.resolved_direction
    study = optuna.create_study(direction=direction)
    for optimizer in OPTIMIZERS:
        for rate in rates:
            for _ in range(seeds):  # each trial number draws its own initial weights
                study.enqueue_trial({"optimizer": optimizer, "learning_rate": float(rate)})
    run_search(prepared, study)
    values: dict[str, list[list[float | None]]] = {o: [[] for _ in rates] for o in OPTIMIZERS}
    for trial in study.trials:
        index = int(np.argmin(np.abs(np.log(rates / trial.params["learning_rate"]))))
        values[trial.params["optimizer"]][index].append(trial.value)
    return values


def scores_of(values: list[list[float | None]], maximize: bool) -> np.ndarray:
    """(rates, seeds), signed so that higher is better; a diverged trial counts as the worst
    value of its optimizer's grid."""
    sign = 1.0 if maximize else -1.0
    scores = np.array([[sign * v if v is not None else np.nan for v in seeds] for seeds in values])
    return np.where(np.isnan(scores), np.nanmin(scores), scores)


def best_rates(
    rates: np.ndarray, values: list[list[float | None]], maximize: bool, noise: float = 0.0
) -> tuple[float, float]:
    """The grid's best constant rates, lowest and highest: the optimum of the seeds' mean,
    smoothed over neighbouring rates (weights 1/4, 1/2, 1/4), and every rate tied with it, to
    within ``noise`` standard errors of a mean (0: exactly tied; on a small validation split many
    rates reach the same accuracy), pooled over the rates the optimum was smoothed over. Near a
    flat optimum three seeds alone move the raw optimum by several grid points (digits, Adam,
    loss: 0.183, 0.270, 0.219 at 5e-4, 1e-3, 2e-3)."""
    scores = scores_of(values, maximize)
    means = scores.mean(axis=1)
    padded = np.concatenate([means[:1], means, means[-1:]])
    smoothed = 0.25 * padded[:-2] + 0.5 * padded[1:-1] + 0.25 * padded[2:]
    top = int(np.argmax(smoothed))
    near = scores[max(0, top - 1) : top + 2]  # the rates the optimum was smoothed over
    pooled = np.sqrt(near.var(axis=1, ddof=1).mean() / scores.shape[1])
    tied = rates[smoothed >= smoothed[top] - noise * pooled - 1e-9]
    return float(tied.min()), float(tied.max())


def value_at(rates: np.ndarray, values: list[list[float | None]], maximize: bool, rate: float):
    """The seeds' mean at the grid rate nearest ``rate`` (log scale), in the metric's units."""
    scores = scores_of(values, maximize)
    nearest = int(np.argmin(np.abs(np.log(rates / rate))))
    return float(scores[nearest].mean() * (1.0 if maximize else -1.0))


def within(rate: float, best: tuple[float, float], factor: float) -> bool:
    return best[0] / factor <= rate <= best[1] * factor


def read(run: dict[str, Any]) -> list[dict[str, Any]]:
    """Per optimizer: the grid's best rates, the suggestion read off the curves, their ratio."""
    settings = LrFindConfig()  # read as this version reads (the run's own may predate it)
    curves = [
        read_curve(
            c["optimizer"],
            c["member"],
            np.asarray(run["curve_rates"]),
            np.asarray([np.nan if v is None else v for v in c["losses"]]),
            settings.smoothing,
            settings.turn_up,
        )
        for c in run["curves"]
    ]
    suggestions = suggest(curves)
    rates = np.asarray(run["rates"])
    rows = []
    for optimizer in OPTIMIZERS:
        maximize = run["metric"] == "accuracy"
        values = run["grids"][run["metric"]][optimizer]
        best = best_rates(rates, values, maximize)
        tied = best_rates(rates, values, maximize, noise=1.0)
        by_loss = best_rates(rates, run["grids"]["loss"][optimizer], False)
        suggestion = suggestions[optimizer]
        rows.append(
            {
                "dataset": run["dataset"],
                "optimizer": optimizer,
                "metric": run["metric"],
                "best_rates": best,
                "tied_rates": tied,
                "best_rates_by_loss": by_loss,
                "suggested": suggestion.learning_rate,
                "value_at_suggestion": value_at(rates, values, maximize, suggestion.learning_rate),
                "best_value": value_at(rates, values, maximize, best[0]),
                "window": list(suggestion.window),
                "within": within(suggestion.learning_rate, best, TARGET_FACTOR),
                "within_tied": within(suggestion.learning_rate, tied, TARGET_FACTOR),
                "best_in_window": suggestion.window[0] <= best[1]
                and best[0] <= suggestion.window[1],
            }
        )
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| dataset | optimizer | best constant rate (metric) | within noise | by loss | "
        "suggestion | within 3x | of the tied | metric there (best) | search window | "
        "best in window |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [
        f"| {r['dataset']} | {r['optimizer']} | {span(r['best_rates'])} ({r['metric']}) | "
        f"{span(r['tied_rates'])} | {span(r['best_rates_by_loss'])} | {r['suggested']:.3g} | "
        f"{'yes' if r['within'] else 'no'} | {'yes' if r['within_tied'] else 'no'} | "
        f"{r['value_at_suggestion']:.3g} ({r['best_value']:.3g}) | {span(r['window'])} | "
        f"{'yes' if r['best_in_window'] else 'no'} |"
        for r in rows
    ]
    for key, what in (("within", "best"), ("within_tied", "tied (within noise)")):
        hits = sum(r[key] for r in rows)
        lines.append(
            f"\nWithin a factor of {TARGET_FACTOR:g} of the {what} rates: {hits} of {len(rows)} "
            f"pairs ({hits / len(rows):.0%}; target {TARGET_SHARE:.0%})."
        )
    inside = sum(r["best_in_window"] for r in rows)
    lines.append(f"\nThe best rates in the search window: {inside} of {len(rows)} pairs.")
    lines.append(
        "\n'within noise': every grid rate whose smoothed mean is within one pooled standard "
        "error of a mean of the best (pooled over the best and its neighbours: the seeds cannot "
        "tell them apart). 'metric there': the "
        "seeds' mean at the grid rate nearest the suggestion."
    )
    return "\n".join(lines)


def span(rates: tuple[float, float] | list[float]) -> str:
    low, high = rates
    return f"{low:.3g}" if low == high else f"{low:.3g} - {high:.3g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--rates", type=int, default=19, help="grid points, log-spaced")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--reread", type=Path, help="a previous run's JSON: read its curves anew")
    args = parser.parse_args()
    quiet_optuna()
    if args.reread:
        runs = json.loads(args.reread.read_text(encoding="utf-8"))["runs"]
    else:
        rates = np.logspace(*GRID, args.rates)
        runs = []
        for name in args.datasets.split(","):
            runs.append(measure(name, rates, args.seeds, args.epochs))
            runs[-1]["measured"] = {
                "at": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                "seeds": args.seeds,
                "epochs": args.epochs,
            }
            print(f"{name}: range test {runs[-1]['range_test_s']:.1f} s", flush=True)
    rows = [row for run in runs for row in read(run)]
    text = table(rows) + "".join(
        f"\n{run['dataset']}: grid and curves measured {run['measured']['at']}, "
        f"{len(run['rates'])} rates x {run['measured']['seeds']} seeds, "
        f"{run['measured']['epochs']} epochs."
        for run in runs
    )
    report.write(
        "lr_truth",
        text,
        {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows, "runs": runs},
    )
    print(text)


if __name__ == "__main__":
    main()
