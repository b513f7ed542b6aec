"""The curated parquet of an existing installation of the original tcbench, converted to this project's schema.

The original installs ``<site-packages>/tcbench/libtcdatasets/datasets/<name>/preprocessed/<name>.parquet``, the
"unfiltered" file (docs/original-behaviour.md, Datasets):
- ucdavis-icdm19: our columns, with ``app`` a pandas category; rebuilt from the flat series, it gives exactly the
  file a raw import of the same flows writes;
- mirage19 / mirage22: the JSON keys flattened and lower-cased (``packet_data_l4_payload_bytes``,
  ``packet_data_packet_dir``, ``packet_data_iat``, ``flow_metadata_bf_label``, ...) plus ``app``, ``android_name``,
  ``device_name``, ``conn_id`` and its fields;
- utmobilenet21: our columns, but ``timetofirst`` holds inter-arrival times (its bug), turned into times to first.
The filtered variants and splits are then derived as for a raw import.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    if pa.types.is_large_list(arr.type):
        arr = arr.cast(pa.list_(arr.type.value_type))
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


_MIRAGE_SERIES = {"pkts_size": "packet_data_l4_payload_bytes", "pkts_dir": "packet_data_packet_dir"}


def _column(table: pa.Table, name: str, path: Path) -> pa.ChunkedArray:
    if name not in table.column_names:
        raise RawDataError(f"{path}: missing column {name!r}; not a tcbench curated file of this dataset")
    return table.column(name)


def _series_arrays(schema: pa.Schema, counts: np.ndarray, series: dict[str, np.ndarray]) -> list[pa.Array]:
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    return [pa.ListArray.from_arrays(offsets, pa.array(series[name], type=schema.field(name).type.value_type),
                                     type=schema.field(name).type) for name in ("pkts_size", "pkts_dir", "timetofirst")]


def convert_tcbench_other(path: Path, name: str) -> pa.Table:
    """A mirage19 / mirage22 / utmobilenet21 unfiltered file of the original in this project's unfiltered schema."""
    from tcbench.data.importers import mirage, utmobilenet

    try:
        table = pq.read_table(path).sort_by("row_id")
    except Exception as exc:  # truncated or foreign file
        raise RawDataError(f"{path}: not a readable tcbench parquet file ({exc})") from None
    if name == "utmobilenet21":
        schema = utmobilenet.SCHEMA
        flat = {n: _flat(_column(table, n, path)) for n in ("pkts_size", "pkts_dir", "timetofirst")}
        counts = flat["pkts_size"][1]
        series = {n: flat[n][0] for n in flat}
        series["timetofirst"] = mirage.flow_cumsum(series["timetofirst"], counts)  # the original stored IATs
    else:
        schema = (mirage.MIRAGE22 if name == "mirage22" else mirage.MIRAGE19).schema
        flat = {ours: _flat(_column(table, theirs, path)) for ours, theirs in _MIRAGE_SERIES.items()}
        iat, counts = _flat(_column(table, "packet_data_iat", path))
        series = {n: values for n, (values, _) in flat.items()}
        series["timetofirst"] = mirage.flow_cumsum(iat, counts)
    series_names = ("pkts_size", "pkts_dir", "timetofirst")
    arrays: dict[str, Any] = dict(zip(series_names, _series_arrays(schema, counts, series)))
    arrays["packets"] = pa.array(counts.astype(np.int64))
    for n in schema.names:
        if n not in arrays:  # columns the original lacks (e.g. bf_num_packets in some versions) stay empty
            arrays[n] = (_column(table, n, path).cast(schema.field(n).type).combine_chunks() if n in table.column_names
                         else pa.nulls(table.num_rows, schema.field(n).type))
    return pa.table([arrays[n] for n in schema.names], schema=schema)
