"""The cache folder: whole files or none, and only this release's files kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from jaxsweep.cache import disk


def test_the_cache_folder_is_the_environments_or_the_users_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JAXSWEEP_CACHE_DIR", str(tmp_path))
    assert disk.cache_folder() == tmp_path
    monkeypatch.delenv("JAXSWEEP_CACHE_DIR")
    assert disk.cache_folder() == Path.home() / ".cache" / "jaxsweep" / "xla"


def test_a_file_is_written_whole_in_a_new_folder_and_replaced_whole(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "kept.bin"
    disk.write_atomically(path, b"first")
    disk.write_atomically(path, bytearray(b"second, longer"))
    assert path.read_bytes() == b"second, longer"
    assert [p.name for p in path.parent.iterdir()] == ["kept.bin"]  # no temporary file left


def test_a_folder_that_cannot_be_made_writes_nothing_and_raises_nothing(tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    disk.write_atomically(blocker / "kept.bin", b"blob")
    assert blocker.read_text() == "not a folder" and list(tmp_path.iterdir()) == [blocker]


def test_other_releases_files_are_forgotten_and_this_releases_kept(tmp_path: Path) -> None:
    release = disk.release()
    assert len(release) == 12 and release == disk.release()
    ours, older = tmp_path / f"{release}-a.prog", tmp_path / f"{'0' * 12}-a.prog"
    other_kind = tmp_path / f"{'0' * 12}-a.npz"
    for path in (ours, older, other_kind):
        path.write_bytes(b"x")
    disk.forget_other_releases(tmp_path, ".prog")
    assert ours.exists() and not older.exists()
    assert other_kind.exists()  # only files of the suffix asked for
