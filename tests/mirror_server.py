"""A real HTTP server on 127.0.0.1 for the fetch tests: it serves test archives as a dataset mirror does
(``/<dataset>/<file>`` and ``/tcbench-mirror.json``), honours Range requests, and can be told to misbehave per path:
cut a response mid-file, stall, answer 404 or 503, or serve other bytes than its manifest says.

Requests are bounded: after ``max_requests`` the server answers 500 to everything (and the test sees the count), so a
retry loop that never ends cannot hammer it. It binds the loopback address only.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


@dataclass
class Fault:
    """What the server does to one path. ``cut_at``: close the connection after that many body bytes (the first
    ``times`` requests); ``stall_s``: after the headers and ``stall_after`` bytes, send nothing for that long;
    ``status``: answer that status instead (the first ``times`` requests; None = every request)."""

    cut_at: int | None = None
    stall_s: float = 0.0
    stall_after: int = 0
    status: int | None = None
    times: int | None = 1


@dataclass
class MirrorServer:
    files: dict[str, bytes]
    manifest: dict | None = None
    faults: dict[str, Fault] = field(default_factory=dict)
    max_requests: int = 60
    requests: list[tuple[str, str, str | None]] = field(default_factory=list)  # (method, path, Range header)

    def __enter__(self) -> MirrorServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                server.requests.append(("GET", self.path, self.headers.get("Range")))
                if len(server.requests) > server.max_requests:
                    return self._status(500)
                if self.path == "/tcbench-mirror.json" and server.manifest is not None:
                    return self._send(json.dumps(server.manifest).encode(), self.path)
                path = self.path.lstrip("/")
                fault = server.faults.get(path)
                seen = sum(1 for _, p, _ in server.requests if p == self.path)
                active = fault is not None and (fault.times is None or seen <= fault.times)
                if active and fault.status is not None:
                    return self._status(fault.status)
                if path not in server.files:
                    return self._status(404)
                self._send(server.files[path], path, fault if active else None)

            def _status(self, code: int) -> None:
                body = f"{code}\n".encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _send(self, data: bytes, path: str, fault: Fault | None = None) -> None:
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if match:
                    start = int(match.group(1))
                    if start >= len(data):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(data)}")
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                body = data[start:]
                if fault is not None and fault.stall_s:
                    self.wfile.write(body[: fault.stall_after])
                    self.wfile.flush()
                    time.sleep(fault.stall_s)
                    self.close_connection = True
                    return
                if fault is not None and fault.cut_at is not None:
                    self.wfile.write(body[: fault.cut_at])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: object, client_address: object) -> None:
                pass  # a client that hung up on a stalled or cut response: expected here

        self._server = Server(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def gets(self, path: str) -> list[str | None]:
        """The Range header of every GET of ``path`` (None: a request for the whole file)."""
        return [rng for method, p, rng in self.requests if p == path]


def sha256(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()


def manifest_for(files: dict[str, bytes]) -> dict:
    """The mirror manifest of ``files`` (size and sha256 of each, as a lab's mirror would publish it)."""
    return {"files": {path: {"size": len(data), "sha256": sha256(data)} for path, data in files.items()}}


MIRAGE19_ARCHIVE = "MIRAGE-2019_traffic_dataset_downloadable_v2.tar.gz"
MIRAGE19_TOP = "MIRAGE-2019_traffic_dataset_downloadable"


def mirage19_archive(realdata: Path, copies: dict[str, int] | None = None) -> bytes:
    """A tar.gz in MIRAGE-2019's published layout (``MIRAGE-2019_traffic_dataset_downloadable/<device>/<unixtime>_<app>
    _MIRAGE-2019_traffic_dataset_labeled_biflows.json``) holding unmodified copies of the real sample files: each
    sample ``copies[app]`` times (default once) under successive capture times, split over the two devices of the
    release, so that a class can pass the curation's more-than-100-flows rule. Built in memory; nothing is written."""
    import io
    import tarfile

    copies = copies or {}
    buffer = io.BytesIO()
    devices = ("Mi5_38_a4_ed_18_cc_bf", "Nexus7_bc_ee_7b_a4_09_47")
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        for sample in sorted(realdata.glob("*.json")):
            stamp, rest = sample.name.split("_", 1)
            data = sample.read_bytes()
            app = rest.split("_MIRAGE-2019")[0]
            for i in range(copies.get(app, 1)):
                info = tarfile.TarInfo(f"{MIRAGE19_TOP}/{devices[i % 2]}/{int(stamp) + i}_{rest}")
                info.size = len(data)
                info.mtime = 1_600_000_000
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
