"""UTMobileNet2021 from the authors' tshark CSV files (docs/original-behaviour.md, Datasets) into curated parquet.

Input: ``UTMobileNet2021.zip`` or its extracted folder: ``csvs/<partition>/<app>_<action>_<date>_<time>_<id>.csv``,
one packet per row with tshark columns (``frame.time``, ``ip.src``, ``ip.dst``, ``ip.proto``, ``tcp.len``,
``tcp.srcport``, ``tcp.dstport``, ``udp.srcport``, ``udp.dstport``, ``udp.length``, ...; some files add ``location``).

Curation, as the original: TCP and UDP packets only, without missing addresses or 127.0.0.1, 0.0.0.0 and
255.255.255.255; packets grouped into bidirectional 5-tuple flows within each capture file and sorted by time;
``pkts_size`` = TCP payload (``tcp.len``) or UDP length (``udp.length``); ``pkts_dir`` = 1 when the packet's source
is the flow's first source; app = the file name's prefix; partition = the folder. Deliberate fix (docs/deviations.md):
``timetofirst`` holds the time since the flow's first packet, where the original stored inter-arrival times under
that name. Filtered variant: more than 10 packets, classes with more than 100 flows; 5 stratified splits as MIRAGE.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd
import pyarrow as pa

from tcbench.data.curated import series_type
from tcbench.data.importers.errors import RawDataError, RawFile
from tcbench.data.importers.mirage import write_filtered
from tcbench.data.importers.staging import partition_parts

IMPORTER_VERSION = 1
NAME = "utmobilenet21"
MIN_PKTS = 10
_BAD_IPS = ("127.0.0.1", "0.0.0.0", "255.255.255.255")
_NEEDED = ("frame.time", "ip.src", "ip.dst", "ip.proto", "tcp.len", "tcp.srcport", "tcp.dstport", "udp.srcport",
           "udp.dstport", "udp.length")
# tshark prints local times with the capture's zone abbreviation (the captures are from Austin, Texas).
_ZONES = {"CDT": "-05:00", "CST": "-06:00", "UTC": "+00:00", "GMT": "+00:00"}
__all__ = ["SCHEMA", "IMPORTER_VERSION", "discover", "partition_parts", "convert_part", "derive"]


SCHEMA = pa.schema([
    ("row_id", pa.int64()),
    ("src_ip", pa.string()),
    ("src_port", pa.int32()),
    ("dst_ip", pa.string()),
    ("dst_port", pa.int32()),
    ("ip_proto", pa.int16()),
    ("first", pa.float64()),
    ("last", pa.float64()),
    ("duration", pa.float64()),
    ("packets", pa.int64()),
    ("bytes", pa.int64()),
    ("partition", pa.string()),
    ("location", pa.string()),
    ("fname", pa.string()),
    ("app", pa.string()),
    ("pkts_size", series_type(pa.int64())),
    ("pkts_dir", series_type(pa.int8())),
    ("timetofirst", series_type(pa.float64())),
])


@dataclass(frozen=True)
class CsvFile(RawFile):
    """One capture and the partition and app its path gives."""

    partition: str
    app: str


def _csv_file(path: str, archive: str | None, size: int) -> CsvFile | None:
    pure = PurePosixPath(path)
    if pure.suffix.lower() != ".csv" or pure.name.startswith(".") or "__MACOSX" in pure.parts:
        return None
    app = pure.stem.split("_", 1)[0]
    if not app or "_" not in pure.stem:
        raise RawDataError(f"{path}: not a UTMobileNet2021 capture name (<app>_<action>_<date>_<time>_<id>.csv)")
    return CsvFile(path, archive, size, pure.parent.name, app)


def discover(raw: Sequence[Path], scratch: Path | None = None) -> list[CsvFile]:
    """Every capture CSV under the given zip archives and folders, sorted by (partition, file name)."""
    files: list[CsvFile] = []
    for root in map(Path, raw):
        if not root.exists():
            raise RawDataError(f"{root}: no such file or folder; pass UTMobileNet2021.zip or its extracted folder")
        if root.is_file():
            if root.suffix.lower() != ".zip":
                raise RawDataError(f"{root}: not a zip archive or folder; UTMobileNet2021 comes as UTMobileNet2021.zip")
            try:
                with zipfile.ZipFile(root) as zf:
                    files += [f for i in zf.infolist() if not i.is_dir() and (f := _csv_file(i.filename, str(root), i.file_size))]
            except zipfile.BadZipFile as exc:
                raise RawDataError(f"{root}: not a readable zip archive ({exc}); is the download complete?") from None
        else:
            files += [f for p in sorted(root.rglob("*.csv")) if (f := _csv_file(str(p), None, p.stat().st_size))]
    if not files:
        raise RawDataError(f"no UTMobileNet2021 capture (*.csv) found in {[str(p) for p in raw]}")
    return sorted(files, key=lambda f: (f.partition, PurePosixPath(f.path).name))


def _read(f: CsvFile) -> pd.DataFrame:
    try:
        if f.archive:
            with zipfile.ZipFile(f.archive) as zf:
                data = io.BytesIO(zf.read(f.path))
        else:
            data = f.path
        frame = pd.read_csv(data, low_memory=False)
    except (zipfile.BadZipFile, OSError, KeyError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise RawDataError(f"{f.where}: cannot read as a tshark CSV ({exc})") from None
    missing = [c for c in _NEEDED if c not in frame.columns]
    if missing:
        raise RawDataError(f"{f.where}: missing tshark column(s) {missing}; not a UTMobileNet2021 capture")
    return frame


def _epoch_ns(times: pd.Series, where: str) -> np.ndarray:
    """UTC nanoseconds of tshark's ``frame.time`` ("Apr 30, 2019 19:07:17.184823000 CDT"), vectorised; integers,
    so times to first keep tshark's nanosecond resolution (float seconds since 1970 would keep only 0.2 us)."""
    text = times.astype(str).str.strip()
    zone = text.str.extract(r"\s([A-Z]{2,5})$")[0]
    stamp = text.str.replace(r"\s[A-Z]{2,5}$", "", regex=True)
    parsed = pd.to_datetime(stamp, format="%b %d, %Y %H:%M:%S.%f", errors="coerce")
    if parsed.isna().any():
        bad = text[parsed.isna()].iloc[0]
        raise RawDataError(f"{where}: frame.time {bad!r} is not like 'Apr 30, 2019 19:07:17.184823000 CDT'")
    offset = zone.map(lambda z: _ZONES.get(z, "+00:00") if isinstance(z, str) else "+00:00")
    sign = np.where(offset.str[0] == "-", 1, -1)  # local time - (-5 h) = UTC
    hours = offset.str[1:3].astype(int).to_numpy()
    return parsed.astype("int64").to_numpy() + sign * hours * 3_600_000_000_000


def _flows(f: CsvFile) -> pd.DataFrame:
    """One row per bidirectional 5-tuple flow of one capture, with its packet series."""
    frame = _read(f)
    frame = frame[frame["ip.proto"].isin([6, 17]) & frame["ip.src"].notna() & frame["ip.dst"].notna()]
    frame = frame[~frame["ip.src"].isin(_BAD_IPS) & ~frame["ip.dst"].isin(_BAD_IPS)]
    if frame.empty:
        return pd.DataFrame()
    tcp = frame["ip.proto"].to_numpy() == 6
    sport = np.where(tcp, frame["tcp.srcport"], frame["udp.srcport"])
    dport = np.where(tcp, frame["tcp.dstport"], frame["udp.dstport"])
    size = np.where(tcp, frame["tcp.len"], frame["udp.length"])
    if pd.isna(sport).any() or pd.isna(dport).any():
        raise RawDataError(f"{f.where}: a TCP/UDP packet without ports")
    src = frame["ip.src"].astype(str).to_numpy() + ":" + sport.astype(np.int64).astype(str)
    dst = frame["ip.dst"].astype(str).to_numpy() + ":" + dport.astype(np.int64).astype(str)
    lo, hi = np.where(src < dst, src, dst), np.where(src < dst, dst, src)
    packets = pd.DataFrame({"conn": lo + "|" + hi + "|" + frame["ip.proto"].astype(int).astype(str).to_numpy(),
                            "time": _epoch_ns(frame["frame.time"], f.where), "src": src, "size": np.nan_to_num(size).astype(np.int64),
                            "src_ip": frame["ip.src"].astype(str).to_numpy(), "dst_ip": frame["ip.dst"].astype(str).to_numpy(),
                            "sport": sport.astype(np.int64), "dport": dport.astype(np.int64),
                            "proto": frame["ip.proto"].astype(int).to_numpy(),
                            "location": frame["location"].astype(str).to_numpy() if "location" in frame else ""})
    packets = packets.sort_values(["conn", "time"], kind="stable")
    first = packets.groupby("conn", sort=False).head(1).set_index("conn")
    packets["dir"] = (packets["src"].to_numpy() == first.loc[packets["conn"], "src"].to_numpy()).astype(np.int8)
    packets["ttf"] = (packets["time"].to_numpy() - first.loc[packets["conn"], "time"].to_numpy()) / 1e9
    grouped = packets.groupby("conn", sort=False)
    flows = pd.DataFrame({
        "src_ip": first["src_ip"], "src_port": first["sport"], "dst_ip": first["dst_ip"], "dst_port": first["dport"],
        "ip_proto": first["proto"], "first": first["time"] / 1e9, "last": grouped["time"].max() / 1e9,
        "packets": grouped.size(), "bytes": grouped["size"].sum(), "location": first["location"],
        "pkts_size": grouped["size"].agg(np.asarray), "pkts_dir": grouped["dir"].agg(np.asarray),
        "timetofirst": grouped["ttf"].agg(np.asarray),
    })
    flows["duration"] = (grouped["time"].max() - first["time"]) / 1e9
    flows["partition"], flows["fname"], flows["app"] = f.partition, PurePosixPath(f.path).stem, f.app
    return flows.sort_values("first", kind="stable").reset_index(drop=True)


def convert_part(files: list[CsvFile]) -> pa.Table:
    """The flows of the captures in ``files`` (row_id -1: numbered when the parts are assembled)."""
    frames = [flows for f in files if not (flows := _flows(f)).empty]
    if not frames:
        return SCHEMA.empty_table()
    flows = pd.concat(frames, ignore_index=True)
    flows["row_id"] = -1
    return pa.Table.from_pandas(flows[SCHEMA.names], schema=SCHEMA, preserve_index=False)


def derive(out_dir: Path, parquet: Path) -> list[Path]:
    """The filtered variant (more than 10 packets, zero-size packets kept, classes with more than 100 flows) and
    its 5 splits."""
    return write_filtered(out_dir, f"{NAME}_filtered_minpkts{MIN_PKTS}", parquet, MIN_PKTS, drop_empty_packets=False)
