"""Bad input as one readable line naming where it is: user errors, YAML files, pydantic errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict, ValidationError

from jaxsweep.errors import UserError, from_validation_error, read_yaml


def test_a_user_error_reads_where_then_what() -> None:
    error = UserError("sweep.yaml", "key 'epochs': must be positive")
    assert str(error) == "sweep.yaml: key 'epochs': must be positive"
    assert (error.where, error.message) == ("sweep.yaml", "key 'epochs': must be positive")


def test_a_missing_folder_or_broken_yaml_file_is_a_user_error_naming_it(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("units: 8\n")
    assert read_yaml(str(good)) == {"units": 8}
    broken = tmp_path / "broken.yaml"
    broken.write_text("units: 8\nlayers: [1, 2\n")
    for path, expected in [
        (tmp_path / "none.yaml", "file not found"),
        (tmp_path, "is a directory"),
        (broken, "broken YAML at line"),
    ]:
        with pytest.raises(UserError) as info:
            read_yaml(str(path))
        assert str(info.value).startswith(f"{path}: {expected}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")
    epochs: int


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ({"epochs": "many"}, "s.yaml: key 'data.epochs': "),
        ({"epochs": 3, "epochz": 3}, "s.yaml: key 'data.epochz': unknown key (misspelt?)"),
    ],
)
def test_a_validation_error_becomes_one_line_with_its_key(document: dict, expected: str) -> None:
    with pytest.raises(ValidationError) as info:
        _Strict.model_validate(document)
    line = str(from_validation_error("s.yaml", info.value, prefix="data."))
    assert line.startswith(expected) and "\n" not in line
    assert line.endswith("(got 'many')" if "many" in str(document) else "(got 3)")
