"""MIRAGE-2019 from the authors' JSON biflow files (reference datasets-and-results.md A.3) into curated parquet files.

Input: ``MIRAGE-2019_traffic_dataset_downloadable_v2.tar.gz``, a zip of it, or the extracted folder: one folder per
device holding ``<unixtime>_<android.package>_MIRAGE-2019_traffic_dataset_labeled_biflows.json`` files, each a dict
keyed by ``"src_ip,src_port,dst_ip,dst_port,proto"`` with ``packet_data`` (per-packet arrays, the first 32 packets),
``flow_features`` and ``flow_metadata``.

Outputs, as the original (without the raw payload bytes and the strings scanned from them, which no model reads):
- ``mirage19.parquet``: every biflow (the "unfiltered" file): conn_id and its five fields, device and android
  names, ``app`` (the android name when the biflow's label equals it, else ``background``), the label metadata,
  ``packets`` and the series ``pkts_size`` (L4 payload bytes), ``pkts_dir`` (0 = upstream, client to server, as the
  authors encode it) and ``timetofirst`` (cumulative sum of the inter-arrival times);
- ``filtered/mirage19_filtered_minpkts10.parquet``: zero-payload packets (ACKs) removed from the series, then biflows
  with more than 10 packets left, not background, of classes with more than 100 such biflows; row_id renumbered;
- ``splits/mirage19_filtered_minpkts10_splits.parquet``: 5 stratified splits, split i: 10 % test with
  ``random_state = 12345 + i``, the rest 90/10 train/val with ``random_state = 2 * (12345 + i)`` (sklearn).
"""

from __future__ import annotations

import json
import tarfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from tcbench.atomic import atomic_write
from tcbench.data.curated import ROW_GROUP_FLOWS, parquet_options
from tcbench.data.importers.errors import RawDataError

IMPORTER_VERSION = 1
NAME = "mirage19"
BACKGROUND = "background"
MIN_PKTS = (10,)
MIN_FLOWS_PER_CLASS = 100
N_SPLITS = 5
SPLIT_SEED = 12345
_SUFFIX = "_MIRAGE-2019_traffic_dataset_labeled_biflows.json"


def _series(item: pa.DataType) -> pa.DataType:
    return pa.list_(pa.field("item", item, nullable=False))


SCHEMA = pa.schema([
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
    ("packets", pa.int64()),
    ("pkts_size", _series(pa.int32())),
    ("pkts_dir", _series(pa.int8())),
    ("timetofirst", _series(pa.float64())),
])
SERIES = ("pkts_size", "pkts_dir", "timetofirst")


@dataclass(frozen=True)
class JsonFile:
    path: str  # plain file (tar.gz inputs are extracted first)
    archive: str | None  # zip archive holding ``path``
    device_name: str
    android_name: str
    size: int

    @property
    def where(self) -> str:
        return f"{self.archive}:{self.path}" if self.archive else self.path


def _json_file(path: str, archive: str | None, size: int) -> JsonFile | None:
    pure = Path(path)
    if not pure.name.endswith(_SUFFIX) or pure.name.startswith("."):
        return None
    stem = pure.name[: -len(_SUFFIX)]
    timestamp, _, android = stem.partition("_")
    if not timestamp.isdigit() or not android:
        raise RawDataError(f"{path}: not a MIRAGE-2019 file name (<unixtime>_<android.package>{_SUFFIX})")
    return JsonFile(path, archive, pure.parent.name, android, size)


def extract_tar(archive: Path, into: Path) -> Path:
    """Extract the JSON files of a .tar.gz (read in one stream: gzip has no random access) into ``into``,
    skipping those already extracted with the right size (an interrupted extraction resumes)."""
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
                data = source.read()
                atomic_write(target, lambda tmp, data=data: tmp.write_bytes(data))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise RawDataError(f"{archive}: not a readable tar archive ({exc}); is the download complete?") from None
    return into


def discover(raw: Sequence[Path], scratch: Path | None = None) -> list[JsonFile]:
    """Every biflow file under the given folders, zip or tar archives (tar archives are extracted to ``scratch``)."""
    files: list[JsonFile] = []
    for root in map(Path, raw):
        if not root.exists():
            raise RawDataError(f"{root}: no such file or folder; pass the MIRAGE-2019 archive or its extracted folder")
        if root.is_file() and root.name.endswith((".tar.gz", ".tgz", ".tar")):
            if scratch is None:
                raise RawDataError(f"{root}: a tar archive needs a scratch folder to extract to")
            root = extract_tar(root, scratch / root.name.split(".")[0])
        if root.is_file():
            if root.suffix.lower() != ".zip":
                raise RawDataError(f"{root}: not a folder, .zip or .tar.gz; MIRAGE-2019 comes as a .tar.gz of JSON files")
            try:
                with zipfile.ZipFile(root) as zf:
                    infos = [i for i in zf.infolist() if not i.is_dir()]
            except zipfile.BadZipFile as exc:
                raise RawDataError(f"{root}: not a readable zip archive ({exc})") from None
            files += [f for i in infos if (f := _json_file(i.filename, str(root), i.file_size)) is not None]
        else:
            files += [f for p in sorted(root.rglob("*.json")) if (f := _json_file(str(p), None, p.stat().st_size)) is not None]
    if not files:
        raise RawDataError(f"no MIRAGE-2019 biflow file (*{_SUFFIX}) found in {[str(p) for p in raw]}")
    return sorted(files, key=lambda f: (f.device_name, Path(f.path).name))


def partition_parts(files: Sequence[JsonFile], part_mb: float) -> list[list[JsonFile]]:
    parts: list[list[JsonFile]] = []
    limit, current, size = part_mb * 2**20, [], 0
    for f in files:
        if current and size + f.size > limit:
            parts.append(current)
            current, size = [], 0
        current.append(f)
        size += f.size
    return parts + ([current] if current else [])


def _load(f: JsonFile) -> dict:
    try:
        if f.archive:
            with zipfile.ZipFile(f.archive) as zf:
                text = zf.read(f.path)
        else:
            text = Path(f.path).read_bytes()
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RawDataError(f"{f.where}: invalid or truncated JSON ({exc.msg} at line {exc.lineno} col {exc.colno})") from None
    except (zipfile.BadZipFile, OSError, KeyError) as exc:
        raise RawDataError(f"{f.where}: cannot read ({exc})") from None
    if not isinstance(data, dict):
        raise RawDataError(f"{f.where}: expected a JSON object keyed by 'src_ip,src_port,dst_ip,dst_port,proto'")
    return data


def convert_part(files: list[JsonFile]) -> pa.Table:
    """The unfiltered rows of the biflows of ``files`` (row_id -1: numbered when the parts are assembled)."""
    columns: dict[str, list] = {name: [] for name in SCHEMA.names if name not in SERIES}
    sizes, dirs, iats, counts = [], [], [], []
    for f in files:
        for conn_id, biflow in _load(f).items():
            try:
                packet, meta = biflow["packet_data"], biflow["flow_metadata"]
                src_ip, src_port, dst_ip, dst_port, proto = conn_id.split(",")
                size, direction, iat = packet["L4_payload_bytes"], packet["packet_dir"], packet["iat"]
                label = meta["BF_label"]
                row = (conn_id, src_ip, int(src_port), dst_ip, int(dst_port), int(proto), f.device_name, f.android_name,
                       f.android_name if label == f.android_name else BACKGROUND, label, meta.get("BF_labeling_type"),
                       int(meta["BF_num_packets"]), int(meta["BF_L4_payload_bytes"]), float(meta["BF_duration"]))
            except (KeyError, ValueError, TypeError) as exc:
                raise RawDataError(f"{f.where}: biflow {conn_id!r} lacks or mangles {exc}; not a MIRAGE biflow record") from None
            if not len(size) == len(direction) == len(iat):
                raise RawDataError(f"{f.where}: biflow {conn_id!r}: packet arrays of different lengths")
            for name, value in zip(("conn_id", "src_ip", "src_port", "dst_ip", "dst_port", "proto", "device_name",
                                    "android_name", "app", "flow_metadata_bf_label", "flow_metadata_bf_labeling_type",
                                    "flow_metadata_bf_num_packets", "flow_metadata_bf_l4_payload_bytes",
                                    "flow_metadata_bf_duration"), row):
                columns[name].append(value)
            sizes.append(size)
            dirs.append(direction)
            iats.append(iat)
            counts.append(len(size))
    n = len(counts)
    offsets_np = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])
    iat = np.concatenate(iats).astype(np.float64) if n else np.zeros(0)
    # Per-flow cumulative sums of the iats in one pass: the global cumsum minus its value before each flow.
    cumulative = np.cumsum(iat)
    before = np.concatenate([[0.0], cumulative])[offsets_np[:-1]]
    flat = {"pkts_size": np.concatenate(sizes).astype(np.int32) if n else np.zeros(0, np.int32),
            "pkts_dir": np.concatenate(dirs).astype(np.int8) if n else np.zeros(0, np.int8),
            "timetofirst": cumulative - np.repeat(before, counts)}
    columns["row_id"] = [-1] * n
    columns["packets"] = counts
    arrays = {name: pa.array(values, type=SCHEMA.field(name).type) for name, values in columns.items()}
    offsets = pa.array(offsets_np.astype(np.int32))
    for name, values in flat.items():
        arrays[name] = pa.ListArray.from_arrays(offsets, pa.array(values), type=SCHEMA.field(name).type)
    return pa.table([arrays[name] for name in SCHEMA.names], schema=SCHEMA)


def _flat(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    arr = column.combine_chunks()
    offsets = arr.offsets.to_numpy().astype(np.int64)
    return arr.values.to_numpy(zero_copy_only=False)[offsets[0] : offsets[-1]], offsets - offsets[0]


def filter_flows(table: pa.Table, min_pkts: int, min_flows: int = MIN_FLOWS_PER_CLASS) -> pa.Table:
    """The original's filter: drop zero-payload packets, then keep biflows with more than ``min_pkts`` packets
    left that are not background, of classes with more than MIN_FLOWS_PER_CLASS of them; renumber row_id."""
    sizes, offsets = _flat(table.column("pkts_size"))
    keep = sizes > 0
    kept_before = np.concatenate([[0], np.cumsum(keep)])
    new_offsets = kept_before[offsets]
    packets = np.diff(new_offsets)
    apps = np.asarray(table.column("app").to_pylist(), dtype=object)
    candidate = (packets > min_pkts) & (apps != BACKGROUND)
    names, counts = np.unique(apps[candidate], return_counts=True)
    big = set(names[counts > min_flows].tolist())
    chosen = np.flatnonzero(candidate & np.isin(apps, list(big)))
    series = {}
    for name in SERIES:
        values, _ = _flat(table.column(name))
        values = values[keep]
        starts, ends = new_offsets[chosen], new_offsets[chosen + 1]
        lengths = ends - starts
        index = np.repeat(starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths) + np.arange(lengths.sum())
        series[name] = pa.ListArray.from_arrays(pa.array(np.concatenate([[0], np.cumsum(lengths)]).astype(np.int32)),
                                                pa.array(values[index]), type=table.schema.field(name).type)
    out = table.take(pa.array(chosen)).drop_columns(list(SERIES))
    out = out.set_column(out.schema.get_field_index("row_id"), "row_id", pa.array(np.arange(len(chosen), dtype=np.int64)))
    out = out.set_column(out.schema.get_field_index("packets"), "packets", pa.array(packets[chosen]))
    for name in SERIES:
        out = out.append_column(table.schema.field(name), series[name])
    return out.select(table.column_names)


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


def derive(out_dir: Path, parquet: Path, name: str = NAME, min_pkts: Sequence[int] = MIN_PKTS) -> list[Path]:
    """Write the filtered variants and their splits next to the unfiltered file; return the written paths. A
    variant left without any class (a partial download) gets no splits file."""
    table = pq.read_table(parquet)
    written = []
    for threshold in min_pkts:
        filtered = filter_flows(table, threshold)
        stem = f"{name}_filtered_minpkts{threshold}"
        path = out_dir / "filtered" / f"{stem}.parquet"
        atomic_write(path, lambda tmp, t=filtered: pq.write_table(t, tmp, row_group_size=ROW_GROUP_FLOWS,
                                                                  **parquet_options(t.schema)))
        written.append(path)
        if filtered.num_rows:
            splits = stratified_splits(np.asarray(filtered.column("app").to_pylist()))
            split_path = out_dir / "splits" / f"{stem}_splits.parquet"
            atomic_write(split_path, lambda tmp, t=splits: pq.write_table(t, tmp))
            written.append(split_path)
    return written
