"""Raw files in the authors' formats for datasets whose originals cannot be downloaded here: UTMobileNet2021 tshark
CSVs and MIRAGE-COVID-CCMA-2022 archives (an outer zip of per-app zips of JSON biflow files).

They exercise the importers on the real layouts at any size: tests generate small ones and compare the import
with the flows generated (``GeneratedFlow``); the mirage22 benchmark generates a ~3 GB archive to measure the
import's memory. Contents are random but shaped like the real data (packet counts with a heavy tail, ACKs, a share
of background biflows, noise packets that curation must drop). Number formatting uses pyarrow's C CSV writer, so a
multi-GB archive is written in minutes.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

MIRAGE22_APPS = {"Discord": "com.discord", "GotoMeeting": "com.gotomeeting", "Meet": "com.google.android.apps.meetings",
                 "Messenger": "com.facebook.orca", "Skype": "com.skype.raider", "Slack": "com.Slack",
                 "Teams": "com.microsoft.teams", "Webex": "com.cisco.webex.meetings", "Zoom": "us.zoom.videomeetings"}
MIRAGE22_SUFFIX = "_mirage2020dataset_labeled_biflows_all_packets_encryption_metadata.json"


@dataclass
class GeneratedFlow:
    """What an importer must recover for one flow."""

    app: str
    sizes: np.ndarray
    dirs: np.ndarray
    timetofirst: np.ndarray
    key: str = ""
    extra: dict[str, object] = field(default_factory=dict)


def _numbers(values: np.ndarray) -> str:
    """``1,2,3`` for a 1-D array, formatted by pyarrow (C speed, shortest round-trip floats)."""
    if len(values) == 0:
        return ""
    buffer = io.BytesIO()
    pacsv.write_csv(pa.table({"v": values}), buffer, write_options=pacsv.WriteOptions(include_header=False))
    return buffer.getvalue().decode().rstrip("\n").replace("\n", ",")


@dataclass(frozen=True)
class PacketCounts:
    """Log-normal packets per biflow; the mirage22 defaults give its median 27, mean ~3 000 and maximum 1.67 M."""

    median: float = 27.0
    sigma: float = 3.07
    maximum: int = 1_665_842

    def draw(self, rng: np.random.Generator) -> int:
        return int(min(rng.lognormal(np.log(self.median), self.sigma), self.maximum - 1)) + 1


SMALL_FLOWS = PacketCounts(median=30, sigma=1.6, maximum=200_000)


def _biflow_json(rng: np.random.Generator, n: int, label: str, activity: str) -> tuple[str, GeneratedFlow]:
    sizes = np.where(rng.random(n) < 0.35, 0, rng.integers(1, 1461, n))
    dirs = rng.integers(0, 2, n).astype(np.int8)
    iat = np.concatenate([[0.0], rng.exponential(0.05, n - 1)]).round(6)
    ttf = np.cumsum(iat)
    header = rng.integers(20, 61, n)
    packet_data = {
        "src_port": _numbers(np.where(dirs == 0, 40000, 443)), "dst_port": _numbers(np.where(dirs == 0, 443, 40000)),
        "packet_dir": _numbers(dirs), "L4_payload_bytes": _numbers(sizes), "iat": _numbers(iat),
        "TCP_win_size": _numbers(rng.integers(0, 65536, n)), "timestamp": _numbers((1_620_000_000 + ttf).round(6)),
        "IP_packet_bytes": _numbers(sizes + header + 20), "L4_header_bytes": _numbers(header),
        "TCP_flags": _numbers(rng.integers(0, 64, n)), "is_clear": _numbers(rng.integers(0, 2, n)),
    }
    body = ", ".join(f'"{k}": [{v}]' for k, v in packet_data.items())
    meta = (f'"BF_label": "{label}", "BF_labeling_type": "exact", "BF_num_packets": {n}, '
            f'"BF_IP_packet_bytes": {int((sizes + header + 20).sum())}, "BF_L4_payload_bytes": {int(sizes.sum())}, '
            f'"BF_duration": {float(ttf[-1])}, "BF_activity": "{activity}", "BF_device": "Nexus6"')
    text = f'{{"packet_data": {{{body}}}, "flow_features": {{}}, "flow_metadata": {{{meta}}}}}'
    return text, GeneratedFlow(label, sizes, dirs, ttf, extra={"activity": activity})


def write_mirage22_archive(path: str | Path, *, files_per_app: int = 2, biflows_per_file: int = 20, seed: int = 0,
                           target_bytes: int | None = None, counts: PacketCounts = SMALL_FLOWS,
                           compresslevel: int = 1) -> list[GeneratedFlow]:
    """``MIRAGE-COVID-CCMA-2022.zip`` holding ``MIRAGE-COVID-CCMA-2022/Raw_JSON/<App>.zip``, each with JSON files of
    ``biflows_per_file`` biflows (about 20 % background: another label or activity ``Unknown``). With
    ``target_bytes``, files are added round-robin over the apps until the per-app zips reach that size in total.
    Returns the generated biflows (keyed by conn_id), or none when ``target_bytes`` is set."""
    rng = np.random.default_rng(seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    flows: list[GeneratedFlow] = []
    inner = {app: path.parent / f".{path.stem}.{app}.zip" for app in MIRAGE22_APPS}
    zips = {app: zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) for app, p in inner.items()}
    index = 0
    try:
        while (sum(p.stat().st_size for p in inner.values()) < target_bytes) if target_bytes else index < files_per_app * len(MIRAGE22_APPS):
            app = list(MIRAGE22_APPS)[index % len(MIRAGE22_APPS)]
            package = MIRAGE22_APPS[app]
            name = f"{1_620_000_000 + index}_{package}{MIRAGE22_SUFFIX}"
            parts = []
            for b in range(biflows_per_file):
                conn_id = f"10.{index // 250 % 250}.{index % 250}.1,{40000 + b},172.16.{b % 250}.1,443,6"
                draw = rng.random()
                label = "com.android.vending" if 0.1 < draw <= 0.2 else package
                activity = "Unknown" if draw <= 0.1 else "Chat"
                text, flow = _biflow_json(rng, counts.draw(rng), label, activity)
                parts.append(f'"{conn_id}": {text}')
                if not target_bytes:
                    flow.key, flow.extra["package"] = conn_id, package
                    flows.append(flow)
            zips[app].writestr(f"Nexus6/{name}", ("{" + ", ".join(parts) + "}").encode())
            index += 1
    finally:
        for archive in zips.values():
            archive.close()
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as outer:
        for app, inner_path in inner.items():
            outer.write(inner_path, f"MIRAGE-COVID-CCMA-2022/Raw_JSON/{app}.zip")
            inner_path.unlink()
        outer.writestr("MIRAGE-COVID-CCMA-2022/Preprocessed_pickle/README.txt", "not read by the importer\n")
    return flows


_UT_COLUMNS = ["frame.number", "frame.time", "frame.len", "ip.src", "ip.dst", "ip.proto", "tcp.len", "tcp.srcport",
               "tcp.dstport", "udp.srcport", "udp.dstport", "udp.length", "location"]
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _tshark_time(epoch: np.ndarray) -> list[str]:
    """tshark's ``frame.time`` in CDT (UTC-5), e.g. ``Apr 30, 2019 19:07:17.184823000 CDT``."""
    local = np.round((epoch - 5 * 3600) * 1e9).astype(np.int64).astype("datetime64[ns]")
    out = []
    for stamp in local.astype(str):  # 'YYYY-MM-DDTHH:MM:SS.fffffffff'
        date, clock = stamp.split("T")
        year, month, day = date.split("-")
        out.append(f"{_MONTHS[int(month) - 1]} {int(day)}, {year} {clock.ljust(18, '0')} CDT")
    return out


def write_utmobilenet_folder(root: str | Path, *, apps: tuple[str, ...] = ("youtube", "google-maps", "dropbox"),
                             captures_per_app: int = 2, flows_per_capture: int = 6, min_packets: int = 2,
                             seed: int = 0) -> list[GeneratedFlow]:
    """``<root>/csvs/<partition>/<app>_<action>_<date>_<time>_<id>.csv`` tshark exports: interleaved TCP and UDP
    flows plus packets curation drops (ICMP, loopback, a row without addresses). Returns the generated flows
    (keyed ``"<file stem>|<flow index>"``)."""
    rng = np.random.default_rng(seed)
    flows: list[GeneratedFlow] = []
    partitions = ("Deterministic Automated Data", "Randomized Automated Data")
    for a, app in enumerate(apps):
        for c in range(captures_per_app):
            stem = f"{app}_action-{c}_2019-04-30_19-07-{10 + c:02d}_{a:04x}{c:04x}"
            rows, start = [], 1_556_669_237.0 + 3600 * a + 60 * c
            for k in range(flows_per_capture):
                n = int(rng.integers(min_packets, max(min_packets + 1, 40)))
                tcp = k % 3 != 2
                client, server = f"192.168.1.{10 + k}", f"10.{a}.{c}.{k + 1}"
                cport, sport = 50000 + k, 443 if tcp else 53
                times = start + np.sort(rng.uniform(0, 20, n))
                times[0] = start + k * 0.01  # the client speaks first
                dirs = (rng.random(n) < 0.5).astype(np.int8)
                dirs[0] = 1
                sizes = rng.integers(0 if tcp else 8, 1400, n)
                for t, d, s in zip(times, dirs, sizes):
                    src, dst, sp, dp = (client, server, cport, sport) if d else (server, client, sport, cport)
                    rows.append([t, src, dst, 6 if tcp else 17, s if tcp else None, sp if tcp else None, dp if tcp else None,
                                 None if tcp else sp, None if tcp else dp, None if tcp else s])
                flows.append(GeneratedFlow(app, sizes, dirs, times - times[0], key=f"{stem}|{k}"))
            rows.append([start + 1.5, "192.168.1.10", "8.8.8.8", 1, None, None, None, None, None, None])  # ICMP
            rows.append([start + 2.5, "127.0.0.1", "127.0.0.1", 6, 10, 1, 2, None, None, None])  # loopback
            rows.append([start + 3.5, None, None, None, None, None, None, None, None, None])  # ARP: no IP
            rows.sort(key=lambda r: r[0])
            times = np.array([r[0] for r in rows])
            table = {
                "frame.number": np.arange(1, len(rows) + 1), "frame.time": _tshark_time(times),
                "frame.len": [int(r[4] or r[9] or 0) + 54 for r in rows], "ip.src": [r[1] for r in rows],
                "ip.dst": [r[2] for r in rows], "ip.proto": [r[3] for r in rows],
                **{name: [r[i] for r in rows] for i, name in enumerate(_UT_COLUMNS[6:12], start=4)},
                "location": ["Austin"] * len(rows),
            }
            path = Path(root) / "csvs" / partitions[c % 2] / f"{stem}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            import pandas as pd

            frame = pd.DataFrame(table, columns=_UT_COLUMNS)
            integers = ["ip.proto", *_UT_COLUMNS[6:12]]  # tshark prints integers; empty where not applicable
            frame[integers] = frame[integers].astype("Int64")
            frame.to_csv(path, index=False)
    return flows
