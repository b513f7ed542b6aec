"""ucdavis-icdm19 from the authors' files (docs/original-behaviour.md, Datasets) into the curated parquet.

Input: the three archives ``pretraining.zip``, ``Retraining(human-triggered).zip``, ``Retraining(script-triggered).zip``
(or their extracted folders, or a folder holding them), each with one folder per class and one ``<Class>-<N>.txt``
per flow: one packet per line, four TAB-separated columns (unix time, seconds since the first packet, size,
direction 1 = upload). The partition comes from the archive or folder name, the class from the class folder (or,
without one, the file name prefix); a disagreement between the two is an error.

Flows are sorted by (partition, flow_id) and numbered in that order (the original's row_id). Files are parsed in
parts of about ``part_mb`` MB with one pyarrow CSV pass per part (the files of a part are concatenated, and the
line counts say where each flow ends), so throughput does not suffer from the 6 672 small files.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from tcbench.data import ucdavis
from tcbench.data.curated import SCHEMA, curated_table
from tcbench.data.importers.errors import RawDataError, RawFile
from tcbench.data.importers.staging import partition_parts

IMPORTER_VERSION = 1
__all__ = ["SCHEMA", "IMPORTER_VERSION", "discover", "partition_parts", "convert_part"]
# The authors' partition folder/archive names (lower-cased) and the curated names, both accepted.
_PARTITIONS = {
    "pretraining": ucdavis.PARTITION_PRETRAINING,
    "retraining(human-triggered)": ucdavis.PARTITION_HUMAN,
    "retraining(script-triggered)": ucdavis.PARTITION_SCRIPT,
    **{p: p for p in ucdavis.PARTITIONS},
}
_CLASS_BY_PREFIX = {prefix.lower(): app for app, prefix in ucdavis.FLOW_ID_PREFIX.items()}
_COLUMNS = ("unixtime", "timetofirst", "pkts_size", "pkts_dir")
_TYPES = {"unixtime": pa.float64(), "timetofirst": pa.float64(), "pkts_size": pa.int16(), "pkts_dir": pa.int8()}


@dataclass(frozen=True)
class FlowFile(RawFile):
    """One flow file and what its location says about it."""

    partition: str
    app: str
    flow_id: str


def _partition(parts: Sequence[str]) -> str | None:
    found = {_PARTITIONS[p.lower()] for p in parts if p.lower() in _PARTITIONS}
    if len(found) > 1:
        raise RawDataError(f"{'/'.join(parts)}: the path names two partitions {sorted(found)}")
    return found.pop() if found else None


def _classify(parts: Sequence[str], stem: str, where: str) -> str:
    folder = {p.lower().replace(" ", "-") for p in parts} & set(ucdavis.CLASSES)
    prefix = _CLASS_BY_PREFIX.get(stem.split("-", 1)[0].lower())
    if len(folder) > 1 or (folder and prefix and prefix not in folder):
        raise RawDataError(f"{where}: the class folder {sorted(folder)} and the file name prefix disagree")
    app = next(iter(folder)) if folder else prefix
    if app is None:
        raise RawDataError(f"{where}: cannot tell the class: no class folder ({[c.replace('-', ' ').title() for c in ucdavis.CLASSES]}) "
                           f"and the file name does not start with one of {sorted(ucdavis.FLOW_ID_PREFIX.values())}")
    return app


def _flow_file(archive: str | None, path: str, parts: Sequence[str], size: int) -> FlowFile | None:
    """The flow file at ``path``; ``parts`` are the folder names (archive name first) that locate it."""
    pure = PurePosixPath(path)
    if pure.suffix.lower() != ".txt" or "__MACOSX" in parts or pure.name.startswith("."):
        return None
    where = f"{archive}:{path}" if archive else path
    partition = _partition(parts)
    if partition is None:
        raise RawDataError(f"{where}: no partition folder or archive name in its path; expected one of "
                           "pretraining, Retraining(human-triggered), Retraining(script-triggered)")
    return FlowFile(path, archive, size, partition, _classify(parts, pure.stem, where), pure.stem)


def discover(raw: Sequence[Path], scratch: Path | None = None) -> list[FlowFile]:
    """Every flow file under the given archives and folders, sorted by (partition, flow_id). (Zip members are read
    in place: ``scratch`` is not needed.)"""
    files: list[FlowFile] = []
    for root in map(Path, raw):
        if not root.exists():
            raise RawDataError(f"{root}: no such file or folder; pass the three zip archives of ucdavis-icdm19 or the folder holding them")
        if root.is_file() and root.suffix.lower() != ".zip":
            raise RawDataError(f"{root}: not a zip archive or folder; ucdavis-icdm19 comes as three .zip files")
        for archive in [root] if root.is_file() else sorted(root.rglob("*.zip")):
            files += _archive_files(archive)
        if root.is_dir():
            for path in sorted(root.rglob("*.txt")):
                rel = path.relative_to(root)
                flow = _flow_file(None, str(path), [root.name, *rel.parts[:-1]], path.stat().st_size)
                if flow is not None:
                    files.append(flow)
    if not files:
        raise RawDataError(f"no flow file (*.txt) found in {[str(p) for p in raw]}")
    files.sort(key=lambda f: (f.partition, f.flow_id))
    seen: dict[tuple[str, str], str] = {}
    for f in files:
        previous = seen.setdefault((f.partition, f.flow_id), f.where)
        if previous != f.where:
            raise RawDataError(f"flow {f.flow_id} of {f.partition} appears twice: {previous} and {f.where}")
    return files


def _archive_files(archive: Path) -> list[FlowFile]:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile as exc:
        raise RawDataError(f"{archive}: not a readable zip archive ({exc}); is the download complete?") from None
    out = []
    for info in infos:
        if not info.is_dir():
            flow = _flow_file(str(archive), info.filename, [archive.stem, *PurePosixPath(info.filename).parts[:-1]],
                              info.file_size)
            if flow is not None:
                out.append(flow)
    return out


# Open archives of this process: reading a zip's central directory (6 439 entries for pretraining.zip) once
# instead of once per part. Keyed by pid: a forked worker must not share its parent's file offset.
_ARCHIVES: dict[tuple[int, str, int, int], zipfile.ZipFile] = {}


def _archive(path: str) -> zipfile.ZipFile:
    stat = os.stat(path)
    key = (os.getpid(), path, stat.st_mtime_ns, stat.st_size)
    if key not in _ARCHIVES:
        _ARCHIVES[key] = zipfile.ZipFile(path)
    return _ARCHIVES[key]


def _read(files: Sequence[FlowFile]) -> list[bytes]:
    blobs = []
    for f in files:
        if f.archive is None:
            blobs.append(Path(f.path).read_bytes())
            continue
        try:
            blobs.append(_archive(f.archive).read(f.path))
        except (zipfile.BadZipFile, EOFError, OSError, KeyError, zlib.error) as exc:
            raise RawDataError(f"{f.where}: cannot read ({exc}); the archive looks truncated or corrupt") from None
    return blobs


def _parse(data: bytes) -> pa.Table:
    return pacsv.read_csv(
        pa.py_buffer(data),
        read_options=pacsv.ReadOptions(column_names=list(_COLUMNS), use_threads=False, block_size=1 << 24),
        parse_options=pacsv.ParseOptions(delimiter="\t", ignore_empty_lines=False),
        convert_options=pacsv.ConvertOptions(column_types=_TYPES, strings_can_be_null=False),
    )


def _clean(blob: bytes, f: FlowFile) -> bytes:
    text = (blob.replace(b"\r\n", b"\n") if b"\r" in blob else blob).strip()
    if not text:
        raise RawDataError(f"{f.where}: empty flow file")
    return text


def convert_part(files: list[FlowFile]) -> pa.Table:
    """The curated rows of one part: parse all its files in one CSV pass, then build the list columns (row_id -1:
    numbered when the parts are assembled, in the sorted order of ``discover``)."""
    blobs = [_clean(b, f) for b, f in zip(_read(files), files)]
    counts = np.array([b.count(b"\n") + 1 for b in blobs], dtype=np.int64)
    try:
        table = _parse(b"\n".join(blobs) + b"\n")
        bad = table.num_rows != counts.sum() or any(table.column(c).null_count for c in _COLUMNS)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        bad = True
    if bad:
        _locate_error(blobs, files)
    dirs = table.column("pkts_dir").to_numpy()
    if not np.isin(dirs, (0, 1)).all():
        flow = int(np.searchsorted(np.cumsum(counts), np.flatnonzero(~np.isin(dirs, (0, 1)))[0], side="right"))
        raise RawDataError(f"{files[flow].where}: direction must be 0 (download) or 1 (upload)")
    return curated_table(
        np.full(len(files), -1), np.array([ucdavis.CLASSES.index(f.app) for f in files]),
        [f.flow_id for f in files], [f.partition for f in files], counts, table.column("unixtime").to_numpy(),
        table.column("timetofirst").to_numpy(), table.column("pkts_size").to_numpy(), dirs,
    )


def _locate_error(blobs: Sequence[bytes], files: Sequence[FlowFile]) -> None:
    """Parse file by file to name the file (and pyarrow's row) that breaks the part."""
    for blob, f in zip(blobs, files):
        try:
            table = _parse(blob + b"\n")
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise RawDataError(f"{f.where}: not a ucdavis-icdm19 flow file (4 TAB-separated columns: unix time, "
                               f"time to first, size, direction): {exc}") from None
        if any(table.column(c).null_count for c in _COLUMNS):
            raise RawDataError(f"{f.where}: empty values; expected 4 TAB-separated numbers per line")
    raise RawDataError(f"files {files[0].where} .. {files[-1].where}: unexpected parse failure")
