"""What validate prints of a prepared sweep, and what run prints of its best trial."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from jaxsweep.app.summary import print_best, resolved_document
from jaxsweep.config import load_sweep
from jaxsweep.search.member_config import resolve
from jaxsweep.search.prepare import prepare
from tests.conftest import tiny_sweep

SECRET = "pw-never-shown-1c2d"


def test_the_resolved_sweep_has_its_data_and_space_and_no_password(tmp_path: Path) -> None:
    url = f"postgresql+psycopg2://user:{SECRET}@db.example/sweeps"
    document = resolved_document(prepare(load_sweep(tiny_sweep(tmp_path, storage=url))))
    assert SECRET not in str(document)
    assert document["storage"] == "postgresql+psycopg2://user:***@db.example/sweeps"
    data = document["resolved"]["data"]
    assert (data["task"], data["features"], data["classes"]) == ("multiclass", 4, 3)
    assert sum(data["rows"].values()) == 150  # iris, split three ways
    assert document["metric"]["direction"] == "maximize"
    assert document["resolved"]["search_space"]["learning_rate"]["log"] is True


def shown(document: dict | None) -> str:
    console = Console(record=True, width=200)
    print_best(console, document)
    return console.export_text()


def test_the_best_trial_shows_its_params_then_the_network_and_training_they_make() -> None:
    config = resolve(
        {"units": 12, "n_layers": 2, "learning_rate": 0.00312345, "batch_norm": True},
        "multiclass",
        3,
    )
    document = {
        "trial": 7,
        "metric": "accuracy",
        "value": 0.966666,
        "params": {"learning_rate": 0.00312345, "units": 12},
        "config": config.as_dict(),
        "note": "no schedule beat the search's best trial",
    }
    text = shown(document)
    assert "best trial #7: accuracy = 0.9667" in text
    assert "0.003123" in text  # a float param to 4 significant digits
    assert "12 x 12 units, relu, batch norm, softmax output" in text
    assert "adam, rate 0.003123, batch 32" in text
    assert text.rstrip().endswith("no schedule beat the search's best trial")
    assert shown(None).strip() == "no trial completed"
