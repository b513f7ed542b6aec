"""The labels of a curated dataset: each flow's class code and partition (:class:`FlowLabels`).

Runs need only row_id, app and partition from the dataset (the packets are already in the flowpic cache), so
this reads three columns instead of the whole file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from tcbench.data import ucdavis
from tcbench.data.parquet import DatasetError, check_no_nulls, open_parquet, read_columns

LABEL_COLUMNS = ("row_id", "app", "partition")


@dataclass(frozen=True)
class FlowLabels:
    """Per-flow label and partition of a curated dataset, indexed by row_id (== position).

    Plain numpy arrays rather than a DataFrame: a run process reads these before training, and pandas alone
    would add 0.4 s to every run's start-up.
    """

    app: np.ndarray  # int8 class code: index into ``classes``
    partition: np.ndarray  # str per flow ("" for datasets without partitions)
    classes: tuple[str, ...] = ucdavis.CLASSES  # alphabetical, as the original's pandas category

    @property
    def row_id(self) -> np.ndarray:
        return np.arange(len(self.app), dtype=np.int64)

    def rows_in(self, partition: str) -> np.ndarray:
        return np.flatnonzero(self.partition == partition)


def read_labels(parquet_path: str | Path) -> FlowLabels:
    """Class codes and partitions, checked against the curated schema. ucdavis-icdm19 files (labels among its five
    classes) keep the codes of ``ucdavis.CLASSES``; other datasets get their own labels in alphabetical order."""
    path = Path(parquet_path)
    with open_parquet(path) as pf:
        schema = pf.schema_arrow
        missing = [c for c in ("row_id", "app") if c not in schema.names]
        if missing:
            raise DatasetError(f"{path}: missing column(s) {missing}; a curated dataset has {list(LABEL_COLUMNS)} and the packet series")
        columns = [c for c in LABEL_COLUMNS if c in schema.names]
        table = read_columns(pf, path, columns)
    check_no_nulls(table.column("app"), "app", path)
    row_id = table.column("row_id").to_numpy()
    order = np.argsort(row_id, kind="stable")
    if not np.array_equal(row_id[order], np.arange(len(row_id))):
        raise DatasetError(f"{path}: row_id must be 0..{len(row_id) - 1} (one per flow), as in curated datasets")
    app = table.column("app").combine_chunks()
    if pa.types.is_dictionary(app.type):
        names, codes = app.dictionary.to_pylist(), app.indices.to_numpy(zero_copy_only=False)
    else:
        names, codes = np.unique(app.to_numpy(zero_copy_only=False), return_inverse=True)
        names = names.tolist()
    # Only the labels some flow has: a dictionary may hold unused values, which would become classes without flows.
    used = np.unique(codes)
    used_names = {names[i] for i in used}
    classes = ucdavis.CLASSES if used_names <= set(ucdavis.CLASSES) else tuple(sorted(used_names))
    if len(classes) > np.iinfo(np.int8).max:
        raise DatasetError(f"{path}: {len(classes)} classes; at most {np.iinfo(np.int8).max} are supported")
    remap = np.zeros(len(names), dtype=np.int8)
    remap[used] = [classes.index(names[i]) for i in used]
    if "partition" in table.column_names:
        partition = table.column("partition").to_numpy(zero_copy_only=False).astype(str)[order]
    else:
        partition = np.full(len(row_id), "", dtype=str)
    return FlowLabels(app=remap[codes][order], partition=partition, classes=classes)
