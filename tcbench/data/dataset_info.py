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
