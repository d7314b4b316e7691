"""A command's failures as a user sees them: bad input in one line with exit code 2, Ctrl-C
with 130, anything unexpected in a short line with exit code 1 (the traceback with ``--debug``)."""

from __future__ import annotations

from collections.abc import Callable

import typer
from rich.console import Console

from jaxsweep.errors import Interrupted, UserError

EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_INTERRUPTED = 2, 1, 130
err = Console(stderr=True)


def guarded(action: Callable[[], None], debug: bool) -> None:
    """Run a command: bad input → one line, exit 2; anything else → short message, exit 1."""
    try:
        action()
    except UserError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except (KeyboardInterrupt, Interrupted):
        err.print("interrupted", markup=False)
        raise typer.Exit(EXIT_INTERRUPTED) from None
    except Exception as exc:
        if debug:
            raise
        err.print(
            f"error: unexpected failure: {type(exc).__name__}: {exc} "
            "(rerun with --debug for the traceback)",
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(EXIT_FAILURE) from None
