"""Importers of the public datasets from the files their authors publish, into curated dataset folders.

A dataset folder (``<datasets_dir>/<name>/``) holds ``<name>.parquet`` (curated schema) and ``dataset.json``
(identity: name, source ``imported``, importer version, sha256 of the parquet), plus what campaigns derive from
it (``splits/``, ``flowpics/``). The parquet is written only once complete; an interrupted import resumes from
its finished parts (``staging``); re-importing different data replaces derived files only with ``force``.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from tcbench.data.dataset_info import (
    CONTENT_INFO,
    DATASET_INFO,
    read_dataset_spec,
    write_content_record,
    write_dataset_spec,
)
from tcbench.data.importers.errors import RawDataError
from tcbench.data.importers.staging import PartStats, Staging, file_sha256, fingerprint
from tcbench.data.registry import DATASETS

# The importer module of each dataset (tcbench.data.registry): discover(raw[, scratch]), partition_parts(files,
# part_mb), convert_part(part), SCHEMA, IMPORTER_VERSION, and optionally derive(out_dir, parquet) for the filtered
# variants and splits. ("module", None) is a module with that interface; ("module", "VARIANT") the module's
# ``bound(VARIANT)``.
IMPORTERS = {d.name: d.importer for d in DATASETS.values()}
IMPORTABLE = tuple(IMPORTERS)
DERIVED = ("splits", "flowpics", "filtered")  # folders computed from the parquet: stale once the data changes


@dataclass(frozen=True)
class ImportResult:
    parquet: Path
    spec: dict[str, Any]
    changed: bool  # False when the same data was already imported there
    derived: tuple[Path, ...] = ()


def importer(name: str) -> Any:
    """The importer of ``name`` (a module or a bound MIRAGE variant)."""
    import importlib

    if name not in IMPORTABLE:
        raise RawDataError(f"cannot import {name!r}; importable datasets: {list(IMPORTABLE)}")
    module_name, variant = IMPORTERS[name]
    module = importlib.import_module(module_name)
    return module.bound(getattr(module, variant)) if variant else module


def import_dataset(name: str, raw: Sequence[Path], out_dir: Path, *, workers: int = 1, part_mb: float = 64.0,
                   force: bool = False, progress: Callable[[int, int, PartStats, bool], None] | None = None) -> ImportResult:
    """Import ``name`` from its raw files into ``out_dir``; see the module docstring for the guarantees."""
    chosen = importer(name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = out_dir / f".extract-{name}"
    files = chosen.discover(raw, scratch)
    parts = chosen.partition_parts(files, part_mb)
    key = fingerprint([chosen.IMPORTER_VERSION,
                       *((f.where, f.size, f.archive or Path(f.path).stat().st_mtime_ns) for f in files),
                       *((str(p), p.stat().st_mtime_ns) for p in map(Path, raw) if p.is_file())])
    staging = Staging(out_dir, name, key)
    staging.convert(parts, chosen.convert_part, workers, progress)
    assembled = staging.assemble(len(parts), out_dir / f".{name}.parquet.assembled", chosen.SCHEMA)
    result = _install(out_dir, name, assembled, {"importer_version": chosen.IMPORTER_VERSION}, force)
    result = _derive(chosen, out_dir, result)
    staging.discard()
    shutil.rmtree(scratch, ignore_errors=True)
    return result


def import_from_tcbench(name: str, tcbench_dir: Path, out_dir: Path, *, force: bool = False) -> ImportResult:
    """Import the curated ``<name>.parquet`` of an installation of the original tcbench (its ``datasets`` folder or
    any folder above the file), so its users keep their data."""
    from tcbench.data.curated import write_curated_parquet
    from tcbench.data.importers.from_tcbench import convert_tcbench_other, convert_tcbench_parquet, find_tcbench_parquet

    chosen = importer(name)
    source = find_tcbench_parquet(Path(tcbench_dir), name)
    table = convert_tcbench_parquet(source) if name == "ucdavis-icdm19" else convert_tcbench_other(source, name)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    assembled = write_curated_parquet(table, out_dir / f".{name}.parquet.assembled")
    result = _install(out_dir, name, assembled, {"imported_from": "tcbench"}, force)
    return _derive(chosen, out_dir, result)


def _derive(chosen: Any, out_dir: Path, result: ImportResult) -> ImportResult:
    """The filtered variants and splits of a (re)installed dataset, or of one whose derived files are missing."""
    derive = getattr(chosen, "derive", None)
    if derive is None or not (result.changed or not (out_dir / "filtered").exists()):
        return result
    return ImportResult(result.parquet, result.spec, result.changed, tuple(derive(out_dir, result.parquet)))


def _install(out_dir: Path, name: str, assembled: Path, extra: dict[str, Any], force: bool) -> ImportResult:
    """Move a complete parquet into place with its dataset.json. Same data as already there: nothing changes (a
    damaged installed copy of the same data is replaced). Different data: only with ``force``, and the derived
    caches go first. dataset.json is removed before the parquet is replaced and written after it, so a crash in
    between leaves a folder runs refuse to use, never new data under the old identity."""
    out = out_dir / f"{name}.parquet"
    info = out_dir / DATASET_INFO
    previous = read_dataset_spec(out_dir) if info.exists() else None
    spec = {"name": name, "source": "imported", **extra, "flows": pq.ParquetFile(assembled).metadata.num_rows,
            "sha256": file_sha256(assembled)}
    if previous is not None and previous.get("sha256") == spec["sha256"]:
        if out.exists() and file_sha256(out) == spec["sha256"]:
            assembled.unlink()
            return ImportResult(out, previous, changed=False)
        # The same data, but the installed copy is missing or damaged (a cut copy, a full disk): repair it in place.
        # Its identity, and so the run keys and derived caches built from the intact file, stay valid.
        assembled.replace(out)
        write_content_record(out_dir, out, spec["sha256"])
        return ImportResult(out, previous, changed=True)
    if (previous is not None or out.exists()) and not force:
        assembled.unlink()
        raise RawDataError(f"{out_dir} already holds a different {name} (sha256 {(previous or {}).get('sha256', '?')[:12]}); "
                           "pass --force to replace it (its splits and flowpic caches are deleted), or import elsewhere")
    info.unlink(missing_ok=True)
    (out_dir / CONTENT_INFO).unlink(missing_ok=True)
    for folder in DERIVED:
        shutil.rmtree(out_dir / folder, ignore_errors=True)
    assembled.replace(out)
    write_content_record(out_dir, out, spec["sha256"])
    write_dataset_spec(out_dir, spec)
    return ImportResult(out, spec, changed=True)
