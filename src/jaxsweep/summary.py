"""Human-readable views of a prepared sweep (``validate``) and of its outcome (``run``)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from jaxsweep.storage import mask
from jaxsweep.sweep import Prepared


def resolved_document(prepared: Prepared) -> dict[str, Any]:
    """The sweep as it will run: every default filled in, paths resolved, password masked."""
    config, dataset = prepared.config, prepared.dataset
    document = config.model_dump(mode="json")
    document["storage"] = mask(config.storage_url)
    document["metric"]["direction"] = config.metric.resolved_direction
    document["sampler"]["seed"] = config.sampler_seed
    document["resolved"] = {
        "results_dir": str(config.results_dir),
        "data": {
            "task": dataset.task,
            "features": dataset.n_features,
            "classes": len(dataset.classes) or None,
            "rows": {
                "train": len(dataset.train.y),
                "val": len(dataset.val.y),
                "test": len(dataset.test.y),
            },
        },
        "search_space": {
            p.name: (
                p.fixed
                if p.distribution is None
                else p.distribution.model_dump(mode="json", exclude_defaults=True)
            )
            for p in prepared.space.params
        },
    }
    return document


def print_best(console: Console, document: dict[str, Any] | None) -> None:
    if document is None:
        console.print("no trial completed", style="yellow")
        return
    table = Table(
        title=f"best trial #{document['trial']}: {document['metric']} = {document['value']:.4f}",
        show_header=True,
    )
    table.add_column("param")
    table.add_column("value")
    for name, value in document["params"].items():
        table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
