"""Reading the small per-flow columns of a curated dataset parquet, with errors that say what is wrong.

Runs need only row_id, app and partition from the dataset (the packets are already in the flowpic cache), so
this reads three columns instead of the whole file.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from tcbench.data import ucdavis

LABEL_COLUMNS = ("row_id", "app", "partition")


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or does not have the curated schema."""


def read_labels(parquet_path: str | Path) -> pd.DataFrame:
    """row_id, app (categorical, the 5 classes in alphabetical order) and partition, sorted by row_id."""
    path = Path(parquet_path)
    if not path.exists():
        raise DatasetError(f"dataset file not found: {path}")
    try:
        schema = pq.read_schema(path)
    except Exception as exc:  # pyarrow raises ArrowInvalid/OSError for truncated or foreign files
        raise DatasetError(f"{path}: not a readable parquet file ({exc})") from exc
    missing = [c for c in LABEL_COLUMNS if c not in schema.names]
    if missing:
        raise DatasetError(f"{path}: missing column(s) {missing}; a curated dataset has {list(LABEL_COLUMNS)} and the packet series")
    table = pq.read_table(path, columns=list(LABEL_COLUMNS)).to_pandas()
    table["app"] = table["app"].astype(str)
    unknown = sorted(set(table["app"]) - set(ucdavis.CLASSES))
    if unknown:
        raise DatasetError(f"{path}: unknown class label(s) {unknown}; expected {list(ucdavis.CLASSES)}")
    table["app"] = pd.Categorical(table["app"], categories=list(ucdavis.CLASSES))
    table["partition"] = table["partition"].astype(str)
    table = table.sort_values("row_id", kind="stable").reset_index(drop=True)
    if not (table["row_id"].to_numpy() == range(len(table))).all():
        raise DatasetError(f"{path}: row_id must be 0..{len(table) - 1} (one per flow), as in curated datasets")
    return table
