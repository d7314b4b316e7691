"""A command's failures as a user sees them: one line each, and an exit code."""

from __future__ import annotations

import pytest
import typer

from jaxsweep.app.guard import guarded
from jaxsweep.errors import Interrupted, UserError


def fail_with(exc: BaseException):
    def action() -> None:
        raise exc

    return action


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (UserError("sweep.yaml", "key 'epochs': bad"), 2, "error: sweep.yaml: key 'epochs': bad"),
        (KeyboardInterrupt(), 130, "interrupted"),
        (Interrupted(), 130, "interrupted"),
        (
            ZeroDivisionError("division by zero"),
            1,
            "error: unexpected failure: ZeroDivisionError: division by zero "
            "(rerun with --debug for the traceback)",
        ),
    ],
    ids=["bad input", "ctrl-c", "interrupted", "unexpected"],
)
def test_each_failure_is_one_line_and_its_exit_code(
    exc: BaseException, code: int, line: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(typer.Exit) as info:
        guarded(fail_with(exc), debug=False)
    assert info.value.exit_code == code
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [line] and captured.out == ""
    assert "Traceback" not in captured.err


def test_with_debug_an_unexpected_failure_keeps_its_traceback_and_bad_input_does_not() -> None:
    with pytest.raises(ZeroDivisionError):
        guarded(fail_with(ZeroDivisionError("division by zero")), debug=True)
    with pytest.raises(typer.Exit):
        guarded(fail_with(UserError("sweep.yaml", "bad")), debug=True)


def test_a_command_that_succeeds_passes_through(capsys: pytest.CaptureFixture[str]) -> None:
    ran = []
    guarded(lambda: ran.append(True), debug=False)
    assert ran == [True] and capsys.readouterr().err == ""
