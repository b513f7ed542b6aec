"""One HTTP(S) download into a ``.part`` file: streamed, resumed with a Range request, retried with backoff.

Transient failures (a 5xx or 429 answer, a connection cut or a server that stops sending mid-file) are retried
``settings.retries`` times, each resuming where the partial file ends; a server that ignores Range starts over. A
host that cannot be reached at all (no route, DNS, refused, no answer within the timeout) fails at once: an
offline machine waits one timeout, not a round of retries. Permanent answers (404, 403, ...) fail at once. Every
failure is a FetchError naming the URL; the partial file stays for the next attempt to resume.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import requests

from tcbench.data.fetch.errors import FetchError
from tcbench.data.fetch.settings import FetchSettings

CHUNK = 1 << 20
TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})


class _Transient(Exception):
    """Worth another attempt."""


class Unreachable(FetchError):
    """The host could not be reached at all (offline machine, compute node, wrong address)."""


def _reason(exc: BaseException) -> str:
    text = str(exc)
    for phrase, short in (("Connection refused", "connection refused"), ("Name or service not known", "name not resolved"),
                          ("NameResolutionError", "name not resolved"), ("Temporary failure in name resolution", "name not resolved"),
                          ("Network is unreachable", "network unreachable"), ("Read timed out", "read timed out"),
                          ("timed out", "timed out")):
        if phrase in text:
            return short
    return type(exc).__name__


def download(url: str, part: Path, settings: FetchSettings, *, on_start: Callable[[int, int | None], None] | None = None,
             on_bytes: Callable[[int], None] | None = None, session: requests.Session | None = None) -> None:
    """Fetch ``url`` into ``part`` (appending to what it already holds). ``on_start(have, total)`` when the body
    starts, ``on_bytes(n)`` after each chunk (progress)."""
    session = session or requests.Session()
    attempts = 0
    while True:
        attempts += 1
        try:
            _attempt(url, part, settings, session, on_start, on_bytes)
            return
        except requests.exceptions.ConnectionError as exc:
            if _never_connected(exc):
                raise Unreachable(f"cannot reach {url} ({_reason(exc)}, timeout {settings.timeout_s:g} s)") from None
            problem = f"connection lost ({_reason(exc)})"
        except requests.exceptions.Timeout as exc:
            if isinstance(exc, requests.exceptions.ConnectTimeout):
                raise Unreachable(f"cannot reach {url} (no answer within {settings.timeout_s:g} s)") from None
            problem = f"the server stopped sending for {settings.timeout_s:g} s"
        except requests.exceptions.ChunkedEncodingError as exc:
            problem = f"connection cut mid-file ({_reason(exc)})"
        except _Transient as exc:
            problem = str(exc)
        if attempts > settings.retries:
            kept = f"; {part.stat().st_size} bytes kept in {part} for the next attempt to resume" if part.exists() and part.stat().st_size else ""
            raise FetchError(f"{url}: {problem}, {attempts} attempts{kept}") from None
        time.sleep(settings.backoff_s * 2 ** (attempts - 1))


def _never_connected(exc: requests.exceptions.ConnectionError) -> bool:
    """True for failures before any answer (refused, DNS, unreachable), False for a connection that broke later."""
    text = repr(exc)
    return any(s in text for s in ("NewConnectionError", "NameResolutionError", "Failed to resolve", "Connection refused",
                                    "Network is unreachable", "ConnectTimeout")) and "Read timed out" not in text


def _attempt(url: str, part: Path, settings: FetchSettings, session: requests.Session,
             on_start: Callable[[int, int | None], None] | None, on_bytes: Callable[[int], None] | None) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    with session.get(url, stream=True, timeout=settings.timeout_s, headers=headers, allow_redirects=True) as response:
        status = response.status_code
        if status == 416 and have:  # nothing after what we have: the partial file is whole (verification decides)
            return
        if status in TRANSIENT_STATUS:
            raise _Transient(f"HTTP {status} {response.reason}")
        if status >= 400:
            raise FetchError(f"{url}: HTTP {status} {response.reason}")
        if status == 206 and not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
            raise _Transient(f"the server answered the range from byte {have} with {response.headers.get('Content-Range')!r}")
        start = have if status == 206 else 0  # 200: the server ignored Range, start over
        length = response.headers.get("Content-Length")
        total = start + int(length) if length and length.isdigit() else None
        if on_start:
            on_start(start, total)
        with open(part, "r+b" if start else "wb") as fh:
            fh.seek(start)
            fh.truncate()
            for chunk in response.iter_content(CHUNK):
                fh.write(chunk)
                if on_bytes:
                    on_bytes(len(chunk))
            written = fh.tell()
        if total is not None and written < total:
            raise _Transient(f"connection cut at byte {written} of {total}")
