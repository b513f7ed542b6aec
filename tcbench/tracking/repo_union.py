"""Merge whole AIM repos into one (``tcbench aimrepo merge``), with the bugs of the original's merge fixed
(docs/original-behaviour.md, merge).

Unlike the original, the destination is never deleted: runs already there are kept and a run is never copied
twice (same AIM hash, or same ``run_key`` param for our runs), so merging is idempotent. Runs are copied with
AIM's own ``Repo.copy_runs`` (any repo layout AIM can read: campaign repos, per-run repos, the original
tcbench's), their ``<src>/artifacts/<hash>/`` folders alongside, and the destination is re-indexed at the end so
``Repo.iter_runs()`` sees the copied (closed) runs.

Tags and experiment: AIM keeps them in the SQLite run table, not in the run's trees; ``Repo.copy_runs`` (aim
3.29.1, ``Repo._copy_run.copy_structured_props``) copies the run's row with its experiment and its tags (the
non-archived ones, those ``Run.tags`` lists), reusing a tag or experiment of the same name already in ``dst``,
so nothing more is needed here; ``tests/test_aimrepo_merge.py`` checks it, should a later aim stop doing so.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcbench.tracking.aim_repo import (
    AIM_DIR,
    clear_stale_locks,
    ensure_template_repo,
    forget_repo,
    is_repo,
    list_run_hashes,
    open_repo,
    reindex,
    run_is_locked,
)

logger = logging.getLogger(__name__)


class RepoMergeError(RuntimeError):
    """A merge that cannot start (bad source or destination) or a run AIM failed to copy."""


@dataclass
class SourceResult:
    src: Path
    copied: list[str] = field(default_factory=list)  # run hashes copied into dst
    duplicates: list[str] = field(default_factory=list)  # already in dst (or in an earlier source): skipped
    locked: list[str] = field(default_factory=list)  # held by a live writer: skipped
    artifacts: int = 0  # artifacts folders copied


@dataclass
class RepoMergeReport:
    dst: Path
    created: bool
    sources: list[SourceResult]
    dst_runs: int

    @property
    def copied(self) -> int:
        return sum(len(s.copied) for s in self.sources)

    @property
    def duplicates(self) -> int:
        return sum(len(s.duplicates) for s in self.sources)

    @property
    def artifacts(self) -> int:
        return sum(s.artifacts for s in self.sources)


def read_run_key(repo_root: Path, run_hash: str) -> Any:
    """The ``run_key`` param of a stored run (None when absent), read from its own chunk, indexed or not."""
    from aim.storage.rockscontainer import RocksContainer

    chunk = repo_root / AIM_DIR / "meta" / "chunks" / run_hash
    if not chunk.is_dir():
        return None
    container = RocksContainer(str(chunk), read_only=True)
    try:
        try:
            value = container.tree().subtree("meta")["chunks", run_hash, "attrs", "run_key"]
        except KeyError:
            return None
        return value if isinstance(value, (str, int)) else None
    finally:
        container.close()


def _run_keys(repo_root: Path, hashes: Sequence[str]) -> dict[str, Any]:
    return {h: k for h in hashes if (k := read_run_key(repo_root, h)) is not None}


def check_paths(srcs: Sequence[str | os.PathLike[str]], dst: str | os.PathLike[str]) -> tuple[list[Path], Path]:
    """Validate before touching anything: every source is a repo, dst is none of them and is a repo or creatable."""
    if not srcs:
        raise RepoMergeError("no --src given")
    dst_path = Path(dst).absolute()
    dst_real = dst_path.resolve()
    src_paths = []
    for src in srcs:
        path = Path(src).absolute()
        if not is_repo(path):
            raise RepoMergeError(f"--src {src}: not an AIM repo (no {AIM_DIR}/VERSION)")
        if path.resolve() == dst_real:
            raise RepoMergeError(f"--dst {dst} is also given as --src {src}: cannot merge a repo into itself")
        src_paths.append(path)
    if dst_path.exists() and not is_repo(dst_path):
        if not dst_path.is_dir() or any(dst_path.iterdir()):
            raise RepoMergeError(f"--dst {dst} exists and is not an AIM repo (no {AIM_DIR}/VERSION); not touching it")
    return src_paths, dst_path


def _drop_partial(dst_repo: Any, run_hashes: Sequence[str]) -> None:
    """Remove what a failed copy left in dst (these hashes were not in dst before the copy)."""
    aim_dir = Path(dst_repo.path)
    for run_hash in run_hashes:
        for part in ("meta", "seqs"):
            shutil.rmtree(aim_dir / part / "chunks" / run_hash, ignore_errors=True)
        try:
            dst_repo.structured_db.delete_run(run_hash)
        except Exception:  # pragma: no cover - no row was written
            pass


def _copy_artifacts(src: Path, dst: Path, run_hash: str) -> bool:
    folder = src / "artifacts" / run_hash
    target = dst / "artifacts" / run_hash
    if not folder.is_dir() or target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(folder, target)
    return True


def merge_repos(srcs: Sequence[str | os.PathLike[str]], dst: str | os.PathLike[str]) -> RepoMergeReport:
    """Copy every run (and its artifacts folder) of each source repo into `dst`, creating it if needed.

    Runs already in `dst` (by hash or run_key) are skipped, as are runs still locked by a live writer (stale locks
    of dead writers are cleared first). Raises :class:`RepoMergeError` for bad paths or runs AIM failed to copy;
    `dst` is re-indexed in every case, so it stays consistent.
    """
    src_paths, dst_path = check_paths(srcs, dst)
    created = not is_repo(dst_path)
    if created:
        ensure_template_repo(dst_path)  # `aim init`, built aside and renamed into place

    dst_hashes = set(list_run_hashes(dst_path))
    dst_keys = set(_run_keys(dst_path, sorted(dst_hashes)).values())
    results: list[SourceResult] = []
    failures: list[str] = []
    forget_repo(dst_path)
    try:
        with open_repo(dst_path) as dst_repo:
            for src in src_paths:
                res = SourceResult(src)
                results.append(res)
                cleared = clear_stale_locks(src)
                if cleared:
                    logger.warning("%s: cleared stale locks of dead writers for runs %s", src, cleared)
                todo = []
                src_hashes = list_run_hashes(src)
                keys = _run_keys(src, src_hashes)
                for run_hash in src_hashes:
                    key = keys.get(run_hash)
                    if run_hash in dst_hashes or (key is not None and key in dst_keys):
                        res.duplicates.append(run_hash)
                    elif run_is_locked(src, run_hash):
                        res.locked.append(run_hash)
                    else:
                        todo.append(run_hash)
                        dst_hashes.add(run_hash)
                        if key is not None:
                            dst_keys.add(key)
                if not todo:
                    continue
                forget_repo(src)
                with open_repo(src) as src_repo:
                    ok, failed = src_repo.copy_runs(todo, dst_repo)  # logs and swallows per-run errors
                failed = list(failed) if not ok else []
                if failed:
                    _drop_partial(dst_repo, failed)
                    failures.append(f"{src}: {sorted(failed)}")
                for run_hash in todo:
                    if run_hash in failed:
                        dst_hashes.discard(run_hash)
                        continue
                    res.copied.append(run_hash)
                    if _copy_artifacts(src, dst_path, run_hash):
                        res.artifacts += 1
    finally:
        forget_repo(dst_path)
        indexed = reindex(dst_path)  # copied closed runs are invisible to iter_runs() until re-indexed
    if failures:
        raise RepoMergeError(f"AIM failed to copy run(s) into {dst_path} (see the aim warnings above): "
                             + "; ".join(failures))
    return RepoMergeReport(dst=dst_path, created=created, sources=results, dst_runs=len(indexed))
