"""The curated schema every dataset is stored in, the table built from per-flow arrays, and its parquet writer.

Reading is apart (:mod:`tcbench.data.parquet`, :mod:`tcbench.data.labels`): the generator and the importers write
through this module and never read.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tcbench.atomic import atomic_write
from tcbench.data import ucdavis

__all__ = ["ROW_GROUP_FLOWS", "SCHEMA", "curated_table", "parquet_options", "series_type", "write_curated_parquet"]


def series_type(item: pa.DataType) -> pa.DataType:
    """A per-packet list column with non-null items: parquet then stores no definition levels per packet, which
    makes reading ~15 % faster."""
    return pa.list_(pa.field("item", item, nullable=False))


# The curated ucdavis-icdm19 schema of the original (docs/original-behaviour.md, Datasets), one row per flow.
SCHEMA = pa.schema(
    [
        ("row_id", pa.int64()),
        ("app", pa.dictionary(pa.int8(), pa.string())),
        ("flow_id", pa.string()),
        ("partition", pa.string()),
        ("num_pkts", pa.int64()),
        ("duration", pa.float64()),
        ("bytes", pa.int64()),
        ("unixtime", series_type(pa.float64())),
        ("timetofirst", series_type(pa.float64())),
        ("pkts_size", series_type(pa.int16())),
        ("pkts_dir", series_type(pa.int8())),
        ("pkts_iat", series_type(pa.float64())),
    ]
)

def _list_array(offsets: pa.Array, values: np.ndarray, column: str) -> pa.ListArray:
    return pa.ListArray.from_arrays(offsets, pa.array(values), type=SCHEMA.field(column).type)


def curated_table(row_id: np.ndarray, app_codes: np.ndarray, flow_ids: list[str], partitions: list[str],
                  num_pkts: np.ndarray, unixtime: np.ndarray, timetofirst: np.ndarray, sizes: np.ndarray,
                  dirs: np.ndarray, metadata: dict[str, str] | None = None) -> pa.Table:
    """A table with the curated schema from flat packet arrays (flow i owns the next ``num_pkts[i]`` packets):
    ``duration`` = last time to first, ``bytes`` = sum of sizes, ``pkts_iat`` = ``timetofirst.diff().fillna(0)``,
    as the original derives them. ``app_codes`` index ``ucdavis.CLASSES``."""
    num_pkts = np.asarray(num_pkts, dtype=np.int64)
    offsets_np = np.concatenate([[0], np.cumsum(num_pkts)])
    if offsets_np[-1] > np.iinfo(np.int32).max:
        raise ValueError("too many packets for list<> columns with 32-bit offsets; write the flows in several tables")
    if (num_pkts < 1).any():
        raise ValueError("every flow needs at least one packet")
    offsets = pa.array(offsets_np.astype(np.int32))
    starts, ends = offsets_np[:-1], offsets_np[1:] - 1
    timetofirst = np.asarray(timetofirst, dtype=np.float64)
    iat = np.diff(timetofirst, prepend=0.0)
    iat[starts] = 0.0
    schema = SCHEMA.with_metadata(metadata) if metadata else SCHEMA
    return pa.Table.from_arrays(
        [
            pa.array(np.asarray(row_id, dtype=np.int64)),
            pa.DictionaryArray.from_arrays(pa.array(np.asarray(app_codes, dtype=np.int8)),
                                           pa.array(list(ucdavis.CLASSES), type=pa.string())),
            pa.array(flow_ids, type=pa.string()),
            pa.array(partitions, type=pa.string()),
            pa.array(num_pkts),
            pa.array(timetofirst[ends]),
            pa.array(np.add.reduceat(np.asarray(sizes, dtype=np.int64), starts) if len(starts) else np.zeros(0, np.int64)),
            _list_array(offsets, np.asarray(unixtime, dtype=np.float64), "unixtime"),
            _list_array(offsets, timetofirst, "timetofirst"),
            _list_array(offsets, np.asarray(sizes, dtype=np.int16), "pkts_size"),
            _list_array(offsets, np.asarray(dirs, dtype=np.int8), "pkts_dir"),
            _list_array(offsets, iat, "pkts_iat"),
        ],
        schema=schema,
    )


# Flows per parquet row group: readers stream a dataset group by group, so memory stays bounded (~2 M packets).
ROW_GROUP_FLOWS = 256
# The two series every flowpic pass reads stay uncompressed (timetofirst does not compress anyway, and reading
# memory-mapped, uncompressed pages is the fastest path); the rest is zstd.
_FAST_COLUMNS = ("timetofirst", "pkts_size")


def parquet_options(schema: pa.Schema) -> dict[str, object]:
    """The fixed writer options of curated files (same table, byte-identical file), for write_table or a
    streaming ParquetWriter."""
    # Parquet names a list column's leaf "<name>.list.element"; per-column options must use that path.
    leaves = {name: f"{name}.list.element" if pa.types.is_list(schema.field(name).type) else name for name in schema.names}
    compression = {leaf: ("none" if name in _FAST_COLUMNS else "zstd") for name, leaf in leaves.items()}
    dictionary = [name for name in ("app", "partition") if name in schema.names]
    return {"compression": compression, "use_dictionary": dictionary, "write_statistics": False}


def write_curated_parquet(table: pa.Table, path: str | Path) -> Path:
    """Write a curated dataset atomically, with fixed options so the same table gives byte-identical files."""
    options = parquet_options(table.schema)
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp, row_group_size=ROW_GROUP_FLOWS, **options))
