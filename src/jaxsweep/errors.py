"""The one error type that the CLI turns into a single line and exit code 2."""

from __future__ import annotations


class UserError(Exception):
    """Bad input: a file, key or value the user can fix. Never carries a traceback to the user."""

    def __init__(self, where: str, message: str) -> None:
        super().__init__(f"{where}: {message}")
        self.where = where
        self.message = message


class Interrupted(Exception):
    """The user pressed Ctrl-C: the sweep stopped at a boundary and left its study consistent."""


def from_validation_error(where: str, error: object, prefix: str = "") -> UserError:
    """Turn the first problem of a pydantic ``ValidationError`` into one readable line."""
    first = error.errors()[0]  # type: ignore[attr-defined]
    key = prefix + ".".join(str(part) for part in first["loc"]) or "(top level)"
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        message = "unknown key (misspelt?)"
    got = repr(first.get("input"))
    # A check across several keys gets their whole mapping as input: the message says enough.
    suffix = "" if isinstance(first.get("input"), dict) else f" (got {got})"
    return UserError(where, f"key '{key}': {message}{suffix}")


def read_yaml(path: str) -> object:
    """Read a YAML file safely; a missing or broken file is a user error naming the file."""
    import yaml

    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except FileNotFoundError:
        raise UserError(path, "file not found") from None
    except IsADirectoryError:
        raise UserError(path, "is a directory, expected a YAML file") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise UserError(path, f"broken YAML{line}: {problem}") from None
