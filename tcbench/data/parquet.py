"""Reading a curated dataset parquet: open it at its footer, read columns or one row group, unpack list columns.

Every failure is a :class:`DatasetError` that names the file (and the column or row group) and says how to get a
sound file again (:func:`rebuild_hint`, from the folder's ``dataset.json``), instead of a pyarrow traceback from
deep inside a run. The checks of what is read are in :mod:`tcbench.data.checks`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tcbench.data.sources import find_source

__all__ = ["DatasetError", "check_no_nulls", "dataset_folder", "list_values", "open_parquet", "read_columns",
           "read_row_group", "rebuild_hint"]


class DatasetError(ValueError):
    """A dataset file is missing, unreadable or does not have the curated schema."""


_DERIVED_FOLDERS = ("filtered", "splits")


def dataset_folder(parquet_path: str | Path) -> Path:
    """The dataset folder (the one holding dataset.json) of a curated parquet, of one of its filtered variants
    or of a splits file."""
    path = Path(parquet_path)
    return path.parent.parent if path.parent.name in _DERIVED_FOLDERS else path.parent


def rebuild_hint(parquet_path: str | Path) -> str:
    """How to get a sound file again, from the dataset folder's dataset.json (who produced the folder)."""
    folder = dataset_folder(parquet_path)
    try:
        spec = json.loads((folder / "dataset.json").read_text())
    except (OSError, ValueError):
        spec = {}
    path = Path(parquet_path)
    if path.parent.name == "splits" and path.name.startswith("train_splits"):
        return (f"delete it and re-run `tcbench datasets splits --dataset-dir {folder}` with the campaign's "
                "--n-splits and --samples-per-class (or re-run the workflow, which rebuilds it)")
    source = find_source(spec.get("source"))
    if source is None:
        return ("regenerate it (`tcbench datasets synth`) or re-import it (`tcbench datasets import NAME --raw ... "
                "--force`)")
    return source.rebuild_hint(spec, folder, derived=path.parent.name in _DERIVED_FOLDERS)


def open_parquet(parquet_path: str | Path) -> pq.ParquetFile:
    """The parquet file, opened at its footer only; a missing, truncated or foreign file raises DatasetError.

    A parquet writer puts the footer last, so a file cut anywhere (an interrupted copy, a full disk) has lost it:
    the check costs one small read at the end of the file. The caller closes the file (``with`` works).
    """
    path = Path(parquet_path)
    if not path.is_file():
        raise DatasetError(f"dataset file not found: {path}; {rebuild_hint(path)}")
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(
            f"{path}: truncated or corrupt parquet file ({path.stat().st_size} bytes: {exc}); {rebuild_hint(path)}"
        ) from exc


def read_row_group(parquet_path: str | Path, group: int, columns: Sequence[str]) -> pa.Table:
    """One row group through its own memory map; damage inside the file (the footer was intact) raises
    DatasetError naming the row group.

    Re-mapping per group releases the previous group's pages, which would otherwise stay resident until the
    whole file is closed; reading mapped, uncompressed pages is also ~25 % faster than buffered reads.
    """
    try:
        with pa.memory_map(str(parquet_path)) as source:
            return pq.ParquetFile(source).read_row_group(group, columns=list(columns), use_threads=False)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(
            f"{parquet_path}: row group {group} cannot be read, the file is corrupt ({exc}); {rebuild_hint(parquet_path)}"
        ) from exc


def read_columns(parquet_file: pq.ParquetFile, parquet_path: str | Path, columns: Sequence[str]) -> pa.Table:
    """Whole columns of an opened file; damage inside the file raises DatasetError naming the columns."""
    try:
        return parquet_file.read(columns=list(columns), use_threads=False)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(f"{parquet_path}: column(s) {list(columns)} cannot be read, the file is corrupt ({exc}); "
                           f"{rebuild_hint(parquet_path)}") from exc


def check_no_nulls(column: pa.ChunkedArray, name: str, parquet_path: str | Path) -> None:
    """DatasetError naming the rows when a column every flow needs has null values."""
    if column.null_count:
        rows = np.flatnonzero(column.is_null().to_numpy(zero_copy_only=False))[:5].tolist()
        raise DatasetError(f"{parquet_path}: column {name!r} has {column.null_count} null value(s) (rows {rows} ...); "
                           f"every flow needs one; {rebuild_hint(parquet_path)}")


def list_values(column: pa.ChunkedArray, name: str, parquet_path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(values, offsets starting at 0) of a list column, straight from the Arrow buffers. A null list counts as
    a flow without packets; a null packet value raises (numpy would turn it into NaN or a float array)."""
    arr = column.combine_chunks()
    offsets = arr.offsets.to_numpy().astype(np.int64)
    values = arr.values.slice(offsets[0], offsets[-1] - offsets[0])
    if values.null_count:
        raise DatasetError(f"{parquet_path}: column {name!r} has {values.null_count} null packet value(s); "
                           f"{rebuild_hint(parquet_path)}")
    return values.to_numpy(zero_copy_only=False), offsets - offsets[0]
