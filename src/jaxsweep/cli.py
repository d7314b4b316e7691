"""The ``jaxsweep`` command: typer commands, and errors turned into one line and an exit code."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console

from jaxsweep.config import SweepConfig, load_sweep
from jaxsweep.errors import UserError

EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_INTERRUPTED = 2, 1, 130

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Hyperparameter sweeps for MLPs: Optuna proposes, JAX trains whole populations at once.",
)
out = Console()
err = Console(stderr=True)
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


def _guarded(action: Callable[[], None]) -> None:
    """Run a command: bad input → one line, exit 2; anything else → short message, exit 1."""
    try:
        action()
    except UserError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except KeyboardInterrupt:
        err.print("interrupted", markup=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:
        if _state["debug"]:
            raise
        err.print(
            f"error: unexpected failure: {type(exc).__name__}: {exc} "
            "(rerun with --debug for the traceback)",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_FAILURE) from None


def _load(sweep: Path, **overrides: Any) -> SweepConfig:
    return load_sweep(sweep, overrides)


@app.command()
def validate(sweep: SweepArg) -> None:
    """Check a sweep file, its space and its data; print the resolved config (writes nothing)."""

    def action() -> None:
        from jaxsweep.summary import resolved_document
        from jaxsweep.sweep import prepare

        document = resolved_document(prepare(_load(sweep)))
        typer.echo(yaml.safe_dump(document, sort_keys=False), nl=False)  # plain: scripts parse it

    _guarded(action)


@app.command()
def run(
    sweep: SweepArg,
    trials: Annotated[int | None, typer.Option(help="trial budget (finished trials)")] = None,
    population: Annotated[int | None, typer.Option(help="trials asked and trained at once")] = None,
    epochs: Annotated[int | None, typer.Option(help="epochs per trial")] = None,
    storage: Annotated[str | None, typer.Option(help="Optuna storage URL")] = None,
    study: Annotated[str | None, typer.Option(help="study name")] = None,
    seed: Annotated[int | None, typer.Option(help="seed of data split, sampler and init")] = None,
    results: Annotated[Path | None, typer.Option(help="results root folder")] = None,
) -> None:
    """Run a sweep: Optuna proposes populations of trials and JAX trains each one at once.

    Writes RESULTS/<study>/: study.db (the default storage), best_params.yaml and trials.csv.
    """

    def action() -> None:
        from jaxsweep.runner import run_sweep

        config = _load(
            sweep,
            trials=trials,
            population=population,
            epochs=epochs,
            storage=storage,
            study=study,
            seed=seed,
            results=None if results is None else str(results),
        )
        run_sweep(config, out)

    _guarded(action)


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    app(prog_name="jaxsweep")


if __name__ == "__main__":
    sys.exit(main())
