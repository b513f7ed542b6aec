"""Atomic file creation: readers (Snakemake, summaries, users) never see a half-written result file.

The content is written to a hidden temp file in the target's directory (same file system, so the final rename is
atomic) and renamed onto the target only after it is complete; on any error the temp file is removed and an
existing target is left untouched. The temp name is unique per process and call rather than from mkstemp, whose
0600 mode would survive the rename and hide results from the other users of a shared cluster folder.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path


def temp_sibling(path: Path) -> Path:
    """A hidden, unique name next to ``path`` (``.name.<pid>.<random>.tmp``); never matches the final name."""
    return path.parent / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:12]}.tmp"


def fsync_dir(directory: Path) -> None:
    """Persist a rename itself; without it a power loss can forget the new directory entry."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None], *, durable: bool = False) -> Path:
    """Call ``write(tmp_path)`` and rename the result onto ``path``; ``durable`` also fsyncs file and folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(path)
    try:
        write(tmp)
        if durable:
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if durable:
        fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str, *, durable: bool = False) -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"), durable=durable)
