"""A curated ucdavis-icdm19 written back in the authors' raw format: three zip archives with one folder per class
and one TAB-separated ``<flow_id>.txt`` per flow (unix time, time to first, size, direction).

It makes raw inputs of realistic size from the synthetic dataset (the real archives cannot be downloaded here), for
the importer's round-trip tests and its throughput benchmark. Floats are written in their shortest round-trip form,
so importing the export gives back the same values.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from tcbench.data import ucdavis

ARCHIVE_BY_PARTITION = {
    ucdavis.PARTITION_PRETRAINING: "pretraining",
    ucdavis.PARTITION_HUMAN: "Retraining(human-triggered)",
    ucdavis.PARTITION_SCRIPT: "Retraining(script-triggered)",
}
CLASS_FOLDERS = {"google-doc": "Google Doc", "google-drive": "Google Drive", "google-music": "Google Music",
                 "google-search": "Google Search", "youtube": "Youtube"}
_WRITE = pacsv.WriteOptions(include_header=False, delimiter="\t", quoting_style="none")


def _lines(table: pa.Table) -> tuple[bytes, np.ndarray]:
    """The TSV text of the packets of ``table`` and the byte offset where each line starts (plus the end)."""
    flat = pa.table({name: table.column(name).combine_chunks().flatten()
                     for name in ("unixtime", "timetofirst", "pkts_size", "pkts_dir")})
    buffer = io.BytesIO()
    pacsv.write_csv(flat, buffer, write_options=_WRITE)
    data = buffer.getvalue()
    newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    return data, np.concatenate([[0], newlines + 1])


def export_ucdavis_raw(parquet: str | Path, out_dir: str | Path, compresslevel: int = 1) -> list[Path]:
    """Write ``<out_dir>/<archive>.zip`` for every partition present; return the archive paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    archives: dict[str, zipfile.ZipFile] = {}
    try:
        for batch in pq.ParquetFile(parquet).iter_batches(
                columns=["app", "flow_id", "partition", "num_pkts", "unixtime", "timetofirst", "pkts_size", "pkts_dir"]):
            table = pa.Table.from_batches([batch])
            data, starts = _lines(table)
            first_line = np.concatenate([[0], np.cumsum(table.column("num_pkts").to_numpy())])
            apps = table.column("app").cast(pa.string()).to_pylist()
            for i, (flow_id, partition) in enumerate(zip(table.column("flow_id").to_pylist(), table.column("partition").to_pylist())):
                name = ARCHIVE_BY_PARTITION[partition]
                if name not in archives:
                    archives[name] = zipfile.ZipFile(out_dir / f"{name}.zip", "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel)
                text = data[starts[first_line[i]] : starts[first_line[i + 1]]]
                archives[name].writestr(f"{name}/{CLASS_FOLDERS[apps[i]]}/{flow_id}.txt", text)
    finally:
        for archive in archives.values():
            archive.close()
    return sorted(out_dir / f"{name}.zip" for name in archives)
