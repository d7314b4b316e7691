"""jaxsweep's populations against the ways people run the same search today, in one run.

The same number of trials, drawn by Optuna's TPE from a search space, on digits, with a fixed
epoch count, run by:
  (a) jaxsweep: populations of mixed members in one compiled program (run_search in-process),
      twice: on an empty persistent compilation cache, then (a2) with the programs in memory
      dropped and read back from that cache, as a repeated `jaxsweep run` finds them; both keep
      the study in memory, as the peers do; (a3) runs a2 again on a journal file, the fastest
      durable storage (every epoch's report is an appended, synced line), and (a4) on a SQLite
      file, the storage a sweep writes by default, opened as `jaxsweep run` opens it;
  (b) Optuna + sequential Flax as a JAX user tuning for speed writes it: a program a structure,
      reused by every trial of that structure with its values as data, the epoch a `lax.scan`
      gathering its batches in the program; (b0) the naive version, labelled so: a step jitted
      in each trial with its rate baked in, a Python loop over minibatches indexed eagerly
      (see peers.py);
  (c) Optuna + PyTorch on the CPU with threads = cores (needs `pip install torch==2.13.0`);
  (d) Optuna + scikit-learn's MLPClassifier, where its options allow (activations logistic,
      tanh, relu, else relu; solvers sgd and adam, else adam; no batch norm, no dropout).
Every time includes compilation and Optuna's own time, and every contestant runs with the
garbage collector as the `jaxsweep` command sets it (``collector``). A trial's cost varies 16x
with its batch size on the article's space, so the table gives each contestant's mix of batch
sizes and, for a sequential peer, its rate at (a)'s mix (its mean seconds a trial at each batch
size, weighted by (a)'s counts); the speed-ups are against that rate. It then times
fixed-structure populations of 8 ... 1024 members and compares their FLOP/s with a float32
matmul measured in the same run, and their trials/s with the plainest JAX program for the same
training (``plain.py``), with one row order for all members (the bound on the machine) and with
one a member (as jaxsweep trains).

FLOP count of a member (dense layers only; activations and optimizer not counted): a dense layer
of n_in x n_out costs 2 n_in n_out per row forward and twice that backward (its weights' gradient
and its input's), so 6 n_in n_out per training row, but 4 n_in n_out for the first layer, whose
input's gradient is never computed, and 2 n_in n_out per validation row. (Counting 6 for every
layer, as is common, would count 18% more a training row for the 2 x 64 network on digits.)

    python benchmarks/population_vs_sequential.py [--trials 48] [--epochs 10] [--population 16]
        [--article-population 64] [--peer-trials N] [--peers a,a2,a3,a4,b,b0,c,d]

Each run writes benchmarks/results/population_vs_sequential.md (and .json) with its provenance.
"""

from __future__ import annotations

import os

from jaxsweep.app.cores import use_every_core

use_every_core()  # before JAX starts: one host device per core

import argparse  # noqa: E402
import contextlib  # noqa: E402
import functools  # noqa: E402
import gc  # noqa: E402
import itertools  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optuna  # noqa: E402
import peers  # noqa: E402  (beside this script)
import plain  # noqa: E402
import report  # noqa: E402

from jaxsweep.app import collector  # noqa: E402
from jaxsweep.app.runner import enable_compilation_cache  # noqa: E402
from jaxsweep.config import load_sweep  # noqa: E402
from jaxsweep.data.dataset import Dataset  # noqa: E402
from jaxsweep.engine.cohort import Cohort  # noqa: E402
from jaxsweep.engine.placement import spread  # noqa: E402
from jaxsweep.engine.train import population_trainer, population_variables  # noqa: E402
from jaxsweep.search.member_config import MemberConfig, resolve  # noqa: E402
from jaxsweep.search.population import (  # noqa: E402
    cohort_of,
    device_data,
    devices_for,
    member_hyper,
    member_keys,
    stack_hypers,
)
from jaxsweep.search.prepare import Prepared, prepare  # noqa: E402
from jaxsweep.search.space import SearchSpace  # noqa: E402
from jaxsweep.search.study import create_study, make_sampler, quiet_optuna  # noqa: E402
from jaxsweep.search.sweep import run_search  # noqa: E402

HERE = Path(__file__).resolve().parent
SPACES = {
    "article": HERE.parent / "search_spaces" / "article.yaml",
    "fixed": HERE / "fixed_space.yaml",  # 2 x 64 ReLU, Adam, batch 32: only the rate varies
}
TARGET = 0.97  # validation accuracy whose first reach is timed
Trainer = Callable[[MemberConfig, Dataset, int, int], float]


def sweep_file(folder: Path, space: Path, trials: int, epochs: int, population: int) -> Path:
    path = folder / f"{space.stem}.yaml"
    document = {
        "study": space.stem,
        "data": {"source": "digits"},
        "search_space": str(space),
        "population": population,
        "trials": trials,
        "epochs": epochs,
        "pruner": {"type": "none"},
        "early_stopping": {"patience": None},
        "results": str(folder / "results"),
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


STORAGES = {"a3": "journal:///{folder}/a.log", "a4": "sqlite:///{folder}/a.db"}


def run_jaxsweep(prepared: Prepared, folder: Path, storage: str | None = None) -> dict:
    """``storage``: a URL pattern of ``STORAGES``; None: the study in memory."""
    compile_seconds: list[float] = []

    def listen(event: str, duration: float, **_: object) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compile_seconds.append(duration)

    folder.mkdir()
    config = prepared.config
    if storage is None:  # in memory, as the peers' studies
        study = optuna.create_study(sampler=make_sampler(config), direction="maximize")
    else:  # as a sweep opens it: a worker's storage, with its heartbeat
        url = storage.format(folder=folder.as_posix())
        study = create_study(config.model_copy(update={"storage": url}), "a")
    jax.monitoring.register_event_duration_secs_listener(listen)
    with sweep_collector():
        started = time.perf_counter()
        run_search(prepared, study)
        wall = time.perf_counter() - started
    jax.monitoring.unregister_event_duration_listener(listen)
    done = [t for t in study.trials if t.value is not None]
    start = min(t.datetime_start for t in study.trials)
    reached = [(t.datetime_complete - start).total_seconds() for t in done if t.value >= TARGET]
    return {
        "trials": len(done),
        "wall_s": wall,
        "best": max(t.value for t in done),
        "to_target_s": min(reached) if reached else None,
        "compile_s": sum(compile_seconds),
        "batch_mix": batch_mix(t.user_attrs["config"]["train"]["batch_size"] for t in done),
    }


@contextlib.contextmanager
def sweep_collector() -> Iterator[None]:
    """Python's garbage collector as the `jaxsweep` command sets it, for any contestant: it
    saves a sweep a fifth of its time, and a peer's Python loop allocates as much."""
    thresholds = gc.get_threshold()
    collector.tune()
    collector.settle()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def batch_mix(batch_sizes: Iterator[int] | list[int]) -> dict[int, int]:
    """Trials at each batch size, smallest first."""
    return dict(sorted(Counter(int(b) for b in batch_sizes).items()))


def run_sequential(train: Trainer, prepared: Prepared, trials: int, epochs: int) -> dict:
    """Optuna's ask-and-tell loop, one trial at a time, sampling jaxsweep's space."""
    space: SearchSpace = prepared.space
    dataset = prepared.dataset
    study = optuna.create_study(sampler=make_sampler(prepared.config), direction="maximize")
    best, to_target = 0.0, None
    seconds: dict[int, list[float]] = {}  # a trial's, ask to tell, by batch size
    with sweep_collector():
        started = time.perf_counter()
        for number in range(trials):
            asked = time.perf_counter()
            trial = study.ask()
            config = resolve(space.sample(trial), dataset.task, dataset.output_dim)
            accuracy = train(config, dataset, epochs, number)
            study.tell(trial, accuracy if np.isfinite(accuracy) else 0.0)
            seconds.setdefault(config.train.batch_size, []).append(time.perf_counter() - asked)
            best = max(best, accuracy)
            if to_target is None and best >= TARGET:
                to_target = time.perf_counter() - started
        wall = time.perf_counter() - started
    return {
        "trials": trials,
        "wall_s": wall,
        "best": best,
        "to_target_s": to_target,
        "batch_mix": batch_mix([b for b, times in seconds.items() for _ in times]),
        "seconds_by_batch": {b: float(np.mean(times)) for b, times in sorted(seconds.items())},
    }


def at_mix(row: dict, mix: dict[int, int]) -> float | None:
    """A sequential peer's trials/s had it run ``mix``: its mean seconds a trial at each batch
    size, weighted by the mix's counts; None when it never ran one of the mix's batch sizes."""
    means = row.get("seconds_by_batch")
    if means is None or not set(mix) <= set(means):
        return None
    return sum(mix.values()) / sum(count * means[b] for b, count in mix.items())


def comparison(
    space: str, trials: int, peer_trials: int, epochs: int, population: int, names: list[str]
) -> list:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        config = load_sweep(sweep_file(folder, SPACES[space], trials, epochs, population))
        prepared = prepare(config)
        for name in names:
            if name == "a":
                result = run_jaxsweep(prepared, folder / "cold")
            elif name in ("a2", *STORAGES):
                forget_compilations()  # as a new process would start, the cache on disk kept
                result = run_jaxsweep(prepared, folder / name, STORAGES.get(name))
            else:
                train = peers.TRAINERS[name]()
                if train is None:
                    print(f"  ({name}) skipped: {peers.MISSING[name]}")
                    continue
                result = run_sequential(train, prepared, peer_trials, epochs)
            result |= {"space": space, "peer": peers.LABELS[name]}
            result["trials_per_s"] = result["trials"] / result["wall_s"]
            rows.append(result)
            print(f"  {result['peer']}: {result['trials_per_s']:.2f} trials/s", flush=True)
    rate = {row["peer"]: row["trials_per_s"] for row in rows}
    ours = next((row for row in rows if row["peer"] == peers.LABELS["a"]), None)
    for row in rows:
        # a sequential peer is set against jaxsweep at jaxsweep's mix of batch sizes
        row["trials_per_s_at_a_mix"] = at_mix(row, ours["batch_mix"]) if ours else None
        theirs = row["trials_per_s_at_a_mix"] or row["trials_per_s"]
        for key, mine in (("jaxsweep_speedup", "a"), ("warm_speedup", "a2")):
            mine_rate = rate.get(peers.LABELS[mine])
            row[key] = mine_rate / theirs if mine_rate else None
    return rows


def forget_compilations() -> None:
    """Drop every compiled program held in memory; the persistent cache on disk stays."""
    jax.clear_caches()
    population_trainer.cache_clear()
    population_variables.cache_clear()


def matmul_peak(size: int | None = None, repeats: int = 10) -> float:
    """float32 FLOP/s of a large matmul on every core (XLA's CPU matmul is multi-threaded), or
    on one accelerator, where a product of 2048 is too small to reach its peak (an H200: 63
    TFLOP/s at 2048, 346 at 8192). The fastest of ``repeats`` products: the mean of ten read
    73.9 GFLOP/s in a run where other runs on the same machine read 106 to 118."""
    size = size or (2048 if jax.default_backend() == "cpu" else 8192)
    a = jax.random.normal(jax.random.PRNGKey(0), (size, size), jnp.float32)
    product = jax.jit(lambda x: x @ x)
    return 2 * size**3 / best_seconds(functools.partial(product, a), repeats)


def training_seconds(
    prepared: Prepared, cohort: Cohort, configs: list[MemberConfig], epochs: int, repeats: int = 1
) -> float:
    """The best time of ``epochs`` epochs of ``configs`` in one program of ``cohort``, split
    over the local devices as a sweep splits it; compile time excluded."""
    dataset = prepared.dataset
    devices = devices_for(len(configs))
    hyper = stack_hypers([member_hyper(c, dataset.train.y, cohort) for c in configs], devices)
    keys = spread(member_keys(0, list(range(len(configs)))), devices)
    data = device_data(dataset)
    trainer = population_trainer(cohort, prepared.settings)
    state = trainer.init(keys, hyper, data.X_train[:1])
    return best_seconds(functools.partial(trainer.run, state, hyper, data, epochs), repeats)


def best_seconds(call: Callable[[], Any], repeats: int) -> float:
    """The best time of ``repeats`` calls, after one that compiles."""
    jax.block_until_ready(call())
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        jax.block_until_ready(call())
        times.append(time.perf_counter() - started)
    return min(times)


def scaling(epochs: int, sizes: list[int]) -> list[dict]:
    """Fixed-structure populations: trials/s (compile excluded) and FLOP/s."""
    with tempfile.TemporaryDirectory() as tmp:
        config = load_sweep(sweep_file(Path(tmp), SPACES["fixed"], 8, epochs, 8))
        prepared = prepare(config)
    dataset, settings = prepared.dataset, prepared.settings
    structure = {"n_layers": 2, "units": 64, "batch_size": 32, "optimizer": "adam"}
    member = resolve(structure, dataset.task, dataset.output_dim)
    cohort = cohort_of(member, dataset.task)
    steps = settings.steps_per_epoch(32)
    dims = [dataset.train.X.shape[1], *member.model.widths, dataset.output_dim]
    weights = sum(a * b for a, b in itertools.pairwise(dims))
    trained = 6 * weights - 2 * dims[0] * dims[1]  # no gradient for the input rows
    flops_per_member = epochs * (trained * steps * 32 + 2 * weights * len(dataset.val.y))
    rows = []
    for size in sizes:
        configs = [
            resolve(structure | {"learning_rate": float(r)}, dataset.task, dataset.output_dim)
            for r in np.geomspace(1e-4, 1e-2, size)
        ]
        seconds = training_seconds(prepared, cohort, configs, epochs, repeats=3)
        plain_s = {
            shared: best_seconds(plain.program(dataset, size, devices_for(size), epochs, shared), 3)
            for shared in (True, False)
        }
        rows.append(
            {
                "population": size,
                "devices": devices_for(size),
                "seconds": seconds,
                "trials_per_s": size / seconds,
                "flops": size * flops_per_member / seconds,
                "plain_trials_per_s": size / plain_s[True],
                "plain_own_order_trials_per_s": size / plain_s[False],
            }
        )
        print(
            f"  population {size}: {size / seconds:.1f} trials/s; the plain program "
            f"{size / plain_s[True]:.1f} with one row order, {size / plain_s[False]:.1f} with "
            "one a member",
            flush=True,
        )
    return rows


def markdown(rows: list[dict], scale: list[dict], peak: float) -> str:
    def fmt(value: float | None, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    lines = [
        "| space | peer | trials | batch sizes (trials) | trials/s | trials/s at (a)'s batch "
        f"sizes | jaxsweep speed-up (1st run / 2nd) | best val acc | s to {TARGET} | compile s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        mix = " ".join(f"{b}:{n}" for b, n in r["batch_mix"].items())
        lines.append(
            f"| {r['space']} | {r['peer']} | {r['trials']} | {mix} | {r['trials_per_s']:.2f} | "
            f"{fmt(r['trials_per_s_at_a_mix'], '.2f')} | "
            # two decimals: a ratio of 9.954 printed as 10.0x would read as a target of 10x met
            f"{fmt(r['jaxsweep_speedup'], '.2f')}x / {fmt(r['warm_speedup'], '.2f')}x | "
            f"{r['best']:.4f} | "
            f"{fmt(r['to_target_s'], '.1f')} | {fmt(r.get('compile_s'), '.1f')} |"
        )
    lines += ["", *strongest(rows)]
    lines += [
        "",
        f"float32 matmul peak measured in this run: {peak / 1e9:.1f} GFLOP/s",
        "",
        "| population | devices | trials/s | GFLOP/s | of peak | plain program, one order: "
        "trials/s | jaxsweep's share | plain program, an order a member: trials/s | "
        "jaxsweep's share |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in scale:
        one, own = r["plain_trials_per_s"], r["plain_own_order_trials_per_s"]
        lines.append(
            f"| {r['population']} | {r['devices']} | {r['trials_per_s']:.1f} | "
            f"{r['flops'] / 1e9:.1f} | {r['flops'] / peak:.0%} | {one:.1f} | "
            f"{r['trials_per_s'] / one:.0%} | {own:.1f} | {r['trials_per_s'] / own:.0%} |"
        )
    return "\n".join(lines) + "\n"


def strongest(rows: list[dict]) -> list[str]:
    """A line a space: jaxsweep's rates against its fastest sequential peer (at (a)'s mix)."""
    lines = []
    for space in dict.fromkeys(r["space"] for r in rows):
        here = [r for r in rows if r["space"] == space]
        peer_rows = [r for r in here if "seconds_by_batch" in r]
        mine = {r["peer"]: r["trials_per_s"] for r in here if "seconds_by_batch" not in r}
        if not peer_rows or not mine:
            continue
        best = max(peer_rows, key=lambda r: r["trials_per_s_at_a_mix"] or r["trials_per_s"])
        theirs = best["trials_per_s_at_a_mix"] or best["trials_per_s"]
        against = "; ".join(f"{name} {rate / theirs:.1f}x" for name, rate in mine.items())
        lines.append(
            f"{space} space: the strongest sequential peer is {best['peer']} at {theirs:.2f} "
            f"trials/s at (a)'s batch sizes; against it: {against}."
        )
    return lines


def compare_all(args: argparse.Namespace, names: list[str]) -> list[dict]:
    rows = []
    for space in args.spaces.split(","):
        population = args.article_population if space == "article" else args.population
        print(
            f"{space} space, {args.trials} trials, {args.epochs} epochs, jaxsweep's population "
            f"{population}:",
            flush=True,
        )
        peer_trials = args.peer_trials or args.trials
        rows += comparison(space, args.trials, peer_trials, args.epochs, population, names)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=48)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--population", type=int, default=16)
    parser.add_argument(
        "--article-population",
        type=int,
        default=64,
        help="the article space's population: one of the whole budget proposes every trial "
        "before any is told, so TPE samples it at random (256 trials: first 0.97 after 15.8 s "
        "warm, best 0.9777; 64: 3.5 s, best 0.9833, at the same trials/s)",
    )
    parser.add_argument(
        "--peer-trials",
        type=int,
        default=None,
        help="trials for the sequential peers (default: --trials); their rate does not depend on "
        "the count, so fewer keep the run short, but best accuracies then compare unequal budgets",
    )
    parser.add_argument(
        "--peers",
        default="a,a2,a3,a4,b,b0,c,d",
        help="a: jaxsweep's first run (empty compilation cache); a2: its second run (programs "
        "from the cache on disk, as a repeated `jaxsweep run` finds them); a3: a2 on a journal "
        "file instead of in memory; a4: on a SQLite file (the default storage); b, b0, c, d: the "
        "peers (in memory; b0 is the naive Flax peer)",
    )
    parser.add_argument("--spaces", default="fixed,article")
    parser.add_argument("--sizes", default="8,32,128,256,1024")
    args = parser.parse_args()
    quiet_optuna()
    names = args.peers.split(",")
    with tempfile.TemporaryDirectory() as cache:
        os.environ["JAXSWEEP_CACHE_DIR"] = cache  # empty: the first run compiles everything
        enable_compilation_cache()
        rows = compare_all(args, names)
        peak = matmul_peak()
        print("fixed-structure populations:", flush=True)
        scale = scaling(args.epochs, [int(s) for s in args.sizes.split(",") if s])
        peak = max(peak, matmul_peak())  # before and after: a slow moment lowers neither
    table = markdown(rows, scale, peak)
    print(table)
    report.write(
        "population_vs_sequential",
        table,
        {
            "args": vars(args),
            "cores": os.cpu_count(),
            "devices": jax.local_device_count(),
            "comparison": rows,
            "matmul_peak_flops": peak,
            "scaling": scale,
        },
    )


if __name__ == "__main__":
    main()
