"""The ``jaxsweep`` command: typer commands, and errors turned into one line and an exit code."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.console import Console

from jaxsweep.app import collector
from jaxsweep.app.cores import use_every_core
from jaxsweep.app.guard import guarded
from jaxsweep.config import load_sweep
from jaxsweep.errors import UserError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",  # docstring paragraphs reflow to the terminal's width
    help="Hyperparameter sweeps for MLPs: Optuna proposes, JAX trains whole populations at once.",
)
console = Console(soft_wrap=True)
_state = {"debug": False}

SweepArg = Annotated[
    Path, typer.Argument(help="sweep file, e.g. sweeps/digits.yaml", show_default=False)
]


@app.callback()
def _options(
    debug: Annotated[
        bool, typer.Option("--debug", help="show the full traceback of unexpected failures")
    ] = False,
) -> None:
    _state["debug"] = debug


@app.command()
def validate(sweep: SweepArg) -> None:
    """Check a sweep file, its space and its data; print the resolved config (writes nothing)."""

    def action() -> None:
        from jaxsweep.app.summary import resolved_document
        from jaxsweep.cache.disk import cache_folder
        from jaxsweep.search.prepare import prepare

        document = resolved_document(prepare(load_sweep(sweep), cache_folder()))
        typer.echo(yaml.safe_dump(document, sort_keys=False), nl=False)  # plain: scripts parse it

    guarded(action, _state["debug"])


@app.command()
def run(
    sweep: SweepArg,
    trials: Annotated[int | None, typer.Option(help="trial budget (finished trials)")] = None,
    timeout: Annotated[
        str | None,
        typer.Option(
            metavar="DURATION",
            help="time budget of the whole run, every stage: seconds, or a number with s, m "
            "or h (90s, 10m, 1.5h); trials it cuts short are marked failed",
        ),
    ] = None,
    population: Annotated[int | None, typer.Option(help="trials asked and trained at once")] = None,
    epochs: Annotated[int | None, typer.Option(help="epochs per trial")] = None,
    storage: Annotated[str | None, typer.Option(help="Optuna storage URL")] = None,
    study: Annotated[str | None, typer.Option(help="study name")] = None,
    seed: Annotated[int | None, typer.Option(help="seed of data split, sampler and init")] = None,
    results: Annotated[Path | None, typer.Option(help="results root folder")] = None,
    stages: Annotated[
        str | None, typer.Option(help="comma-separated stages to run, e.g. lr_find,search")
    ] = None,
) -> None:
    """Run a sweep: Optuna proposes populations of trials and JAX trains each one at once.

    Writes `RESULTS/<study>/`: study.db (the default storage), best_params.yaml, trials.csv and,
    unless the sweep says plots: false, plots/. Keeps compilations, traced programs and built-in
    datasets in ~/.cache/jaxsweep/xla ($JAXSWEEP_CACHE_DIR), so that a repeated run starts at once.
    """

    def action() -> None:
        from jaxsweep.app.runner import run_sweep

        config = load_sweep(
            sweep,
            dict(
                stages=None if stages is None else [s.strip() for s in stages.split(",")],
                trials=trials,
                timeout=timeout,
                population=population,
                epochs=epochs,
                storage=storage,
                study=study,
                seed=seed,
                results=None if results is None else str(results),
            ),
        )
        run_sweep(config, console)

    guarded(action, _state["debug"])


@app.command("lr-find")
def lr_find(
    sweep: SweepArg,
    results: Annotated[Path | None, typer.Option(help="results root folder")] = None,
) -> None:
    """Run the LR range test alone: per optimizer, the suggested learning rate (half the diverging
    rate), its spread over architectures and seeds, and the search window. Writes lr_find.json and
    lr_find.png to `RESULTS/<study>/`."""

    def action() -> None:
        from jaxsweep.app.runner import run_sweep

        config = load_sweep(
            sweep, dict(stages=["lr_find"], results=None if results is None else str(results))
        )
        run_sweep(config, console)

    guarded(action, _state["debug"])


ResultsArg = Annotated[
    Path | None,
    typer.Argument(help="a `results/<study>` folder (holding study.db)", show_default=False),
]
StorageOpt = Annotated[str | None, typer.Option(help="Optuna storage URL instead of a folder")]
StudyOpt = Annotated[
    str | None, typer.Option(help="study name (needed if the storage has several)")
]


@app.command()
def best(
    results: ResultsArg = None,
    storage: StorageOpt = None,
    study: StudyOpt = None,
    format: Annotated[str, typer.Option("--format", help="yaml or json")] = "yaml",
) -> None:
    """Print the best trial: number, stage, value, params and resolved config."""

    def action() -> None:
        import json

        import optuna

        from jaxsweep.app.results import sweep_best_document
        from jaxsweep.storage.urls import locate, open_storage

        if format not in ("yaml", "json"):
            raise UserError("--format", f"{format!r} not accepted (accepted: yaml, json)")
        url, name = locate(results, storage, study)
        stages = [name]
        if study is None and name.endswith("-schedule"):  # a sweep's folder: as in its results
            stages.insert(0, name.removesuffix("-schedule"))
        opened = open_storage(url, "--storage")
        loaded = [optuna.load_study(study_name=n, storage=opened) for n in stages]
        document = sweep_best_document(loaded, url)
        if document is None:
            raise UserError(name, "no completed trial yet")
        text = (
            json.dumps(document, indent=2) + "\n"
            if format == "json"
            else yaml.safe_dump(document, sort_keys=False)
        )
        typer.echo(text, nl=False)

    guarded(action, _state["debug"])


@app.command()
def train(
    sweep: SweepArg,
    params: Annotated[Path, typer.Option(help="best_params.yaml of a sweep (or its folder)")],
    seed: Annotated[int | None, typer.Option(help="seed (default: the sweep's)")] = None,
    epochs: Annotated[int | None, typer.Option(help="epochs (default: the sweep's)")] = None,
    results: Annotated[Path | None, typer.Option(help="results root folder")] = None,
    out: Annotated[
        Path | None, typer.Option(help="model folder (default `RESULTS/<study>/model`)")
    ] = None,
) -> None:
    """Retrain a configuration with early stopping, score it on the held-out test split and save
    the model (weights + config + preprocessing) for jaxsweep.load_model."""

    def action() -> None:
        from jaxsweep.app.checkpoint import load_best
        from jaxsweep.app.retrain import retrain
        from jaxsweep.cache.disk import cache_folder
        from jaxsweep.search.prepare import prepare

        best = load_best(params)
        config = load_sweep(
            sweep, dict(seed=seed, epochs=epochs, results=None if results is None else str(results))
        )
        folder = out if out is not None else config.results_dir / "model"
        done = retrain(prepare(config, cache_folder()), best, config.seed, folder)
        console.print(
            f"trial {best.trial} retrained: validation {config.metric.name} "
            f"{done.val_metric:.4f} at epoch {done.best_epoch}",
            highlight=False,
        )
        for name, value in done.test_metrics.items():
            console.print(f"test {name}: {value:.4f}", highlight=False)
        if done.model.classes:
            labels = ", ".join(map(str, done.model.classes))
            console.print(f"labels: {labels}", highlight=False, markup=False)
        console.print(f"saved model to {done.folder}", highlight=False)

    guarded(action, _state["debug"])


@app.command()
def predict(
    model: Annotated[
        Path,
        typer.Argument(
            help="model folder written by `jaxsweep train` (or the results folder holding it)",
            show_default=False,
        ),
    ],
    data: Annotated[
        Path, typer.Argument(help="a .csv or .parquet file of raw rows", show_default=False)
    ],
    out: Annotated[Path, typer.Option(help="predictions file (.csv or .parquet)")] = Path(
        "predictions.csv"
    ),
    keep: Annotated[
        list[str] | None,
        typer.Option(help="a column of DATA copied beside the predictions, e.g. an ID"),
    ] = None,
) -> None:
    """Predict labels (or values) for raw rows, with the preprocessing the model was trained
    with: text, gaps and columns in any order, extra columns ignored. Writes OUT with the kept
    columns, `prediction` and, for a classifier, a `probability_<label>` column per label."""

    def action() -> None:
        from jaxsweep.app.predict import predictions, write_predictions

        table = predictions(model, data, keep or [])
        written = write_predictions(table, out)
        console.print(f"wrote {len(table)} predictions to {written}", highlight=False)

    guarded(action, _state["debug"])


@app.command()
def dashboard(
    results: ResultsArg = None,
    storage: StorageOpt = None,
    host: Annotated[
        str, typer.Option(help="address to bind; 0.0.0.0 exposes it to the network")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="port")] = 8080,
) -> None:
    """Start optuna-dashboard on a sweep's storage (with its plots as artifacts)."""

    def action() -> None:
        import optuna_dashboard

        from jaxsweep.app.plots import ARTIFACTS, artifact_store
        from jaxsweep.storage.urls import locate, mask, open_storage

        url, _ = locate(results, storage, None) if storage is None else (storage, "")
        store = None
        if results is not None and (results / ARTIFACTS).is_dir():
            store = artifact_store(results)
        console.print(
            f"dashboard for {mask(url)} at http://{host}:{port}/dashboard/ (Ctrl-C to stop)",
            highlight=False,
        )
        optuna_dashboard.run_server(
            open_storage(url, "--storage"), host=host, port=port, artifact_store=store
        )

    guarded(action, _state["debug"])


def main() -> None:
    use_every_core()
    collector.tune()
    app(prog_name="jaxsweep")


if __name__ == "__main__":
    sys.exit(main())
