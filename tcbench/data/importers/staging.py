"""Resumable, crash-safe imports: raw inputs are converted part by part into a staging folder next to the output,
then assembled into the curated parquet, which appears only once complete (atomic rename).

Each part is written atomically under its index, so an interrupted import (crash, Ctrl-C, out-of-memory kill)
keeps every finished part and re-running the same command skips them. The staging folder is keyed by a
fingerprint of the inputs (names, sizes, modification times) and of the importer version: parts of another input
set are never mixed in, a stale staging folder is discarded. Parts convert in worker processes (``workers``);
memory is bounded by the parts in flight, one per worker.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from tcbench.atomic import atomic_write, atomic_write_text
from tcbench.data.curated import ROW_GROUP_FLOWS, parquet_options


def fingerprint(items: Sequence[Any]) -> str:
    """sha256 of the JSON of ``items`` (e.g. input names, sizes and mtimes and the importer version)."""
    return hashlib.sha256(json.dumps(list(items), sort_keys=True, default=str).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


@dataclass(frozen=True)
class PartStats:
    flows: int
    packets: int


def _convert_part(convert: Callable[[Any], pa.Table], task: Any, path: Path) -> PartStats:
    table = convert(task)
    atomic_write(path, lambda tmp: pq.write_table(table, tmp, compression="none"))  # read back once: speed over size
    return PartStats(table.num_rows, _packets(table))


def _packets(table: pa.Table) -> int:
    for name in ("num_pkts", "packets"):
        if name in table.column_names:
            return int(pc.sum(table.column(name)).as_py() or 0)
    return 0


def partition_parts(files: Sequence[Any], part_mb: float) -> list[list[Any]]:
    """Consecutive groups of input files (anything with a ``size`` in bytes) of about ``part_mb`` MB each; a
    bigger file is a part of its own. Parts need not know their first row: assembly numbers the rows."""
    parts: list[list[Any]] = []
    limit, current, size = part_mb * 2**20, [], 0
    for f in files:
        if current and size + f.size > limit:
            parts.append(current)
            current, size = [], 0
        current.append(f)
        size += f.size
    return parts + ([current] if current else [])


class Staging:
    """The staging folder ``<output dir>/.import-<name>/`` of one import."""

    def __init__(self, out_dir: Path, name: str, key: str) -> None:
        self.root = Path(out_dir) / f".import-{name}"
        stamp = self.root / "fingerprint"
        if self.root.exists() and (not stamp.exists() or stamp.read_text() != key):
            shutil.rmtree(self.root)  # parts of other inputs (or of an older importer): never mix them in
        self.root.mkdir(parents=True, exist_ok=True)
        if not stamp.exists():
            atomic_write_text(stamp, key)

    def part(self, index: int) -> Path:
        return self.root / f"part-{index:06d}.parquet"

    def convert(self, tasks: Sequence[Any], convert: Callable[[Any], pa.Table], workers: int = 1,
                progress: Callable[[int, int, PartStats, bool], None] | None = None) -> None:
        """Convert every task whose part is missing; ``progress(done, total, stats, resumed)`` after each part.

        ``convert`` must be a picklable top-level function (it runs in worker processes when ``workers > 1``);
        an error in any part stops the import with that error, keeping the parts already written.
        """
        todo = [i for i in range(len(tasks)) if not self.part(i).exists()]
        done = len(tasks) - len(todo)
        for _ in range(done):
            if progress:
                progress(done, len(tasks), PartStats(0, 0), True)
        if workers <= 1:
            for i in todo:
                stats = _convert_part(convert, tasks[i], self.part(i))
                done += 1
                if progress:
                    progress(done, len(tasks), stats, False)
            return
        with ProcessPoolExecutor(max_workers=workers) as pool:
            pending: set[Future[PartStats]] = set()
            queue = list(todo)
            while queue or pending:
                while queue and len(pending) < workers:  # one part in flight per worker bounds memory
                    i = queue.pop(0)
                    pending.add(pool.submit(_convert_part, convert, tasks[i], self.part(i)))
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in finished:
                    stats = future.result()
                    done += 1
                    if progress:
                        progress(done, len(tasks), stats, False)

    def assemble(self, n_parts: int, out_path: Path, schema: pa.Schema) -> Path:
        """Stream the parts, in order, into ``out_path`` with the curated writer options and row groups of
        ROW_GROUP_FLOWS flows (the same inputs give a byte-identical file whatever the part boundaries); the file
        appears only once complete. The parts stay until :meth:`discard`."""
        def write(tmp: Path) -> None:
            with pq.ParquetWriter(tmp, schema, **parquet_options(schema)) as writer:
                leftover = schema.empty_table()
                next_row = 0
                for i in range(n_parts):
                    part = pq.read_table(self.part(i)).cast(schema)
                    if "row_id" in schema.names:  # flows are numbered in part order (parts may not know their offset)
                        row_ids = pa.array(np.arange(next_row, next_row + part.num_rows, dtype=np.int64))
                        part = part.set_column(schema.get_field_index("row_id"), "row_id", row_ids)
                        next_row += part.num_rows
                    table = pa.concat_tables([leftover, part])
                    full = table.num_rows - table.num_rows % ROW_GROUP_FLOWS
                    if full:
                        writer.write_table(table.slice(0, full), row_group_size=ROW_GROUP_FLOWS)
                    leftover = table.slice(full)
                if leftover.num_rows:
                    writer.write_table(leftover, row_group_size=ROW_GROUP_FLOWS)

        atomic_write(out_path, write, durable=True)
        return out_path

    def discard(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class Progress:
    """Parts done, packets per second and ETA on one line (rich), for long imports."""

    def __init__(self, label: str, enabled: bool = True) -> None:
        self.label = label
        self.enabled = enabled
        self.t0 = time.perf_counter()
        self.packets = 0
        self._bar: Any = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.progress import BarColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total} parts"),
                                     TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn())
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=None, rate="")
        return self

    def __call__(self, done: int, total: int, stats: PartStats, resumed: bool) -> None:
        self.packets += stats.packets
        if self._bar is not None:
            rate = self.packets / max(time.perf_counter() - self.t0, 1e-9)
            self._bar.update(self._task, completed=done, total=total, rate=f"{rate / 1e6:.2f} M packets/s")

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
