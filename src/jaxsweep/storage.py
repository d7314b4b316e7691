"""Storage URLs: checking them, creating the study, and never showing a password."""

from __future__ import annotations

import re
from pathlib import Path

import optuna

from jaxsweep.errors import UserError

SCHEMES = ("sqlite", "postgresql+psycopg2", "postgresql", "mysql+pymysql", "mysql")
_PASSWORD = re.compile(r"(?P<head>://[^:/@]+:)(?P<password>[^@]*)(?P<tail>@)")


def mask(url: str) -> str:
    """The URL with its password, if any, replaced by ***."""
    return _PASSWORD.sub(r"\g<head>***\g<tail>", url)


def check_url(url: str, where: str = "storage") -> None:
    """Refuse a storage URL we cannot use, before anything is written."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme not in SCHEMES:
        raise UserError(
            where,
            f"unknown storage scheme in {mask(url)!r} (accepted: "
            "sqlite:///path.db, postgresql+psycopg2://user@host/db, mysql+pymysql://…)",
        )


def sqlite_path(url: str) -> Path | None:
    """The database file of a sqlite URL, so its folder can be created; None otherwise."""
    if not url.startswith("sqlite:///"):
        return None
    return Path(url.removeprefix("sqlite:///"))


def open_storage(url: str, where: str = "storage") -> optuna.storages.BaseStorage:
    check_url(url, where)
    path = sqlite_path(url)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return optuna.storages.RDBStorage(url)
    except Exception as exc:  # SQLAlchemy raises driver-specific errors
        raise UserError(
            where, f"cannot open {mask(url)}: {mask(str(exc).splitlines()[0])}"
        ) from None
