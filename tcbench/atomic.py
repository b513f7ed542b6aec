"""Atomic file creation: readers (Snakemake, summaries, users) never see a half-written result file.

The content is written to a temp file in the target's directory (same file system, so the final rename is
atomic) and renamed onto the target only after it is complete; on any error the temp file is removed and an
existing target is left untouched.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` and rename the result onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_parquet_atomic(frame: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    return atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))
