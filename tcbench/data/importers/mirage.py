"""MIRAGE-2019 and MIRAGE-COVID-CCMA-2022 from the authors' JSON biflow files (docs/original-behaviour.md,
Datasets) into curated parquet files.

Input: the authors' archive (mirage19: ``MIRAGE-2019_traffic_dataset_downloadable_v2.tar.gz``; mirage22:
``MIRAGE-COVID-CCMA-2022.zip``, which holds one zip per app), any zip or tar of the JSON files, or a folder. Each
``<unixtime>_<android.package>_<suffix>.json`` file is a dict keyed by ``"src_ip,src_port,dst_ip,dst_port,proto"``
with ``packet_data`` (per-packet arrays: the first 32 packets in mirage19, all of them in mirage22),
``flow_features`` and ``flow_metadata``. Files are parsed biflow by biflow (``iter_biflows``), so memory holds one
file's text and one biflow's objects, never a whole file's object tree; nested zips are copied out in a stream.

Outputs, as the original (without the raw payload bytes and the strings scanned from them, which no model reads):
- ``<name>.parquet``: every biflow (the "unfiltered" file): conn_id and its five fields, device and android
  names, ``app`` (the android name when the biflow's label equals it, else ``background``), the label metadata,
  ``packets`` and the series ``pkts_size`` (L4 payload bytes), ``pkts_dir`` (0 = upstream, client to server, as the
  authors encode it) and ``timetofirst`` (cumulative sum of the inter-arrival times); mirage22 also
  ``flow_metadata_bf_activity``, and its biflows of activity ``Unknown`` are background too;
- ``filtered/<name>_filtered_minpkts<n>.parquet`` (n = 10; mirage22 also 1000): zero-payload packets (ACKs) removed
  from the series, then biflows with more than n packets left, not background, of classes with more than 100 such
  biflows; row_id renumbered;
- ``splits/<name>_filtered_minpkts<n>_splits.parquet``: 5 stratified splits, split i: 10 % test with
  ``random_state = 12345 + i``, the rest 90/10 train/val with ``random_state = 2 * (12345 + i)`` (sklearn).
"""

from __future__ import annotations

import json
import re
import shutil
import tarfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tcbench.atomic import atomic_write
from tcbench.data.curated import ROW_GROUP_FLOWS, parquet_options, series_type
from tcbench.data.importers.errors import RawDataError, RawFile
from tcbench.data.importers.staging import partition_parts

IMPORTER_VERSION = 1
BACKGROUND = "background"
MIN_FLOWS_PER_CLASS = 100
N_SPLITS = 5
SPLIT_SEED = 12345


_COLUMNS = [
    ("row_id", pa.int64()),
    ("conn_id", pa.string()),
    ("src_ip", pa.string()),
    ("src_port", pa.int32()),
    ("dst_ip", pa.string()),
    ("dst_port", pa.int32()),
    ("proto", pa.int16()),
    ("device_name", pa.string()),
    ("android_name", pa.string()),
    ("app", pa.string()),
    ("flow_metadata_bf_label", pa.string()),
    ("flow_metadata_bf_labeling_type", pa.string()),
    ("flow_metadata_bf_num_packets", pa.int64()),
    ("flow_metadata_bf_l4_payload_bytes", pa.int64()),
    ("flow_metadata_bf_duration", pa.float64()),
]
_SERIES = [("packets", pa.int64()), ("pkts_size", series_type(pa.int32())), ("pkts_dir", series_type(pa.int8())),
           ("timetofirst", series_type(pa.float64()))]
SERIES = ("pkts_size", "pkts_dir", "timetofirst")


@dataclass(frozen=True)
class Variant:
    """What differs between MIRAGE-2019 and MIRAGE-COVID-CCMA-2022."""

    name: str
    suffix: str  # file name after "<unixtime>_<android.package>"
    min_pkts: tuple[int, ...]
    with_activity: bool  # flow_metadata_bf_activity column; activity "Unknown" is background

    @property
    def schema(self) -> pa.Schema:
        extra = [("flow_metadata_bf_activity", pa.string())] if self.with_activity else []
        return pa.schema(_COLUMNS + extra + _SERIES)


MIRAGE19 = Variant("mirage19", "_MIRAGE-2019_traffic_dataset_labeled_biflows.json", (10,), with_activity=False)
MIRAGE22 = Variant("mirage22", "_mirage2020dataset_labeled_biflows_all_packets_encryption_metadata.json", (10, 1000),
                   with_activity=True)


@dataclass(frozen=True)
class JsonFile(RawFile):
    """One biflow file (tar inputs and nested zips are copied out first) and the names its path gives."""

    device_name: str
    android_name: str


def _json_file(variant: Variant, path: str, archive: str | None, size: int) -> JsonFile | None:
    pure = Path(path)
    if not pure.name.endswith(variant.suffix) or pure.name.startswith("."):
        return None
    timestamp, _, android = pure.name[: -len(variant.suffix)].partition("_")
    if not timestamp.isdigit() or not android:
        raise RawDataError(f"{path}: not a {variant.name} file name (<unixtime>_<android.package>{variant.suffix})")
    return JsonFile(path, archive, size, pure.parent.name, android)


def extract_tar(archive: Path, into: Path) -> Path:
    """Extract the JSON files of a tar archive (one stream: gzip has no random access) into ``into``, skipping
    files already extracted with the right size (an interrupted extraction resumes)."""
    try:
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                if not member.isfile() or not member.name.endswith(".json"):
                    continue
                target = into / member.name
                if target.exists() and target.stat().st_size == member.size:
                    continue
                source = tar.extractfile(member)
                assert source is not None
                atomic_write(target, lambda tmp, src=source: _copy_stream(src, tmp))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise RawDataError(f"{archive}: not a readable tar archive ({exc}); is the download complete?") from None
    return into


def _copy_stream(source: Any, target: Path) -> None:
    with open(target, "wb") as out:
        shutil.copyfileobj(source, out, 16 * 2**20)


def _zip_files(variant: Variant, archive: Path, scratch: Path | None) -> list[JsonFile]:
    """The JSON files of a zip; zips inside it (mirage22: one per app) are copied out to ``scratch`` and read."""
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            files = [f for i in infos if (f := _json_file(variant, i.filename, str(archive), i.file_size)) is not None]
            for info in (i for i in infos if i.filename.lower().endswith(".zip")):
                if scratch is None:
                    raise RawDataError(f"{archive}: holds zip archives; a scratch folder is needed to read them")
                inner = scratch / info.filename
                if not (inner.exists() and inner.stat().st_size == info.file_size):
                    with zf.open(info) as source:
                        atomic_write(inner, lambda tmp, src=source: _copy_stream(src, tmp))
                files += _zip_files(variant, inner, scratch / Path(info.filename).stem)
    except (zipfile.BadZipFile, EOFError, OSError) as exc:
        raise RawDataError(f"{archive}: not a readable zip archive ({exc}); is the download complete?") from None
    return files


def discover(variant: Variant, raw: Sequence[Path], scratch: Path | None = None) -> list[JsonFile]:
    """Every biflow file under the given folders and archives (tar archives are extracted to ``scratch``)."""
    files: list[JsonFile] = []
    for root in map(Path, raw):
        if not root.exists():
            raise RawDataError(f"{root}: no such file or folder; pass the {variant.name} archive or its extracted folder")
        if root.is_file() and root.name.endswith((".tar.gz", ".tgz", ".tar")):
            if scratch is None:
                raise RawDataError(f"{root}: a tar archive needs a scratch folder to extract to")
            root = extract_tar(root, scratch / root.name.split(".")[0])
        if root.is_file():
            if root.suffix.lower() != ".zip":
                raise RawDataError(f"{root}: not a folder, .zip or .tar.gz; {variant.name} comes as an archive of JSON files")
            files += _zip_files(variant, root, scratch)
        else:
            files += [f for p in sorted(root.rglob("*.json")) if (f := _json_file(variant, str(p), None, p.stat().st_size))]
            for inner in sorted(root.rglob("*.zip")):
                files += _zip_files(variant, inner, scratch)
    if not files:
        raise RawDataError(f"no {variant.name} biflow file (*{variant.suffix}) found in {[str(p) for p in raw]}")
    return sorted(files, key=lambda f: (f.device_name, Path(f.path).name))


_SPACE = re.compile(r"\s*")


def iter_biflows(text: str, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(conn_id, biflow) of a MIRAGE JSON object, decoded one biflow at a time."""
    decoder = json.JSONDecoder()
    try:
        i = _SPACE.match(text, 0).end()  # type: ignore[union-attr]
        if text[i : i + 1] != "{":
            raise RawDataError(f"{where}: expected a JSON object keyed by 'src_ip,src_port,dst_ip,dst_port,proto'")
        i = _SPACE.match(text, i + 1).end()  # type: ignore[union-attr]
        while text[i : i + 1] != "}":
            key, i = decoder.raw_decode(text, i)
            i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
            if text[i : i + 1] != ":":
                raise json.JSONDecodeError("expected ':'", text, i)
            value, i = decoder.raw_decode(text, _SPACE.match(text, i + 1).end())  # type: ignore[union-attr]
            yield key, value
            i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
            if text[i : i + 1] == ",":
                i = _SPACE.match(text, i + 1).end()  # type: ignore[union-attr]
            elif text[i : i + 1] != "}":
                raise json.JSONDecodeError("expected ',' or '}'", text, i)
    except json.JSONDecodeError as exc:
        raise RawDataError(f"{where}: invalid or truncated JSON ({exc.msg} at line {exc.lineno} col {exc.colno})") from None


# A biflow key ("src_ip,src_port,dst_ip,dst_port,proto", IPv4 or IPv6) opening its object.
_KEY = re.compile(r'"([0-9A-Fa-f:.]+,\d+,[0-9A-Fa-f:.]+,\d+,\d+)"\s*:\s*\{')
_METADATA = re.compile(r'"flow_metadata"\s*:\s*')
_ARRAYS = {name: re.compile(rf'"{name}"\s*:\s*\[') for name in ("L4_payload_bytes", "packet_dir", "iat")}


class _FastPathMiss(Exception):
    """The text is not laid out as the fast path expects: decode it fully (which also names any error)."""


def _array(segment: str, name: str, dtype: type) -> np.ndarray:
    match = _ARRAYS[name].search(segment)
    if match is None:
        raise _FastPathMiss(name)
    end = segment.find("]", match.end())
    body = segment[match.end() : end].strip()
    if end < 0 or "[" in body:
        raise _FastPathMiss(name)
    if not body:
        return np.zeros(0, dtype=dtype)
    values = np.fromstring(body, sep=",", dtype=np.float64 if dtype is np.float64 else np.int64)
    if len(values) != body.count(",") + 1:  # fromstring stops at the first token it cannot read
        raise _FastPathMiss(name)
    return values.astype(dtype, copy=False)


def fast_biflows(text: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(conn_id, biflow) with only what curation reads: the three packet arrays parsed straight from the text into
    numpy and the small ``flow_metadata`` object decoded; ``flow_features`` and the other per-packet arrays (the bulk
    of a mirage22 file) are never turned into Python objects. Raises _FastPathMiss on an unexpected layout."""
    if not text.rstrip().endswith("}"):
        raise _FastPathMiss("truncated")
    decoder = json.JSONDecoder()
    keys = list(_KEY.finditer(text))
    for k, key in enumerate(keys):
        segment = text[key.end() : keys[k + 1].start() if k + 1 < len(keys) else len(text)]
        meta = _METADATA.search(segment)
        if meta is None:
            raise _FastPathMiss("flow_metadata")
        try:
            metadata, _ = decoder.raw_decode(segment, meta.end())
        except json.JSONDecodeError:
            raise _FastPathMiss("flow_metadata") from None
        packets = {"L4_payload_bytes": _array(segment, "L4_payload_bytes", np.int32),
                   "packet_dir": _array(segment, "packet_dir", np.int8), "iat": _array(segment, "iat", np.float64)}
        yield key.group(1), {"packet_data": packets, "flow_metadata": metadata}


def read_biflows(text: str, where: str) -> list[tuple[str, dict[str, Any]]]:
    """The biflows of one file: the fast path, or the full decode (which names any error) when its layout differs."""
    try:
        return list(fast_biflows(text))
    except (_FastPathMiss, ValueError):
        return list(iter_biflows(text, where))


def _text(f: JsonFile) -> str:
    try:
        if f.archive:
            with zipfile.ZipFile(f.archive) as zf:
                return zf.read(f.path).decode()
        return Path(f.path).read_text()
    except (zipfile.BadZipFile, OSError, KeyError, UnicodeDecodeError) as exc:
        raise RawDataError(f"{f.where}: cannot read ({exc})") from None


def _row(variant: Variant, f: JsonFile, conn_id: str, biflow: dict[str, Any]) -> tuple[list[Any], np.ndarray, np.ndarray, np.ndarray]:
    try:
        packet, meta = biflow["packet_data"], biflow["flow_metadata"]
        src_ip, src_port, dst_ip, dst_port, proto = conn_id.split(",")
        label = meta["BF_label"]
        activity = meta.get("BF_activity")
        background = label != f.android_name or (variant.with_activity and activity == "Unknown")
        row = [-1, conn_id, src_ip, int(src_port), dst_ip, int(dst_port), int(proto), meta.get("BF_device", f.device_name),
               f.android_name, BACKGROUND if background else f.android_name, label, meta.get("BF_labeling_type"),
               int(meta["BF_num_packets"]), int(meta["BF_L4_payload_bytes"]), float(meta["BF_duration"])]
        if variant.with_activity:
            row.append(activity)
        arrays = (np.asarray(packet["L4_payload_bytes"], dtype=np.int32), np.asarray(packet["packet_dir"], dtype=np.int8),
                  np.asarray(packet["iat"], dtype=np.float64))
    except (KeyError, ValueError, TypeError) as exc:
        raise RawDataError(f"{f.where}: biflow {conn_id!r} lacks or mangles {exc}; not a MIRAGE biflow record") from None
    if not len(arrays[0]) == len(arrays[1]) == len(arrays[2]):
        raise RawDataError(f"{f.where}: biflow {conn_id!r}: packet arrays of different lengths")
    return row, *arrays


def flow_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Per-flow cumulative sums of flat per-packet values (flow i owns the next ``counts[i]``) in one pass: the
    global cumsum minus its value before each flow. Times to first from inter-arrival times."""
    cumulative = np.cumsum(np.asarray(values, dtype=np.float64))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    before = np.concatenate([[0.0], cumulative])[starts]
    return cumulative - np.repeat(before, counts)


def convert_part(variant: Variant, files: list[JsonFile]) -> pa.Table:
    """The unfiltered rows of the biflows of ``files`` (row_id -1: numbered when the parts are assembled)."""
    schema = variant.schema
    rows, sizes, dirs, iats = [], [], [], []
    for f in files:
        for conn_id, biflow in read_biflows(_text(f), f.where):
            row, size, direction, iat = _row(variant, f, conn_id, biflow)
            rows.append(row)
            sizes.append(size)
            dirs.append(direction)
            iats.append(iat)
    counts = np.array([len(s) for s in sizes], dtype=np.int64)
    offsets_np = np.concatenate([[0], np.cumsum(counts)])
    iat = np.concatenate(iats) if iats else np.zeros(0)
    offsets = pa.array(offsets_np.astype(np.int32))
    scalar_names = [n for n in schema.names if n not in ("packets", *SERIES)]
    arrays = [pa.array([r[k] for r in rows], type=schema.field(name).type) for k, name in enumerate(scalar_names)]
    arrays.append(pa.array(counts))
    for name, flat in (("pkts_size", sizes), ("pkts_dir", dirs), ("timetofirst", None)):
        values = flow_cumsum(iat, counts) if flat is None else (np.concatenate(flat) if flat else np.zeros(0))
        arrays.append(pa.ListArray.from_arrays(offsets, pa.array(values, type=schema.field(name).type.value_type),
                                               type=schema.field(name).type))
    return pa.table(arrays, schema=schema)


def _flat(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    arr = column.combine_chunks()
    offsets = arr.offsets.to_numpy().astype(np.int64)
    return arr.values.to_numpy(zero_copy_only=False)[offsets[0] : offsets[-1]], offsets - offsets[0]


def _kept_packets(table: pa.Table, drop_empty_packets: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(packet keep mask, per-flow offsets into the kept packets, kept packets per flow)."""
    sizes, offsets = _flat(table.column("pkts_size"))
    keep = sizes > 0 if drop_empty_packets else np.ones(len(sizes), dtype=bool)
    new_offsets = np.concatenate([[0], np.cumsum(keep)])[offsets]
    return keep, new_offsets, np.diff(new_offsets)


def chosen_flows(apps: np.ndarray, packets: np.ndarray, min_pkts: int, min_flows: int = MIN_FLOWS_PER_CLASS) -> np.ndarray:
    """Mask of the flows the filter keeps: more than ``min_pkts`` packets left, not background, of classes with
    more than ``min_flows`` such flows."""
    candidate = (packets > min_pkts) & (apps != BACKGROUND)
    names, counts = np.unique(apps[candidate], return_counts=True)
    return candidate & np.isin(apps, names[counts > min_flows])


def select_flows(table: pa.Table, chosen: np.ndarray, drop_empty_packets: bool, first_row: int = 0) -> pa.Table:
    """Rows ``chosen`` (indices) of ``table`` with their zero-payload packets dropped, row_id from ``first_row``."""
    keep, new_offsets, packets = _kept_packets(table, drop_empty_packets)
    starts, ends = new_offsets[chosen], new_offsets[chosen + 1]
    lengths = ends - starts
    index = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(lengths.sum())
    offsets = pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32))
    out = table.take(pa.array(chosen, type=pa.int64())).drop_columns(list(SERIES))
    out = out.set_column(out.schema.get_field_index("row_id"), "row_id",
                         pa.array(np.arange(first_row, first_row + len(chosen), dtype=np.int64)))
    out = out.set_column(out.schema.get_field_index("packets"), "packets", pa.array(packets[chosen]))
    for name in SERIES:
        values = _flat(table.column(name))[0][keep][index]
        out = out.append_column(table.schema.field(name), pa.ListArray.from_arrays(offsets, pa.array(values),
                                                                                   type=table.schema.field(name).type))
    return out.select(table.column_names)


def filter_flows(table: pa.Table, min_pkts: int, min_flows: int = MIN_FLOWS_PER_CLASS, drop_empty_packets: bool = True) -> pa.Table:
    """The original's filter on an in-memory table: drop zero-payload packets (MIRAGE; not UTMobileNet), then keep
    flows with more than ``min_pkts`` packets left that are not background, of classes with more than ``min_flows``
    of them; renumber row_id. ``write_filtered_stream`` does the same row group by row group."""
    packets = _kept_packets(table, drop_empty_packets)[2]
    apps = np.asarray(table.column("app").to_pylist(), dtype=object)
    return select_flows(table, np.flatnonzero(chosen_flows(apps, packets, min_pkts, min_flows)), drop_empty_packets)


def filter_parquet(parquet: Path, out_path: Path, min_pkts: int, drop_empty_packets: bool = True) -> np.ndarray:
    """``filter_flows`` streamed: a first pass over the row groups reads labels and packet sizes to choose the
    flows, a second writes them group by group (memory: one row group, whatever the dataset's size). Returns the
    labels of the kept flows, in row order."""
    source = pq.ParquetFile(parquet)
    apps, packets = [], []
    for group in range(source.num_row_groups):
        table = source.read_row_group(group, columns=["app", "pkts_size"])
        apps.append(np.asarray(table.column("app").to_pylist(), dtype=object))
        packets.append(_kept_packets(table, drop_empty_packets)[2])
    sizes = [len(a) for a in apps]
    chosen = chosen_flows(np.concatenate(apps) if apps else np.zeros(0, object),
                          np.concatenate(packets) if packets else np.zeros(0, np.int64), min_pkts)
    kept_apps = np.concatenate(apps)[chosen] if apps else np.zeros(0, object)

    def write(tmp: Path) -> None:
        with pq.ParquetWriter(tmp, source.schema_arrow, **parquet_options(source.schema_arrow)) as writer:
            first, row = 0, 0
            for group, size in enumerate(sizes):
                local = np.flatnonzero(chosen[first : first + size])
                first += size
                if len(local):
                    part = select_flows(source.read_row_group(group), local, drop_empty_packets, row)
                    writer.write_table(part, row_group_size=ROW_GROUP_FLOWS)
                    row += len(local)
            if row == 0:
                writer.write_table(source.schema_arrow.empty_table())

    atomic_write(out_path, write)
    return kept_apps


def stratified_splits(labels: np.ndarray, n_splits: int = N_SPLITS, seed: int = SPLIT_SEED) -> pa.Table:
    """The original's index-only splits: split i = 10 % test (random_state seed + i), the rest 90/10 train/val
    (random_state 2 * (seed + i)), stratified by class."""
    from sklearn.model_selection import train_test_split

    rows = np.arange(len(labels))
    out: dict[str, list] = {"split_index": [], "train_indexes": [], "val_indexes": [], "test_indexes": []}
    for i in range(n_splits):
        rest, test = train_test_split(rows, test_size=0.1, random_state=seed + i, stratify=labels)
        train, val = train_test_split(rest, test_size=0.1, random_state=2 * (seed + i), stratify=labels[rest])
        for name, value in (("split_index", i), ("train_indexes", train), ("val_indexes", val), ("test_indexes", test)):
            out[name].append(value if name == "split_index" else np.sort(value).tolist())
    return pa.table(out)


def write_filtered(out_dir: Path, stem: str, parquet: Path, min_pkts: int, drop_empty_packets: bool = True) -> list[Path]:
    """``filtered/<stem>.parquet`` (streamed from ``parquet``) and, unless no class is left (a partial download),
    ``splits/<stem>_splits.parquet``."""
    path = out_dir / "filtered" / f"{stem}.parquet"
    labels = filter_parquet(parquet, path, min_pkts, drop_empty_packets)
    if not len(labels):
        return [path]
    splits = stratified_splits(labels.astype(str))
    split_path = out_dir / "splits" / f"{stem}_splits.parquet"
    atomic_write(split_path, lambda tmp: pq.write_table(splits, tmp))
    return [path, split_path]


def derive(variant: Variant, out_dir: Path, parquet: Path) -> list[Path]:
    """Write the filtered variants and their splits next to the unfiltered file; return the written paths."""
    return [path for threshold in variant.min_pkts
            for path in write_filtered(out_dir, f"{variant.name}_filtered_minpkts{threshold}", parquet, threshold)]


def bound(variant: Variant) -> SimpleNamespace:
    """The importer interface of one variant (see ``tcbench.data.importers.IMPORTERS``); partials of top-level
    functions, so the converter pickles into worker processes."""
    return SimpleNamespace(IMPORTER_VERSION=IMPORTER_VERSION, SCHEMA=variant.schema, discover=partial(discover, variant),
                           partition_parts=partition_parts, convert_part=partial(convert_part, variant),
                           derive=partial(derive, variant))
