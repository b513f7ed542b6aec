"""The per-(dataset, dim) flowpic cache file shared by every run of a campaign.

Computing flowpics is the only pass over the ~45 M packets of a dataset; doing it once per (dataset, dim,
block duration) and letting each run load the small sparse matrix removes the original's per-run re-reading of
the whole parquet (14 s of its 36 s run). The file is an uncompressed ``.npz`` holding the CSR arrays, the
row_id of each row and the parameters it was built with, written atomically.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from tcbench.atomic import atomic_write
from tcbench.data.checks import FLOWPIC_COLUMNS, check_packet_series, check_schema
from tcbench.data.parquet import DatasetError, list_values, open_parquet, read_row_group, rebuild_hint
from tcbench.features.flowpic import DEFAULT_BLOCK_DURATION, PacketSeries, flowpic_matrix

STORE_FORMAT_VERSION = 1

log = logging.getLogger("tcbench.data")


@dataclass(frozen=True)
class FlowpicStore:
    """Flowpics of a whole dataset; row ``i`` belongs to the flow whose row_id is ``row_ids[i]``."""

    matrix: sp.csr_matrix
    row_ids: np.ndarray
    dim: int
    block_duration: float

    def rows_for(self, row_ids: np.ndarray) -> sp.csr_matrix:
        """Rows of the given row_ids, in that order (row_ids are 0..N-1 positions in curated datasets)."""
        positions = np.searchsorted(self.row_ids, row_ids)
        positions = np.clip(positions, 0, len(self.row_ids) - 1)
        if not np.array_equal(self.row_ids[positions], row_ids):
            missing = np.setdiff1d(row_ids, self.row_ids)[:5]
            raise KeyError(f"row_ids not in the flowpic store: {missing.tolist()} ...")
        return self.matrix[positions]


def iter_packet_series(parquet_path: str | Path) -> Iterator[tuple[np.ndarray, PacketSeries]]:
    """(row_ids, packet series) per parquet row group: memory stays bounded by one group, whatever the dataset.

    The footer and schema are checked before the first group is decoded, and each group's packet times as it
    is decoded (``checks.check_packet_series``): a broken file fails with a DatasetError naming the file, the
    column or the flow, not with a pyarrow or numpy error halfway through.
    """
    with open_parquet(parquet_path) as pf:
        check_schema(pf.schema_arrow, parquet_path, FLOWPIC_COLUMNS)
        n_groups = pf.metadata.num_row_groups
    for group in range(n_groups):
        table = read_row_group(parquet_path, group, FLOWPIC_COLUMNS)
        times, offsets = list_values(table.column("timetofirst"), "timetofirst", parquet_path)
        sizes, size_offsets = list_values(table.column("pkts_size"), "pkts_size", parquet_path)
        if not np.array_equal(offsets, size_offsets):
            raise DatasetError(f"{parquet_path}: timetofirst and pkts_size differ in length for some flow of row group {group}")
        row_ids = table.column("row_id").to_numpy()
        check_packet_series(times, offsets, row_ids, parquet_path)
        yield row_ids, PacketSeries(times, sizes, offsets)


def read_flow_series(parquet_path: str | Path, row_ids: np.ndarray, max_time: float) -> tuple[PacketSeries, np.ndarray]:
    """(packets with t < max_time, last packet time) of the given flows, in the order of ``row_ids``.

    Series augmentations need only the packets that can land in the flowpic window after the transform
    (change RTT scales time by >= 0.5, time shift moves it by <= 1 s) plus each flow's last time (packet loss
    draws its window over the whole flow); keeping just those bounds memory whatever the flows' lengths.
    """
    row_ids = np.asarray(row_ids, dtype=np.int64)
    if len(row_ids) == 0:
        return PacketSeries(np.zeros(0), np.zeros(0, dtype=np.int16), np.zeros(1, dtype=np.int64)), np.zeros(0)
    wanted = np.unique(row_ids)
    parts_ids, parts, lasts = [], [], []
    for ids, series in iter_packet_series(parquet_path):
        chosen = np.flatnonzero(np.isin(ids, wanted))
        if len(chosen):
            parts_ids.append(ids[chosen])
            lasts.append(series.last_times()[chosen])
            parts.append(series.take(chosen, max_time))
    found = np.concatenate(parts_ids) if parts_ids else np.zeros(0, dtype=np.int64)
    missing = np.setdiff1d(wanted, found)
    if len(missing):
        raise KeyError(f"{parquet_path}: row_ids not in the dataset: {missing[:5].tolist()}")
    merged = PacketSeries(
        np.concatenate([p.times for p in parts]),
        np.concatenate([p.sizes for p in parts]),
        np.concatenate([[0], np.cumsum(np.concatenate([np.diff(p.offsets) for p in parts]))]).astype(np.int64),
    )
    position = np.empty(int(found.max()) + 1, dtype=np.int64)
    position[found] = np.arange(len(found))
    order = position[row_ids]
    return merged.take(order), np.concatenate(lasts)[order]


def build_flowpic_store(parquet_path: str | Path, dim: int, block_duration: float = DEFAULT_BLOCK_DURATION) -> FlowpicStore:
    """Flowpics of every flow of a curated parquet, read once, row group by row group.

    Flows without packets get an all-zero flowpic (they are valid data, e.g. a flow whose packets all fell
    outside a capture); how many there are is logged, since many of them usually mean a broken import.
    """
    row_ids, parts, empty = [], [], 0
    for ids, series in iter_packet_series(parquet_path):
        row_ids.append(ids)
        parts.append(flowpic_matrix(series, dim, block_duration))
        empty += int(np.count_nonzero(np.diff(series.offsets) == 0))
    all_ids = np.concatenate(row_ids).astype(np.int64) if row_ids else np.zeros(0, dtype=np.int64)
    if len(all_ids) == 0:
        raise DatasetError(f"{parquet_path}: the dataset holds no flow; {rebuild_hint(parquet_path)}")
    if empty:
        log.warning("%s: %d of %d flows have no packet: their flowpics are all zero", parquet_path, empty, len(all_ids))
    matrix = parts[0] if len(parts) == 1 else sp.vstack(parts, format="csr", dtype=np.uint8)
    order = np.argsort(all_ids, kind="stable")
    if not np.array_equal(order, np.arange(len(order))):
        matrix, all_ids = matrix[order], all_ids[order]
    return FlowpicStore(matrix, all_ids, dim, float(block_duration))


def save_flowpic_store(store: FlowpicStore, path: str | Path) -> Path:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            np.savez(
                fh,
                format_version=np.int64(STORE_FORMAT_VERSION),
                data=store.matrix.data,
                indices=store.matrix.indices,
                indptr=store.matrix.indptr,
                shape=np.asarray(store.matrix.shape, dtype=np.int64),
                row_ids=store.row_ids,
                dim=np.int64(store.dim),
                block_duration=np.float64(store.block_duration),
            )

    return atomic_write(path, write, durable=True)


def load_flowpic_store(path: str | Path) -> FlowpicStore:
    path = Path(path)
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path}: not a readable flowpic store (not an .npz archive); delete it to rebuild")
    try:
        with np.load(path) as npz:
            version = int(npz["format_version"])
            if version != STORE_FORMAT_VERSION:
                raise ValueError(f"{path}: flowpic store format {version}, expected {STORE_FORMAT_VERSION}; delete it to rebuild")
            shape = tuple(int(x) for x in npz["shape"])
            matrix = sp.csr_matrix((npz["data"], npz["indices"], npz["indptr"]), shape=shape)
            return FlowpicStore(matrix, npz["row_ids"], int(npz["dim"]), float(npz["block_duration"]))
    except (OSError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a readable flowpic store ({exc}); delete it to rebuild") from exc
