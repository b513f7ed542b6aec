"""Checksums, streamed (a 3 GB archive is never read into memory), and what happens to a file that fails: it is
renamed aside to ``<name>.bad-<its sha256 prefix>``, so no unverified file ever sits under a final name and the
bytes stay for inspection."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from tcbench.data.raw_files import Checksum

CHUNK = 1 << 20


def digests(path: Path, algorithms: Iterable[str]) -> dict[str, str]:
    """Hex digests of ``path`` for each algorithm, in one pass over the file."""
    hashers = {a: hashlib.new(a) for a in set(algorithms) | {"sha256"}}
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            for h in hashers.values():
                h.update(chunk)
    return {a: h.hexdigest() for a, h in hashers.items()}


def mismatches(path: Path, expected: Iterable[Checksum], size: int | None = None) -> tuple[dict[str, str], list[str]]:
    """(digests of the file, one phrase per expectation it fails: size or checksum, naming where it comes from)."""
    expected = list(expected)
    found = digests(path, [c.algorithm for c in expected])
    wrong = []
    actual_size = path.stat().st_size
    if size is not None and actual_size != size:
        wrong.append(f"{actual_size} bytes, expected {size}")
    for c in expected:
        if found[c.algorithm] != c.value.lower():
            wrong.append(f"{c.algorithm} {found[c.algorithm]}, expected {c.value} ({c.source})")
    return found, wrong


def set_aside(path: Path, sha256: str) -> Path:
    """Rename a file that failed verification to ``<final name>.bad-<sha256[:12]>`` beside it."""
    name = path.name.removesuffix(".part")
    aside = path.with_name(f"{name}.bad-{sha256[:12]}")
    path.replace(aside)
    return aside
