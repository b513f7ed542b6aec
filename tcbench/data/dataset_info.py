"""``dataset.json``: the identity of a curated dataset folder, written by whatever produced the folder.

A run reads it to build its run_key, so a run computed on one dataset can never be mistaken for a run on
another one that happens to live at the same path (e.g. a re-generated synthetic dataset with another seed).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from tcbench.atomic import atomic_write_text

DATASET_INFO = "dataset.json"
#: What the parquet held when it was written (size, footer and content sha256): a run compares the file it reads
#: with it (size and footer, milliseconds), so an edited or replaced parquet is refused rather than trained on
#: under the identity of the data it replaced. Kept apart from dataset.json, which is the identity itself.
CONTENT_INFO = "content.json"


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


def footer_sha256(parquet: str | Path) -> str:
    """sha256 of the parquet footer (row groups, column chunks, their sizes, offsets and statistics): any rewrite
    of the data changes it, and reading it costs one seek whatever the file size."""
    with open(parquet, "rb") as fh:
        fh.seek(-8, 2)
        tail = fh.read(8)
        if tail[4:] != b"PAR1":
            raise ValueError(f"{parquet}: not a parquet file (no PAR1 footer)")
        length = int.from_bytes(tail[:4], "little")
        fh.seek(-(length + 8), 2)
        return hashlib.sha256(fh.read(length + 8)).hexdigest()


def content_record(parquet: str | Path, sha256: str | None = None) -> dict[str, Any]:
    """The content of a dataset's parquet as written: bytes, footer sha256 and whole-file sha256."""
    path = Path(parquet)
    if sha256 is None:
        with open(path, "rb") as fh:
            sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
    return {"parquet": path.name, "bytes": path.stat().st_size, "footer_sha256": footer_sha256(path), "sha256": sha256}


def write_content_record(dataset_dir: str | Path, parquet: str | Path, sha256: str | None = None) -> Path:
    return atomic_write_text(Path(dataset_dir) / CONTENT_INFO,
                             json.dumps(content_record(parquet, sha256), sort_keys=True, indent=1) + "\n")


def read_content_record(dataset_dir: str | Path) -> dict[str, Any] | None:
    path = Path(dataset_dir) / CONTENT_INFO
    return json.loads(path.read_text()) if path.exists() else None
