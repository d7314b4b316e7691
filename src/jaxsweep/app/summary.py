"""Human-readable views of a prepared sweep (``validate``) and of its outcome (``run``)."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from jaxsweep.search.prepare import Prepared
from jaxsweep.storage.urls import mask


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
    """The best trial's params as its stage sampled them, then the network and training they
    resolve to: after the schedule stage, its params are the schedule's alone."""
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
        table.add_row(name, _shown(value))
    table.add_section()
    for name, value in _trained_as(document["config"]).items():
        table.add_row(name, value, style="dim")
    console.print(table)
    if document.get("note"):
        console.print(document["note"], highlight=False)


def _trained_as(config: dict[str, Any]) -> dict[str, str]:
    """The resolved network and training in a few rows, as best_params.yaml holds them."""
    model, train = config["model"], config["train"]
    network = [" x ".join(map(str, model["widths"])) + " units", model["activation"]]
    if model["batch_norm"]:
        network.append("batch norm")
    if model["dropout"]:
        network.append(f"dropout {model['dropout']:.3g}")
    network.append(f"{model['output_activation']} output")
    optimizer = train["optimizer"] + (" (Nesterov)" if train["nesterov"] else "")
    training = [f"{optimizer}, rate {train['learning_rate']:.4g}, batch {train['batch_size']}"]
    if train["clip_norm"] is not None:
        training.append(f"clipped at norm {train['clip_norm']:.3g}")
    if train.get("schedule"):
        training.append(f"{train['schedule']['kind']} schedule")
    return {"network": ", ".join(network), "training": ", ".join(training)}


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
