"""``fetch_dataset``: bring a dataset's raw files into its raw folder, verified, in the order that fails early.

Before any byte is downloaded: the dataset declares files, the mirror's manifest (if any) is read, the licence is
accepted where it must be, and every file is resolved to a source. Then each file: kept when already there and
verified; else downloaded into ``<name>.part`` (resumed), verified, and only then renamed to its final name. A file
that fails verification, downloaded or placed by hand, is set aside as ``<name>.bad-<sha256 prefix>``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcbench.data.fetch import gdrive, http
from tcbench.data.fetch.errors import FetchError
from tcbench.data.fetch.mirror import Source, licence_terms, load_manifest, resolve
from tcbench.data.fetch.settings import FetchSettings
from tcbench.data.fetch.verify import mismatches, set_aside
from tcbench.data.registry import get_dataset


@dataclass
class FetchReport:
    files: list[Path] = field(default_factory=list)  # every raw file, verified, under its final name
    downloaded_bytes: int = 0


def raw_paths(name: str, raw_dir: Path) -> list[Path]:
    """Where each declared raw file of ``name`` lives once fetched."""
    return [Path(raw_dir) / f.name for f in get_dataset(name).raw_files]


def import_command(name: str, raw_dir: Path, datasets_dir: Path) -> str:
    """The exact `tcbench datasets import` command for files fetched (or placed by hand) in ``raw_dir``."""
    raws = " ".join(f"--raw {_quote(p)}" for p in raw_paths(name, raw_dir))
    return f"tcbench datasets import {name} {raws} --datasets-dir {_quote(datasets_dir)}"


def _quote(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


def human_size(n: int | None) -> str:
    if n is None:
        return "size unknown"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"


def fetch_dataset(name: str, raw_dir: Path, settings: FetchSettings, *, next_step: str,
                  say: Callable[[str], None] = print, progress: bool = True) -> FetchReport:
    """Fetch ``name``'s missing raw files into ``raw_dir``; ``next_step`` is the command to run with files
    downloaded by hand (named in every error). Raises FetchError (one line)."""
    definition = get_dataset(name)
    if not definition.raw_files:
        raise FetchError(f"{name} declares no raw files to fetch (tcbench.data.registry)")
    manifest = load_manifest(settings)
    required, terms = licence_terms(name, definition.licence, manifest)
    if required and not settings.accept_licence:
        raise FetchError(f"{name}: its licence, {terms}, must be accepted before download: pass --accept-licence, or set "
                         "dataset.download.accept_licence: true in the campaign config")
    sources = [resolve(name, f, settings, manifest) for f in definition.raw_files]
    raw_dir = Path(raw_dir)
    raw_dir.mkdir(parents=True, exist_ok=True)
    report = FetchReport()
    for source in sources:
        final = raw_dir / source.file.name
        if final.exists():
            found, wrong = mismatches(final, source.checksums, source.size)
            if not wrong:
                say(f"{name}: {final} is there and verified ({_what(source, found)})")
                report.files.append(final)
                continue
            aside = set_aside(final, found["sha256"])
            say(f"{name}: {final} does not match ({wrong[0]}); set aside as {aside.name}, downloading it again")
        report.downloaded_bytes += _fetch_one(name, source, final, settings, next_step, say, progress)
        report.files.append(final)
    return report


def _what(source: Source, found: dict[str, str]) -> str:
    if not source.checksums:
        return f"no checksum published; its sha256 is {found['sha256']}"
    return ", ".join(f"{c.algorithm} {c.value[:12]}... from {c.source}" for c in source.checksums)


def _fetch_one(name: str, source: Source, final: Path, settings: FetchSettings, next_step: str,
               say: Callable[[str], None], progress: bool) -> int:
    """Download one file, verify it, move it to its final name; the bytes downloaded."""
    by_hand = f"download it by hand to {final}, then run: {next_step}"
    if source.transport == "manual":
        raise FetchError(f"{name}: {source.file.name} cannot be downloaded by a script ({source.file.note}): open "
                         f"{source.file.url}, save the file as {final}, then run: {next_step}")
    size = source.size
    say(f"{name}: downloading {source.file.name} ({human_size(size) if size else source.file.approx_size}) from "
        f"{source.urls[0]}{' (mirror)' if source.from_mirror else ''} into {final.parent}")
    staged = final.with_name(final.name + (".gdrive" if source.transport == "gdrive" else ".part"))
    t0 = time.perf_counter()
    error: FetchError | None = None
    for url in source.urls:
        try:
            with _Bar(source.file.name, progress) as bar:
                if source.transport == "gdrive":
                    gdrive.download(url, source.file.name, staged, settings, progress=bar.absolute)
                else:
                    http.download(url, staged, settings, on_start=bar.start, on_bytes=bar.advance)
            error = None
            break
        except http.Unreachable as exc:
            error = FetchError(f"{name}: {exc}; {by_hand}")
        except FetchError as exc:
            error = FetchError(f"{name}: {exc}; re-run to resume, or {by_hand}")
    if error is not None:
        raise error
    found, wrong = mismatches(staged, source.checksums, size)
    if wrong:
        aside = set_aside(staged, found["sha256"])
        raise FetchError(f"{name}: {source.file.name} from {source.urls[0]} has {wrong[0]}: refused and set aside as "
                         f"{aside}; re-run to download it again (or check the mirror), or {by_hand}")
    nbytes = staged.stat().st_size
    staged.replace(final)
    seconds = time.perf_counter() - t0
    say(f"{name}: {final} downloaded ({human_size(nbytes)} in {seconds:.1f} s) and verified ({_what(source, found)})")
    return nbytes


class _Bar:
    """A rich progress bar (bytes, rate, ETA) for one file; silent when disabled (logs get the lines of ``say``)."""

    def __init__(self, label: str, enabled: bool) -> None:
        self.label, self.enabled = label, enabled
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> _Bar:
        if self.enabled:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                                 TimeRemainingColumn(), transient=False)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=None)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def start(self, have: int, total: int | None) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=have, total=total)

    def advance(self, n: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, n)

    def absolute(self, done: int, total: int | None) -> None:
        if self._bar is not None:
            self._bar.update(self._task, completed=done, total=total)
