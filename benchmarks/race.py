"""The race: the best validation metric each contestant has reached by every wall-clock second.

Contestants, each on the article's search space, one after another under the same budget:

- jaxsweep: `jaxsweep run` as a user starts it (its default stages: LR range test, search,
  schedule), with an empty compilation cache, timed from the moment the command starts;
- Optuna TPE + PyTorch, and Optuna TPE + scikit-learn's MLP: one trial asked, trained and told
  at a time, as a user writes such a loop (the configurations come from the same search space;
  PyTorch trains with early stopping on the validation metric, as jaxsweep does; scikit-learn
  stops as it does by default, and has no batch norm or dropout and only its own activations and
  solvers).

Every contestant sees the same split of the same table (jaxsweep's, scaled on the training split).
Tables: digits, a synthetic 5,000-row classification table, a synthetic 5,000-row regression table
(Friedman #1). Prints the best at 1/8, 1/4, 1/2 and the whole budget, and on digits when each first
reached 0.97; writes Markdown/JSON and a PNG of the best-so-far curves.

    pip install torch==2.13.0   # the PyTorch contestant (skipped, and said so, without it)
    python benchmarks/race.py [--budget 240] [--seeds 3] [--tables digits,synthetic,friedman]
    python benchmarks/race.py --tables friedman --report race_friedman   # keeps race.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import report  # beside this script
from tables import source_of  # beside this script

from jaxsweep.config import DataConfig
from jaxsweep.data.dataset import Dataset, load_dataset
from jaxsweep.search.member_config import MemberConfig, resolve
from jaxsweep.search.space import load_space

HERE = Path(__file__).resolve().parent
SPACE = HERE.parent / "search_spaces" / "article.yaml"
MARKS = (1 / 8, 1 / 4, 1 / 2, 1.0)
EPOCHS, PATIENCE = 30, 5
DIGITS_TARGET = 0.97
Curve = list[tuple[float, float]]  # (seconds since the start, a completed trial's value)


def metric_of(dataset: Dataset) -> tuple[str, bool]:
    """The metric and whether it is maximised."""
    return ("rmse", False) if dataset.task == "regression" else ("accuracy", True)


def run_jaxsweep(source: str, seed: int, budget: float, folder: Path) -> Curve:
    """`jaxsweep run` in a subprocess with an empty cache; every completed trial of its search and
    schedule stages, timed from the command's start."""
    metric = "rmse" if source.endswith("friedman.npz") else "accuracy"
    study = f"race{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    sweep = folder / f"{study}.json"
    document = {
        "study": study,
        "data": {"source": source},
        "search_space": str(SPACE),
        "seed": seed,
        "population": 16,
        "trials": 100_000,  # the time budget ends it
        "timeout": budget,
        "epochs": EPOCHS,
        "early_stopping": {"patience": PATIENCE},
        "pruner": {"type": "median", "n_startup_trials": 8, "n_warmup_steps": 5},
        "metric": {"name": metric},
        "stages": ["lr_find", "search", "schedule"],
        "results": str(folder / "results"),
        "plots": False,
    }
    sweep.write_text(json.dumps(document), encoding="utf-8")
    env = os.environ | {"JAXSWEEP_CACHE_DIR": str(folder / f"cache-{seed}")}
    started = datetime.datetime.now()
    subprocess.run(
        [sys.executable, "-m", "jaxsweep", "run", str(sweep)],
        env=env,
        check=True,
        capture_output=True,
        timeout=budget * 3 + 300,
    )
    storage = f"sqlite:///{(folder / 'results' / study / 'study.db').as_posix()}"
    curve = []
    for name in (study, f"{study}-schedule"):
        if name not in optuna.get_all_study_names(storage):
            continue
        for trial in optuna.load_study(study_name=name, storage=storage).trials:
            if trial.value is not None and trial.datetime_complete is not None:
                curve.append(((trial.datetime_complete - started).total_seconds(), trial.value))
    return sorted(curve)


def run_peer(train: Trainer, dataset: Dataset, seed: int, budget: float) -> Curve:
    """Optuna TPE asks a configuration of the article's space, the peer trains it, Optuna is
    told; until the budget is spent (a trial that ends past it does not count)."""
    space = load_space(SPACE, dataset.task)
    _, maximize = metric_of(dataset)
    sampler = optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(sampler=sampler, direction="maximize" if maximize else "minimize")
    started, curve = time.perf_counter(), []
    while time.perf_counter() - started < budget:
        trial = study.ask()
        config = resolve(space.sample(trial), dataset.task, dataset.output_dim)
        value = train(config, dataset, seed + trial.number)
        study.tell(
            trial,
            value if np.isfinite(value) else None,
            state=None if np.isfinite(value) else optuna.trial.TrialState.FAIL,
        )
        at = time.perf_counter() - started
        if at <= budget and np.isfinite(value):
            curve.append((at, value))
    return curve


Trainer = Callable[[MemberConfig, Dataset, int], float]


def torch_trainer() -> Trainer | None:
    """A configuration trained in PyTorch, as a user writes it: its network, optimizer, batch
    size and clipping; the best epoch's validation metric (early stopping, patience 5)."""
    try:
        import torch
    except ImportError:
        return None
    nn = torch.nn
    activations = {
        "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU, "leaky_relu": nn.LeakyReLU,
        "elu": nn.ELU, "selu": nn.SELU, "gelu": nn.GELU, "rrelu": nn.RReLU, "prelu": nn.PReLU,
    }  # fmt: skip
    optimizers = {
        "sgd": torch.optim.SGD, "adam": torch.optim.Adam, "nadam": torch.optim.NAdam,
        "rmsprop": torch.optim.RMSprop, "adamax": torch.optim.Adamax,
    }  # fmt: skip
    losses = {"mse": nn.functional.mse_loss, "mae": nn.functional.l1_loss,
              "huber": nn.functional.huber_loss}  # fmt: skip

    def train(config: MemberConfig, data: Dataset, seed: int) -> float:
        torch.manual_seed(seed)
        m, t = config.model, config.train
        layers, width_in = [], data.n_features
        for width in m.widths:
            layers.append(nn.Linear(width_in, width))
            if m.batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(activations[m.activation]())
            if m.dropout > 0:
                layers.append(
                    (nn.AlphaDropout if m.activation == "selu" else nn.Dropout)(m.dropout)
                )
            width_in = width
        net = nn.Sequential(*layers, nn.Linear(width_in, data.output_dim))
        kwargs = {"momentum": t.momentum, "nesterov": t.nesterov} if t.optimizer == "sgd" else {}
        opt = optimizers[t.optimizer](net.parameters(), lr=t.learning_rate, **kwargs)
        regression = data.task == "regression"
        shift, scale = (data.train.y.mean(), data.train.y.std()) if regression else (0.0, 1.0)
        X, X_val = torch.from_numpy(data.train.X), torch.from_numpy(data.val.X)
        if regression:
            y = torch.from_numpy(((data.train.y - shift) / scale).astype(np.float32))[:, None]
            loss_fn = losses[t.loss]
        else:
            y = torch.from_numpy(data.train.y.astype(np.int64))
            loss_fn = (nn.functional.cross_entropy if data.output_dim > 1 else
                       lambda out, target: nn.functional.binary_cross_entropy_with_logits(
                           out[:, 0], target.float()))  # fmt: skip
        best, bad = (np.inf if regression else 0.0), 0
        for _ in range(EPOCHS):
            net.train()
            order = torch.randperm(len(y))
            for start in range(0, len(y) - t.batch_size + 1, t.batch_size):
                rows = order[start : start + t.batch_size]
                opt.zero_grad()
                loss = loss_fn(net(X[rows]), y[rows])
                if not torch.isfinite(loss):
                    return float("nan")
                loss.backward()
                if t.clip_norm:
                    nn.utils.clip_grad_norm_(net.parameters(), t.clip_norm)
                opt.step()
            net.eval()
            with torch.no_grad():
                out = net(X_val).numpy()
            score = validation_score(out, data, shift, scale)
            improved = score < best if regression else score > best
            best, bad = (score, 0) if improved else (best, bad + 1)
            if bad >= PATIENCE:
                break
        return float(best)

    return train


def validation_score(out: np.ndarray, data: Dataset, shift: float, scale: float) -> float:
    if data.task == "regression":
        return float(np.sqrt(np.mean((out[:, 0] * scale + shift - data.val.y) ** 2)))
    labels = out.argmax(1) if data.output_dim > 1 else (out[:, 0] > 0).astype(int)
    return float((labels == data.val.y).mean())


def train_sklearn(config: MemberConfig, data: Dataset, seed: int) -> float:
    """scikit-learn's MLP with the configuration's widths, batch size, rate and solver where it
    has them (its activations: logistic, tanh, relu; its solvers: sgd, adam)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    m, t = config.model, config.train
    regression = data.task == "regression"
    kwargs = (
        {"momentum": t.momentum, "nesterovs_momentum": t.nesterov} if t.optimizer == "sgd" else {}
    )
    model = (MLPRegressor if regression else MLPClassifier)(
        hidden_layer_sizes=m.widths,
        activation={"sigmoid": "logistic", "tanh": "tanh"}.get(m.activation, "relu"),
        solver="sgd" if t.optimizer == "sgd" else "adam",
        batch_size=t.batch_size,
        learning_rate_init=t.learning_rate,
        max_iter=EPOCHS,
        random_state=seed,
        **kwargs,
    )
    shift, scale = (data.train.y.mean(), data.train.y.std()) if regression else (0.0, 1.0)
    y = (data.train.y - shift) / scale if regression else data.train.y
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning, overflow in a diverging fit
        try:
            model.fit(data.train.X, y)
        except (ValueError, ConvergenceWarning):  # a diverging fit: NaN weights
            return float("nan")
    if regression:
        predicted = model.predict(data.val.X) * scale + shift
        return float(np.sqrt(np.mean((predicted - data.val.y) ** 2)))
    return float(model.score(data.val.X, data.val.y))


def best_by(curve: Curve, seconds: float, maximize: bool) -> float | None:
    values = [value for at, value in curve if at <= seconds]
    if not values:
        return None
    return max(values) if maximize else min(values)


def first_reaching(curve: Curve, target: float) -> float | None:
    return next((at for at, value in sorted(curve) if value >= target), None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=240.0, help="seconds a contestant")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--tables", default="digits,synthetic,friedman")
    parser.add_argument("--report", default="race", help="results/NAME.md, .json and .png")
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    peers: dict[str, Trainer | None] = {
        "Optuna TPE + PyTorch": torch_trainer(),
        "Optuna TPE + scikit-learn MLP": train_sklearn,
    }
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for table in args.tables.split(","):
            source = source_of(table, folder)
            dataset = load_dataset(DataConfig(source=source), seed=0)
            for seed in range(args.seeds):
                curves = {"jaxsweep": run_jaxsweep(source, seed, args.budget, folder / table)}
                for name, train in peers.items():
                    if train is None:
                        print(f"{name}: skipped, PyTorch is not installed", flush=True)
                        continue
                    curves[name] = run_peer(train, dataset, seed, args.budget)
                runs.append({"table": table, "seed": seed, "curves": curves})
                print(table, seed, {n: len(c) for n, c in curves.items()}, flush=True)
    text = summary(runs, args)
    plot(runs, args.budget, HERE / "results" / f"{args.report}.png")
    report.write(args.report, text, {"args": vars(args), "runs": runs})
    print(text)


def summary(runs: list[dict[str, Any]], args: argparse.Namespace) -> str:
    lines = [
        f"{args.budget:g} s a contestant, {args.seeds} seeds, the article's space; "
        "mean ± sd over seeds of the best validation metric by each mark; trials: completed.",
        "",
        "| table | contestant | "
        + " | ".join(f"best by {m:g} x budget" for m in MARKS)
        + " | trials | first 0.97 (digits) |",
        "| --- | --- | " + " | ".join("---" for _ in MARKS) + " | --- | --- |",
    ]
    for table in dict.fromkeys(r["table"] for r in runs):
        mine = [r for r in runs if r["table"] == table]
        maximize = table != "friedman"
        for name in mine[0]["curves"]:
            cells = []
            for mark in MARKS:
                values = [best_by(r["curves"][name], mark * args.budget, maximize) for r in mine]
                cells.append(spread([v for v in values if v is not None], len(values)))
            trials = statistics.mean(len(r["curves"][name]) for r in mine)
            reached = [first_reaching(r["curves"][name], DIGITS_TARGET) for r in mine]
            first = (", ".join("-" if s is None else f"{s:.0f} s" for s in reached)
                     if table == "digits" else "")  # fmt: skip
            lines.append(f"| {table} | {name} | {' | '.join(cells)} | {trials:.0f} | {first} |")
    return "\n".join(lines)


def spread(values: list[float], runs: int) -> str:
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    missing = f" ({runs - len(values)} without a trial)" if len(values) < runs else ""
    return f"{statistics.mean(values):.4f} ± {sd:.4f}{missing}"


def plot(runs: list[dict[str, Any]], budget: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = list(dict.fromkeys(r["table"] for r in runs))
    figure, axes = plt.subplots(1, len(tables), figsize=(5 * len(tables), 4), squeeze=False)
    colours = dict(
        zip(runs[0]["curves"], plt.rcParams["axes.prop_cycle"].by_key()["color"], strict=False)
    )
    for ax, table in zip(axes[0], tables, strict=True):
        maximize = table != "friedman"
        for run in (r for r in runs if r["table"] == table):
            for name, curve in run["curves"].items():
                times = np.linspace(0, budget, 241)
                best = [best_by(curve, s, maximize) for s in times]
                shown = [(s, b) for s, b in zip(times, best, strict=True) if b is not None]
                if shown:
                    ax.step(*zip(*shown, strict=True), where="post", color=colours[name], alpha=0.7,
                            label=name if run["seed"] == 0 else None)  # fmt: skip
        limits = y_limits([c for r in runs if r["table"] == table for c in r["curves"].values()],
                          budget, maximize)  # fmt: skip
        if limits is not None:  # none when no contestant finished a trial
            ax.set_ylim(*limits)
        ax.set_title(f"{table} ({'accuracy' if maximize else 'RMSE'}, validation)")
        ax.set_xlabel("seconds")
        ax.legend(fontsize=7)
    path.parent.mkdir(exist_ok=True)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def y_limits(curves: list[Curve], budget: float, maximize: bool) -> tuple[float, float] | None:
    """From the worst best-so-far at an eighth of the budget to the best at the end, so that
    the differences that matter show: a chance-level first trial (accuracy 0.1) or a diverged
    one (RMSE 1e5) would flatten every curve."""
    early = [best_by(c, budget / 8, maximize) for c in curves]
    final = [best_by(c, budget, maximize) for c in curves]
    early, final = [v for v in early if v is not None], [v for v in final if v is not None]
    if not final:
        return None
    if maximize:
        low, high = min(early or final), max(final)
    else:  # a diverged trial's RMSE is bounded by twice the worst at the end
        low, high = min(final), min(max(early or final), 2 * max(final))
    margin = 0.05 * (high - low) or 0.01
    return low - margin, high + margin


if __name__ == "__main__":
    main()
