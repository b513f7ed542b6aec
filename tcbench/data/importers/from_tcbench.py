"""The curated parquet of an existing installation of the original tcbench, converted to this project's schema.

The original installs ``<site-packages>/tcbench/libtcdatasets/datasets/<name>/preprocessed/<name>.parquet``
(reference datasets-and-results.md A.0): the same columns, with ``app`` a pandas category and the packet series
stored as lists. Rebuilding the table from the flat series (rather than casting column by column) gives exactly the
file a raw import of the same flows writes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tcbench.data import ucdavis
from tcbench.data.curated import curated_table
from tcbench.data.importers.errors import RawDataError

REQUIRED = ("row_id", "app", "flow_id", "partition", "unixtime", "timetofirst", "pkts_size", "pkts_dir")


def find_tcbench_parquet(root: Path, name: str) -> Path:
    """``<name>.parquet`` under ``root`` (the original's monolithic file, not its imc23/ split files)."""
    if root.is_file():
        return root
    if not root.exists():
        raise RawDataError(f"{root}: no such folder; point --from-tcbench at the original tcbench's datasets folder")
    found = sorted(p for p in root.rglob(f"{name}.parquet") if "imc23" not in p.parts)
    if not found:
        raise RawDataError(f"no {name}.parquet under {root}; the original installs it in "
                           f"tcbench/libtcdatasets/datasets/{name}/preprocessed/")
    return found[0]


def _flat(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    arr = column.combine_chunks()
    offsets = arr.offsets.to_numpy()
    return arr.values.to_numpy(zero_copy_only=False)[offsets[0] : offsets[-1]], np.diff(offsets)


def convert_tcbench_parquet(path: Path) -> pa.Table:
    try:
        table = pq.read_table(path)
    except Exception as exc:  # truncated or foreign file
        raise RawDataError(f"{path}: not a readable parquet file ({exc})") from None
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        raise RawDataError(f"{path}: missing column(s) {missing}; not a tcbench ucdavis-icdm19 curated file")
    table = table.sort_by("row_id")
    apps = table.column("app").cast(pa.string()).to_pylist()
    unknown = sorted(set(apps) - set(ucdavis.CLASSES))
    if unknown:
        raise RawDataError(f"{path}: unknown class label(s) {unknown}; expected {list(ucdavis.CLASSES)}")
    series = {name: _flat(table.column(name)) for name in ("unixtime", "timetofirst", "pkts_size", "pkts_dir")}
    counts = series["timetofirst"][1]
    if any(not np.array_equal(n, counts) for _, n in series.values()):
        raise RawDataError(f"{path}: the packet series of a flow differ in length")
    return curated_table(
        table.column("row_id").to_numpy(), np.array([ucdavis.CLASSES.index(a) for a in apps]),
        table.column("flow_id").to_pylist(), table.column("partition").to_pylist(), counts,
        *(series[name][0] for name in ("unixtime", "timetofirst", "pkts_size", "pkts_dir")),
    )
