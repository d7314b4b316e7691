"""The cold-start floor on digits: how soon can a fresh process hold one trained network?

The race (``race.py``) asks jaxsweep to reach 0.97 on digits before any peer, from a cold
start. This measures the floor under that target: the plainest program each library offers for
one network (64 ReLU units, Adam at 1e-3, batch 32, up to 30 epochs with patience 5, as the
race trains), each in a fresh process with nothing cached, timed from the moment the process is
started. Rungs:

- scikit-learn: ``MLPClassifier.partial_fit`` an epoch at a time;
- PyTorch: the loop a user writes (needs ``pip install torch==2.13.0``; skipped without it);
- JAX: optax's Adam, the epoch one jitted ``lax.scan``, the plainest JAX program;
- jaxsweep: ``jaxsweep run --stages search`` on a space that fixes the same network, one trial;
- jaxsweep on the article's space: the same one network, but in the program a population of the
  article's space needs (every activation, batch norm, dropout, clipping, five optimizers, the
  deepest and widest network), as the race's search stage compiles it five times, a batch size
  each; with ``--parts``, also with one part of the space fixed at a time, which shows what each
  part adds to the program's cost.

Every rung trains on the same split (jaxsweep's, scaled on the training split). For each it
prints the median over repeats of: seconds to the libraries' import, to the first epoch's end
(compiling included) and to the trial's end, and the best validation accuracy; and writes
Markdown/JSON.

    python benchmarks/floor.py [--repeats 3] [--parts]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
EPOCHS, PATIENCE = 30, 5
WIDTH, RATE, BATCH = 64, 1e-3, 32
ARTICLE = "jaxsweep, article-space program"
RUNGS = ("scikit-learn", "PyTorch", "JAX", "jaxsweep", ARTICLE)
# The article's space with one part fixed (None: the entry is dropped).
PARTS: dict[str, dict[str, Any]] = {
    "ReLU only": {"activation": "relu"},
    "no batch norm": {"batch_norm": False},
    "no dropout": {"use_dropout": False, "dropout": None},
    "no clipping": {"clipping": False, "clip_norm": None},
    "Adam only": {"optimizer": "adam", "momentum": None, "nesterov": None},
    "1 x 64, no padding": {"n_layers": 1, "units": WIDTH, "width_shape": None},
}
Epochs = list[tuple[float, float]]  # (seconds since the process was started, val accuracy)
# A rung's figures: its import time (None: not seen from outside) and its epochs (jaxsweep's:
# one entry, its trial's end and value).
Measured = dict[str, Any]


def early_stopped(epoch: Callable[[], float], t0: float) -> Epochs:
    """Calls ``epoch()`` (one epoch's training, then the validation accuracy) up to ``EPOCHS``
    times, stopping after ``PATIENCE`` epochs without a better accuracy."""
    epochs: Epochs = []
    best, bad = 0.0, 0
    for _ in range(EPOCHS):
        accuracy = float(epoch())
        epochs.append((time.time() - t0, accuracy))
        best, bad = (accuracy, 0) if accuracy > best else (best, bad + 1)
        if bad >= PATIENCE:
            break
    return epochs


def child_sklearn(data: dict[str, np.ndarray], t0: float) -> tuple[float, Epochs]:
    import warnings

    from sklearn.neural_network import MLPClassifier

    imported = time.time() - t0
    model = MLPClassifier((WIDTH,), learning_rate_init=RATE, batch_size=BATCH, random_state=0)
    classes = np.unique(data["y"])

    def epoch() -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(data["X"], data["y"], classes=classes)
        return model.score(data["X_val"], data["y_val"])

    return imported, early_stopped(epoch, t0)


def child_torch(data: dict[str, np.ndarray], t0: float) -> tuple[float, Epochs]:
    import torch

    imported = time.time() - t0
    torch.manual_seed(0)
    X, y = torch.from_numpy(data["X"]), torch.from_numpy(data["y"].astype(np.int64))
    X_val, y_val = torch.from_numpy(data["X_val"]), torch.from_numpy(data["y_val"])
    classes = int(data["y"].max()) + 1
    net = torch.nn.Sequential(
        torch.nn.Linear(X.shape[1], WIDTH), torch.nn.ReLU(), torch.nn.Linear(WIDTH, classes)
    )
    opt = torch.optim.Adam(net.parameters(), lr=RATE)

    def epoch() -> float:
        order = torch.randperm(len(y))
        for start in range(0, len(y) - BATCH + 1, BATCH):
            rows = order[start : start + BATCH]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(X[rows]), y[rows]).backward()
            opt.step()
        with torch.no_grad():
            return float((net(X_val).argmax(1) == y_val).float().mean())

    return imported, early_stopped(epoch, t0)


def child_jax(data: dict[str, np.ndarray], t0: float) -> tuple[float, Epochs]:
    import jax
    import jax.numpy as jnp
    import optax

    imported = time.time() - t0
    X, y = jnp.asarray(data["X"]), jnp.asarray(data["y"])
    X_val, y_val = jnp.asarray(data["X_val"]), jnp.asarray(data["y_val"])
    classes, steps = int(data["y"].max()) + 1, len(data["y"]) // BATCH
    k1, k2, key = jax.random.split(jax.random.PRNGKey(0), 3)
    params = {
        "w1": jax.nn.initializers.he_normal()(k1, (X.shape[1], WIDTH)),
        "b1": jnp.zeros(WIDTH),
        "w2": jax.nn.initializers.glorot_normal()(k2, (WIDTH, classes)),
        "b2": jnp.zeros(classes),
    }
    opt = optax.adam(RATE)

    def forward(p: dict[str, jax.Array], x: jax.Array) -> jax.Array:
        return jax.nn.relu(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

    def loss(p: dict[str, jax.Array], rows: jax.Array) -> jax.Array:
        logits = forward(p, X[rows])
        return optax.softmax_cross_entropy_with_integer_labels(logits, y[rows]).mean()

    @jax.jit
    def train_epoch(state: Any, key: jax.Array) -> tuple[Any, jax.Array]:
        def step(state: Any, rows: jax.Array) -> tuple[Any, None]:
            p, o = state
            updates, o = opt.update(jax.grad(loss)(p, rows), o)
            return (optax.apply_updates(p, updates), o), None

        order = jax.random.permutation(key, len(y))[: steps * BATCH].reshape(steps, BATCH)
        state, _ = jax.lax.scan(step, state, order)
        return state, (forward(state[0], X_val).argmax(1) == y_val).mean()

    state = (params, opt.init(params))

    def epoch() -> float:
        nonlocal state, key
        key, sub = jax.random.split(key)
        state, accuracy = train_epoch(state, sub)
        return float(accuracy)

    return imported, early_stopped(epoch, t0)


FIXED = {
    "n_layers": 1,
    "units": WIDTH,
    "width_shape": "constant",
    "activation": "relu",
    "init_distribution": "normal",
    "batch_norm": False,
    "use_dropout": False,
    "optimizer": "adam",
    "learning_rate": RATE,
    "batch_size": BATCH,
    "clipping": False,
}


def sweep_file(folder: Path, space: Path) -> Path:
    """One trial of ``space`` on digits, split as the parent split it (seed 0)."""
    sweep = {
        "study": "floor",
        "data": {"source": "digits"},
        "seed": 0,
        "search_space": str(space),
        "population": 1,
        "trials": 1,
        "epochs": EPOCHS,
        "early_stopping": {"patience": PATIENCE},
        "pruner": {"type": "none"},
        "metric": {"name": "accuracy"},
        "results": str(folder / "results"),
        "plots": False,
    }
    path = folder / "sweep.json"
    path.write_text(json.dumps(sweep), encoding="utf-8")
    return path


def article_space(folder: Path, part: str | None) -> Path:
    """The article's space, with ``part`` (a key of ``PARTS``) fixed."""
    import yaml

    space = yaml.safe_load((HERE.parent / "search_spaces" / "article.yaml").read_text())
    for key, value in PARTS.get(part or "", {}).items():
        if value is None:
            space.pop(key)
        else:
            space[key] = value
    path = folder / "article.yaml"
    path.write_text(yaml.safe_dump(space, sort_keys=False), encoding="utf-8")
    return path


def child_jaxsweep_article(folder: Path, part: str | None, t0: float) -> tuple[float, Epochs]:
    """The one network enqueued in a search of the article's space (``part`` of it fixed): the
    engine lays it out in the program that space's populations need."""
    from jaxsweep.app.cores import use_every_core

    use_every_core()  # as the `jaxsweep` command does, before JAX starts
    import optuna

    from jaxsweep.config import load_sweep
    from jaxsweep.search.prepare import prepare
    from jaxsweep.search.sweep import run_search

    imported = time.time() - t0
    prepared = prepare(load_sweep(sweep_file(folder, article_space(folder, part))))
    study = optuna.create_study(direction="maximize")
    study.enqueue_trial(FIXED)
    run_search(prepared, study)
    trial = study.trials[0]
    return imported, [(trial.datetime_complete.timestamp() - t0, float(trial.value))]


def child(name: str, data_path: Path, t0: float) -> Measured:
    """One rung in this (fresh) process."""
    if name.startswith(ARTICLE):
        part = name.removeprefix(ARTICLE).removeprefix(", ") or None
        with tempfile.TemporaryDirectory() as tmp:
            imported, epochs = child_jaxsweep_article(Path(tmp), part, t0)
        return {"imported": imported, "epochs": epochs, "plain": False}
    with np.load(data_path) as arrays:
        data = dict(arrays)
    children = {"scikit-learn": child_sklearn, "PyTorch": child_torch, "JAX": child_jax}
    imported, epochs = children[name](data, t0)
    return {"imported": imported, "epochs": epochs, "plain": True}


def run_cli(folder: Path) -> Measured:
    """`jaxsweep run --stages search` of the one network in a fresh process with an empty
    compilation cache, timed from its start to its trial's end (as the race times it)."""
    import optuna

    fixed = {k: v for k, v in FIXED.items() if k not in ("width_shape", "init_distribution")}
    space = folder / "space.json"
    space.write_text(json.dumps(fixed), encoding="utf-8")
    sweep = sweep_file(folder, space)
    env = os.environ | {"JAXSWEEP_CACHE_DIR": str(folder / "cache")}
    t0 = time.time()
    subprocess.run(
        [sys.executable, "-m", "jaxsweep", "run", str(sweep), "--stages", "search"],
        env=env,
        check=True,
        capture_output=True,
    )
    storage = f"sqlite:///{(folder / 'results' / 'floor' / 'study.db').as_posix()}"
    trial = optuna.load_study(study_name="floor", storage=storage).trials[0]
    end = trial.datetime_complete.timestamp() - t0
    return {"imported": None, "epochs": [(end, float(trial.value))], "plain": False}


def run_rung(name: str, data_path: Path) -> Measured:
    with tempfile.TemporaryDirectory() as tmp:
        if name == "jaxsweep":
            return run_cli(Path(tmp))
        # an empty persistent cache, whatever the environment names
        env = os.environ | {"JAX_COMPILATION_CACHE_DIR": str(Path(tmp) / "cache")}
        t0 = time.time()
        done = subprocess.run(
            [sys.executable, __file__, "--child", name, "--data", str(data_path), "--t0", str(t0)],
            env=env,
            check=True,
            capture_output=True,
            text=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])


def figures(result: Measured) -> dict[str, float | None]:
    epochs, plain = result["epochs"], result["plain"]
    return {
        "imports": result["imported"],
        "first epoch": epochs[0][0] if plain else None,
        "trial end": epochs[-1][0],
        "best accuracy": max(accuracy for _, accuracy in epochs),
        "epochs": len(epochs) if plain else None,
    }


def table(rows: dict[str, list[dict[str, float | None]]]) -> str:
    columns = ("imports", "first epoch", "trial end", "best accuracy", "epochs")
    lines = [
        "Seconds from the process's start, median over repeats (each a fresh process, nothing "
        "cached). One network: 64 ReLU units, Adam at 1e-3, batch 32, early stopping (patience "
        f"{PATIENCE}, at most {EPOCHS} epochs). '-': not seen from outside jaxsweep's process.",
        "",
        "| rung | " + " | ".join(columns) + " |",
        "| --- | " + " | ".join("---" for _ in columns) + " |",
    ]
    for name, measured in rows.items():
        cells = []
        for column in columns:
            values = [m[column] for m in measured if m[column] is not None]
            digits = 4 if column == "best accuracy" else 0 if column == "epochs" else 1
            cells.append(f"{statistics.median(values):.{digits}f}" if values else "-")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--parts", action="store_true", help="the article's space, a part fixed")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--t0", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.data, args.t0)))
        return
    import report  # beside this script

    from jaxsweep.config import DataConfig
    from jaxsweep.data.dataset import load_dataset

    dataset = load_dataset(DataConfig(source="digits"), seed=0)
    rungs = [r for r in RUNGS if r != "PyTorch" or has_torch()]
    rungs += [f"{ARTICLE}, {part}" for part in PARTS] if args.parts else []
    rows: dict[str, list[dict[str, float | None]]] = {name: [] for name in rungs}
    with tempfile.TemporaryDirectory() as tmp:
        data_path = Path(tmp) / "digits.npz"
        np.savez(
            data_path,
            X=dataset.train.X,
            y=dataset.train.y,
            X_val=dataset.val.X,
            y_val=dataset.val.y,
        )
        for repeat in range(args.repeats):
            for name in rungs:  # round robin: the machine's drift spreads over every rung
                rows[name].append(figures(run_rung(name, data_path)))
                print(repeat, name, rows[name][-1], flush=True)
    text = table(rows)
    report.write("floor", text, {"args": vars(args), "rows": rows})
    print(text)


def has_torch() -> bool:
    import importlib.util

    return importlib.util.find_spec("torch") is not None


if __name__ == "__main__":
    main()
