"""``dataset.json``: the identity of a curated dataset folder, written by whatever produced the folder.

A run reads it to build its run_key, so a run computed on one dataset can never be mistaken for a run on
another one that happens to live at the same path (e.g. a re-generated synthetic dataset with another seed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tcbench.atomic import atomic_write_text

DATASET_INFO = "dataset.json"


def write_dataset_spec(dataset_dir: str | Path, spec: dict[str, Any]) -> Path:
    return atomic_write_text(Path(dataset_dir) / DATASET_INFO, json.dumps(spec, sort_keys=True, indent=1) + "\n")


def read_dataset_spec(dataset_dir: str | Path) -> dict[str, Any]:
    path = Path(dataset_dir) / DATASET_INFO
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: {dataset_dir} is not a prepared dataset folder (create it with "
            "`tcbench datasets synth` or let the workflow build it)"
        )
    return json.loads(path.read_text())


def with_min_pkts(spec: dict[str, Any], min_pkts: int) -> dict[str, Any]:
    """A dataset identity plus the filtered variant used (runs on minpkts10 and minpkts1000 differ)."""
    return {**spec, "min_pkts": min_pkts} if min_pkts > 0 else spec


def dataset_spec(config: dict[str, Any]) -> dict[str, Any]:
    """The identity of a campaign's data (part of every run key), not where it is stored: the generator's settings
    for the synthetic stand-in, or what the importer wrote into ``dataset.json`` (with the parquet's sha256)."""
    from tcbench.data.paths import dataset_min_pkts, dataset_paths

    dataset = config["dataset"]
    if dataset["source"] == "imported":
        # The importer wrote the identity (with the data's sha256); runs read the same file, so keys agree.
        return with_min_pkts(read_dataset_spec(dataset_paths(config).root), dataset_min_pkts(config))
    spec: dict[str, Any] = {"name": dataset["name"], "source": dataset["source"]}
    if dataset["source"] == "synthetic":
        from tcbench.data.synthetic import GENERATOR_VERSION

        spec["synthetic"] = {**dict(sorted(dataset["synthetic"].items())), "generator_version": GENERATOR_VERSION}
    return spec
