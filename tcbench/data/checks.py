"""Checks that a curated dataset parquet is usable, with errors that name the file, the column or the flow and
say how to fix it, instead of a pyarrow traceback from deep inside a run.

Two levels, by cost:

- per run (:func:`check_dataset_file`): the parquet footer, the schema and the ``app`` (and, for
  ucdavis-icdm19, ``partition``) column: a few milliseconds whatever the packet count, so every run can afford
  it before any expensive work; a truncated file fails here, at the footer, before a single page is decoded;
- per full scan (:func:`check_packet_series`): the steps that decode every packet anyway (flowpic building,
  reading packet series for augmentations or XGBoost) check the times of each row group they decode, one
  vectorised comparison (a few ms per million packets).

Decisions on bad input (docs/reliability.md):

- truncated or non-parquet file, missing column, column of the wrong type, null label, null packet value:
  :class:`DatasetError` naming the file and column, with the expected type or values and how to rebuild it;
- ``app`` labels of ucdavis-icdm19 outside its five classes, or one of the five classes without a flow: error
  (its class list is fixed: one model output per class, and the stratified splits draw from every class); other
  datasets take their class list from the labels present, so no class of theirs can be empty;
- a class without a flow in the training part of a run split: error (the model would never see it; the splits
  are stratified so this means too few flows were asked for). Classes missing from validation or test sets are
  allowed: the metrics simply have no sample of them;
- a flow with zero packets is valid: its flowpic is all zero, its packet-series features are zero, augmentations
  return all-zero flowpics for it; the full scan reports how many there are (a warning, not an error);
- packet times of a flow that decrease, are NaN, negative or infinite: error naming the flow's row_id and the
  packet. ``timetofirst`` is the non-decreasing time since the flow's first packet: flowpics would not care
  about the order, but inter-arrival features, packet loss's ``U(0, t_last)`` and time shift's "drop the first
  k packets" do, and unsorted times usually mean a broken import (the original's utmobilenet21 stored
  inter-arrival times in this column).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tcbench.data import ucdavis
from tcbench.data.dataset_info import CONTENT_INFO, footer_sha256, read_content_record
from tcbench.data.parquet import DatasetError, check_no_nulls, open_parquet, read_columns, rebuild_hint

if TYPE_CHECKING:
    from tcbench.data.labels import FlowLabels


# ---------------------------------------------------------------------------------------------------- schema
@dataclass(frozen=True)
class ColumnSpec:
    accepts: Callable[[pa.DataType], bool]
    expected: str


def _is_text(t: pa.DataType) -> bool:
    if pa.types.is_dictionary(t):
        t = t.value_type
    return pa.types.is_string(t) or pa.types.is_large_string(t)


def _list_of(item: Callable[[pa.DataType], bool]) -> Callable[[pa.DataType], bool]:
    return lambda t: (pa.types.is_list(t) or pa.types.is_large_list(t)) and item(t.value_type)


# What the readers rely on; the importers write narrower or wider integer types (int16 .. int64 sizes), all fine.
COLUMNS: dict[str, ColumnSpec] = {
    "row_id": ColumnSpec(pa.types.is_integer, "an integer type (row_id 0..N-1, one per flow), e.g. int64"),
    "app": ColumnSpec(_is_text, "string or dictionary<int8, string> (the class label of the flow)"),
    "partition": ColumnSpec(_is_text, "string (the partition of the flow)"),
    "timetofirst": ColumnSpec(_list_of(pa.types.is_floating),
                              "a list of floats, e.g. list<double> (seconds since the flow's first packet)"),
    "pkts_size": ColumnSpec(_list_of(pa.types.is_integer), "a list of integers, e.g. list<int16> (packet sizes in bytes)"),
    "pkts_dir": ColumnSpec(_list_of(pa.types.is_integer), "a list of integers, e.g. list<int8> (packet directions 0/1)"),
}
RUN_COLUMNS = ("row_id", "app", "timetofirst", "pkts_size", "pkts_dir")
FLOWPIC_COLUMNS = ("row_id", "timetofirst", "pkts_size")


def check_schema(schema: pa.Schema, parquet_path: str | Path, columns: Sequence[str] = RUN_COLUMNS) -> None:
    """Every needed column is present with a usable type; all problems are listed in one error."""
    problems = []
    for name in columns:
        spec = COLUMNS[name]
        if name not in schema.names:
            problems.append(f"missing column {name!r} (expected {spec.expected})")
        elif not spec.accepts(schema.field(name).type):
            problems.append(f"column {name!r} has type {schema.field(name).type}, expected {spec.expected}")
    if problems:
        raise DatasetError(f"{parquet_path}: not a curated dataset: {'; '.join(problems)}; {rebuild_hint(parquet_path)}")


# ---------------------------------------------------------------------------------------------------- labels
def _value_counts(column: pa.ChunkedArray) -> dict[str, int]:
    array = column.combine_chunks()
    if pa.types.is_dictionary(array.type):
        array = array.dictionary_decode()
    counts = pc.value_counts(array)
    return dict(zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist()))


def check_labels(app: pa.ChunkedArray, parquet_path: str | Path, dataset_name: str,
                 partition: pa.ChunkedArray | None = None) -> None:
    """No null label; ucdavis-icdm19: labels among its five classes, every class with flows, known partitions."""
    check_no_nulls(app, "app", parquet_path)
    counts = _value_counts(app)
    if dataset_name != ucdavis.DATASET_NAME:
        if len(counts) < 2:
            raise DatasetError(f"{parquet_path}: column 'app' holds {len(counts)} class(es) {sorted(counts)}; "
                               "classification needs at least 2")
        return
    unknown = sorted(set(counts) - set(ucdavis.CLASSES))
    if unknown:
        raise DatasetError(
            f"{parquet_path}: column 'app' holds label(s) {unknown} ({sum(counts[u] for u in unknown)} flows) that are "
            f"not {ucdavis.DATASET_NAME} classes; expected one of {list(ucdavis.CLASSES)}; {rebuild_hint(parquet_path)}")
    empty = [c for c in ucdavis.CLASSES if c not in counts]
    if empty:
        raise DatasetError(
            f"{parquet_path}: class(es) {empty} have no flow; every {ucdavis.DATASET_NAME} class needs flows (the "
            "model has one output per class and the stratified splits draw samples_per_class flows of each); "
            f"{rebuild_hint(parquet_path)}")
    if partition is not None:
        check_no_nulls(partition, "partition", parquet_path)
        bad = sorted(set(_value_counts(partition)) - set(ucdavis.PARTITIONS))
        if bad:
            raise DatasetError(f"{parquet_path}: column 'partition' holds {bad}; expected one of "
                               f"{list(ucdavis.PARTITIONS)}; {rebuild_hint(parquet_path)}")


def check_dataset_content(dataset_dir: str | Path, parquet_path: str | Path) -> str | None:
    """The parquet is the one its folder's content record describes (size and footer, a few ms); DatasetError
    otherwise. Returns a note when the folder has no record (made by an older tcbench: edits go unnoticed)."""

    record = read_content_record(dataset_dir)
    path = Path(parquet_path)
    if record is None or record.get("parquet") != path.name:
        return (f"{Path(dataset_dir) / CONTENT_INFO} not found: {path} is not checked against the data it was written "
                "with (a folder made by an older tcbench; rebuild it to have the check)")
    size = path.stat().st_size
    if size != record["bytes"] or footer_sha256(path) != record["footer_sha256"]:
        raise DatasetError(
            f"{path}: not the data this folder was made with ({size} bytes, recorded {record['bytes']}; sha256 "
            f"recorded {record['sha256'][:12]}): it was edited or replaced after it was written, and runs on it would "
            f"carry the identity of the original data; {rebuild_hint(path)}")
    return None


def check_dataset_file(parquet_path: str | Path, dataset_name: str = ucdavis.DATASET_NAME) -> None:
    """The per-run check: footer, schema, labels. Reads the footer and the small label columns, no packet, so
    a broken dataset fails in milliseconds, before the run loads flowpics or imports torch."""
    columns = RUN_COLUMNS + (("partition",) if dataset_name == ucdavis.DATASET_NAME else ())
    with open_parquet(parquet_path) as pf:
        check_schema(pf.schema_arrow, parquet_path, columns)
        if pf.metadata.num_rows == 0:
            raise DatasetError(f"{parquet_path}: the dataset holds no flow; {rebuild_hint(parquet_path)}")
        label_columns = [c for c in ("app", "partition") if c in columns]
        table = read_columns(pf, parquet_path, label_columns)
    partition = table.column("partition") if "partition" in label_columns else None
    check_labels(table.column("app"), parquet_path, dataset_name, partition)


def check_train_classes(labels: FlowLabels, train_rows: np.ndarray, where: str) -> None:
    """Every class of the dataset has at least one training flow; ``where`` names the split in the error."""
    present = np.bincount(labels.app[np.asarray(train_rows, dtype=np.int64)], minlength=len(labels.classes))
    empty = [labels.classes[c] for c in np.flatnonzero(present == 0)]
    if empty:
        raise DatasetError(
            f"{where}: class(es) {empty} have no training flow, so the model would never learn them; the splits are "
            "stratified, so this means fewer flows than asked for: use a larger dataset or fewer samples per class")


# ----------------------------------------------------------------------------------------------- packet series
def check_packet_series(times: np.ndarray, offsets: np.ndarray, row_ids: np.ndarray, parquet_path: str | Path) -> int:
    """Raise for a flow whose times are not finite, non-negative and non-decreasing; return the number of flows
    without packets.

    Two gathers (each flow's first and last time) and one comparison of neighbours: sorted times with a finite,
    non-negative first and last time are all finite and non-negative, and a NaN anywhere fails a comparison.
    """
    lengths = np.diff(offsets)
    non_empty = np.flatnonzero(lengths > 0)
    first, last = times[offsets[:-1][non_empty]], times[offsets[1:][non_empty] - 1]
    bad_ends = ~((first >= 0) & (last < np.inf))
    if bad_ends.any():
        k = int(non_empty[np.argmax(bad_ends)])
        t = times[offsets[k]:offsets[k + 1]]
        bad = np.flatnonzero(~((t >= 0) & (t < np.inf)))
        raise DatasetError(
            f"{parquet_path}: flow row_id={int(row_ids[k])} has packet time {float(t[bad[0]])} at packet {int(bad[0])}; "
            f"timetofirst must be finite and >= 0 (seconds since the flow's first packet); "
            f"{int(bad_ends.sum())} flow(s) of this row group have such times; {rebuild_hint(parquet_path)}")
    if len(times) > 1:
        ordered = times[1:] >= times[:-1]
        boundaries = offsets[1:-1]
        ordered[boundaries[(boundaries > 0) & (boundaries < len(times))] - 1] = True  # pairs across two flows
        if not ordered.all():
            bad_packets = np.flatnonzero(~ordered) + 1
            flows = np.searchsorted(offsets, bad_packets, side="right") - 1
            k, j = int(flows[0]), int(bad_packets[0])
            raise DatasetError(
                f"{parquet_path}: flow row_id={int(row_ids[k])} has decreasing packet times (packet {j - offsets[k]}: "
                f"{float(times[j - 1])} s then {float(times[j])} s); timetofirst must be non-decreasing (inter-arrival "
                f"features, packet loss and time shift rely on it); {len(np.unique(flows))} flow(s) of this row "
                f"group are unsorted; {rebuild_hint(parquet_path)}")
    return int(len(lengths) - len(non_empty))
