"""I/O faults of a run (disk full, read-only or vanished folder, permission denied) told apart from bugs.

A run that cannot write its results must stop with one line that says why, not a traceback through AIM's storage
layers. AIM reports a full disk as ``aimrocks.errors.RocksIOError`` (rocksdb) or ``sqlite3.OperationalError``
("database or disk is full"), neither an ``OSError``; the second often arises while closing the run after the
first, so the cause is the earliest I/O error of the exception's chain.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from pathlib import Path

#: errno values that mean the storage refused a write (not a bad argument).
IO_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EFBIG})
#: Below this much free space on the run folder's file system, a failure is put down to the full disk: torch and
#: AIM's database migrations report it in their own words ("unexpected pos", "Database upgrade failed").
LOW_SPACE_BYTES = 4 * 2**20
#: sqlite messages of the same faults (AIM's run index is an sqlite database).
SQLITE_IO = ("disk is full", "readonly database", "disk I/O error", "unable to open database file")


def _chain(exc: BaseException) -> list[BaseException]:
    """The exception and every exception it was raised from or during, root cause first."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen[::-1]


def _describe(exc: BaseException) -> str | None:
    if isinstance(exc, OSError) and exc.errno in IO_ERRNOS:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror or exc}{where}"
    if isinstance(exc, sqlite3.OperationalError) and any(text in str(exc) for text in SQLITE_IO):
        return f"{exc} (AIM's run index)"
    if type(exc).__name__ == "RocksIOError":  # aimrocks: the message is bytes, 'IO error: <strerror>: <what>: <file>'
        message = exc.args[0] if exc.args else exc
        text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
        return text.removeprefix("IO error: ") + " (AIM's metric store)"
    return None


def io_failure(exc: BaseException) -> str | None:
    """One line naming the first storage fault behind ``exc`` (strerror and file), or None when it is none."""
    for link in _chain(exc):
        described = _describe(link)
        if described is not None:
            return described
    return None


def storage_problem(folder: str | os.PathLike[str]) -> str | None:
    """Whether the file system that holds (or would hold) ``folder`` is read-only or nearly full, in one line."""
    path = Path(folder)
    while not path.exists() and path != path.parent:
        path = path.parent
    try:
        info = os.statvfs(path)
    except OSError:
        return None
    if info.f_flag & os.ST_RDONLY:
        return f"Read-only file system: {folder}"
    free = info.f_bavail * info.f_frsize
    if free < LOW_SPACE_BYTES:
        return f"No space left on device: {free // 1024} KiB free on the file system of {folder}"
    return None
