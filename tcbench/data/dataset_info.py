"""``dataset.json``: the identity of a curated dataset folder, written by whatever produced the folder.

A run reads it to build its run_key, so a run computed on one dataset can never be mistaken for a run on
another one that happens to live at the same path (e.g. a re-generated synthetic dataset with another seed).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATASET_INFO = "dataset.json"


def write_dataset_spec(dataset_dir: str | Path, spec: dict[str, Any]) -> Path:
    path = Path(dataset_dir) / DATASET_INFO
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(spec, sort_keys=True, indent=1) + "\n")
    tmp.replace(path)
    return path


def read_dataset_spec(dataset_dir: str | Path) -> dict[str, Any]:
    path = Path(dataset_dir) / DATASET_INFO
    if not path.exists():
        raise FileNotFoundError(
            f"{path} not found: {dataset_dir} is not a prepared dataset folder (create it with "
            "`tcbench datasets synth` or let the workflow build it)"
        )
    return json.loads(path.read_text())
