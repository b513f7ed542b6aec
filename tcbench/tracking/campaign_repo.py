"""Merge per-run AIM repos into one campaign repo, labelled, with artifacts, atomically.

The campaign repo is rebuilt from scratch every time (it is a derived view of `results/runs/`): built in a temp
sibling of `dst` and swapped into place only when complete and re-indexed, so readers (and a crash) only ever see
the previous complete repo or the new complete one.

Two copy engines:
- "files" (default): a per-run repo holds exactly one run, stored in two self-contained RocksDB folders
  (`.aim/meta/chunks/<hash>`, `.aim/seqs/chunks/<hash>`) plus one row of `run_metadata.sqlite`. The folders are copied
  as files (a closed RocksDB folder is a valid copy of itself; the bytes are identical to the source) and the row
  through aim's structured-DB API, in one SQLite transaction. ~0.1 s per run.
- "aim": `Repo.copy_runs`, which rewrites the trees value by value; ~0.4 s per run. Kept as a cross-check and a
  fallback should a future aim change its folder layout.
Both then write the campaign labels into the copied run and re-index once at the end.

Tags and experiment: AIM keeps a run's tags and experiment in the repo's SQLite run table (not in the run's
RocksDB trees), so they are set on the copied run's row in the same SQLite transaction as the copy. A merged run
carries the union of the tags it was written with and the source's `tags` (e.g. `campaign:<id>`, plus the grid
tags again, so runs written before tags existed get them too), without repeats; a source's `experiment`, when
given, replaces the one the run was written with: one per-run repo is shared by several campaigns, which may name
their experiment differently, so the experiment is a campaign label. The per-run repos are never modified, and
since the campaign repo is rebuilt from them each time, merging twice gives the same tags, never doubled ones.
"""

from __future__ import annotations

import ctypes
import datetime
import errno
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tcbench.tracking.aim_repo import (
    AIM_DIR,
    check_tags,
    ensure_template_repo,
    forget_repo,
    init_run_repo,
    plain,
    reindex_open_repo,
    release_repo,
    run_is_locked,
    sweep_stale_temps,
    temp_sibling,
)
from tcbench.tracking.marker import MARKER_NAME, MarkerError, read_marker

logger = logging.getLogger(__name__)

LABEL_TYPES: dict[str, type] = {"campaign_id": str, "campaign_exp_idx": int}
# label writes wait on RocksDB file creation/fsync, not CPU: threads overlap them (~4x faster with 4 threads)
LABEL_THREADS = 4
# RocksDB info logs: diagnostic text only, ~25 KB per folder, not needed to open the database
_ROCKS_IGNORE = shutil.ignore_patterns("LOG", "LOG.old.*")


class MergeError(RuntimeError):
    """A source run that cannot be merged (no marker, unknown AIM run, still locked, conflicting hashes)."""


@dataclass(frozen=True)
class MergeSource:
    """One finished run: `run_dir` is `results/runs/<run_key>` (marker.json, aim/, artifacts/).

    `labels` go under `hparams`; `tags` are added to the run's own AIM tags; `experiment` (when not None) is the
    AIM experiment the merged run is put in, instead of the one it was written with.
    """

    run_dir: Path
    labels: Mapping[str, Any] = field(default_factory=dict)
    tags: Sequence[str] = ()
    experiment: str | None = None


@dataclass(frozen=True)
class MergedRun:
    run_key: str
    run_hash: str
    run_dir: Path
    labels: dict[str, Any]
    artifacts: bool
    tags: tuple[str, ...] = ()  # every tag of the merged run: its own, then the source's new ones
    experiment: str | None = None  # the merged run's AIM experiment


@dataclass
class MergeReport:
    dst: Path
    runs: list[MergedRun]
    duplicates: list[str]  # run_keys given more than once; only the first occurrence was merged
    seconds: float

    @property
    def run_hashes(self) -> list[str]:
        return [r.run_hash for r in self.runs]


@dataclass(frozen=True)
class _Plan:
    source: MergeSource
    run_dir: Path
    run_key: str
    run_hash: str
    repo_root: Path
    labels: dict[str, Any]
    tags: tuple[str, ...]
    experiment: str | None


# --------------------------------------------------------------------------------------------------------------


def folder_bytes(folder: Path) -> int:
    """Bytes of the files below ``folder`` (links not followed; files that vanish meanwhile count 0)."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total



def _check_labels(labels: Mapping[str, Any], where: Path) -> dict[str, Any]:
    out = plain(dict(labels))
    for key, typ in LABEL_TYPES.items():
        if key in out and (not isinstance(out[key], typ) or isinstance(out[key], bool)):
            raise MergeError(f"{where}: label {key!r} must be {typ.__name__}, got {out[key]!r}")
    return out


def _plan(sources: Sequence[MergeSource]) -> tuple[list[_Plan], list[str]]:
    """Read every marker up front: a bad source fails the merge before anything is copied."""
    plans: list[_Plan] = []
    duplicates: list[str] = []
    seen_keys: set[str] = set()
    seen_hashes: dict[str, str] = {}
    for src in sources:
        run_dir = Path(src.run_dir).absolute()
        try:
            marker = read_marker(run_dir / MARKER_NAME)
        except MarkerError as exc:
            raise MergeError(f"run {run_dir} is not complete: {exc}") from exc
        run_key, run_hash = marker["run_key"], marker["aim"]["run_hash"]
        if run_key in seen_keys:
            duplicates.append(run_key)
            continue
        if run_hash in seen_hashes:
            raise MergeError(f"AIM run {run_hash} claimed by run_keys {seen_hashes[run_hash]} and {run_key}")
        repo_root = (run_dir / marker["aim"]["repo"]).absolute()
        if not (repo_root / AIM_DIR / "meta" / "chunks" / run_hash).is_dir():
            raise MergeError(f"{run_dir}: AIM run {run_hash} named by the marker is not in {repo_root}")
        if run_is_locked(repo_root, run_hash):
            raise MergeError(
                f"{run_dir}: AIM run {run_hash} is still locked (writer alive or killed); "
                "see tcbench.tracking.aim_repo.clear_stale_locks"
            )
        try:
            tags = check_tags(src.tags, f"{run_dir}: tags")
        except ValueError as exc:
            raise MergeError(str(exc)) from exc
        if src.experiment is not None and (not isinstance(src.experiment, str) or not src.experiment.strip()):
            raise MergeError(f"{run_dir}: experiment must be a non-empty string or None, got {src.experiment!r}")
        seen_keys.add(run_key)
        seen_hashes[run_hash] = run_key
        plans.append(_Plan(src, run_dir, run_key, run_hash, repo_root, _check_labels(src.labels, run_dir), tags,
                           src.experiment))
    return plans, duplicates


def _read_run_row(aim_dir: Path, run_hash: str) -> dict[str, Any]:
    """The run's row of run_metadata.sqlite, read with plain sqlite3 (read-only).

    aim's ORM needs ~30 ms per source repo just to build an engine and run one query; sqlite3 takes ~1 ms. The
    columns are those of aim's own schema (pinned aim version), the ones `Repo._copy_run` copies.
    """
    con = sqlite3.connect(f"file:{aim_dir / 'run_metadata.sqlite'}?mode=ro", uri=True)
    try:
        row = con.execute(
            "SELECT r.id, r.name, r.description, r.is_archived, r.created_at, e.name FROM run r "
            "LEFT JOIN experiment e ON e.id = r.experiment_id WHERE r.hash = ?",
            (run_hash,),
        ).fetchone()
        if row is None:
            raise MergeError(f"{aim_dir}: run {run_hash} has no row in run_metadata.sqlite")
        run_id, name, description, archived, created_at, experiment = row
        # archived tags are hidden by aim (`Run.tags`), hence not copied by `Repo.copy_runs` either
        tags = [t for (t,) in con.execute(
            "SELECT t.name FROM run_tag rt JOIN tag t ON t.id = rt.tag_id "
            "WHERE rt.run_id = ? AND (t.is_archived IS NULL OR NOT t.is_archived) ORDER BY t.id",
            (run_id,),
        )]
    finally:
        con.close()
    return {
        "name": name,
        "description": description,
        "archived": bool(archived),
        # stored naive, in UTC, the way SQLAlchemy's DateTime reads it back
        "created_at": datetime.datetime.fromisoformat(created_at) if created_at else None,
        "experiment": experiment,
        "tags": tags,
    }


def _add_new_tags(props: Any, tags: Sequence[str]) -> tuple[str, ...]:
    """Add the `tags` a run's props lack (aim warns for each repeat); returns all of the run's tags."""
    have = list(props.tags)
    for tag in tags:
        if tag not in have:
            props.add_tag(tag)
            have.append(tag)
    return tuple(have)


def _copy_run_files(plan: _Plan, dst_repo: Any) -> tuple[tuple[str, ...], str | None]:
    """Copy the run's folders and its SQLite row, with the source's tags and experiment; returns (tags, experiment)."""
    src_aim = plan.repo_root / AIM_DIR
    dst_aim = Path(dst_repo.path)
    for part in ("meta", "seqs"):
        src_chunk = src_aim / part / "chunks" / plan.run_hash
        if src_chunk.is_dir():  # seqs is absent for a run that tracked nothing
            shutil.copytree(src_chunk, dst_aim / part / "chunks" / plan.run_hash, ignore=_ROCKS_IGNORE)

    src_run = _read_run_row(src_aim, plan.run_hash)
    # same fields as Repo._copy_run's copy_structured_props
    dst_run = dst_repo.request_props(plan.run_hash, read_only=False, created_at=src_run["created_at"])
    dst_run.name = src_run["name"]
    # the override is set directly: the written experiment never enters the campaign repo
    experiment = plan.experiment if plan.experiment is not None else src_run["experiment"]
    dst_run.experiment = experiment
    dst_run.description = src_run["description"]
    dst_run.archived = src_run["archived"]
    tags = _add_new_tags(dst_run, [*src_run["tags"], *plan.tags])
    return tags, experiment


def _copy_run_aim(plan: _Plan, dst_repo: Any) -> tuple[tuple[str, ...], str | None]:
    """`Repo.copy_runs` (copies the row with its tags and experiment), then the source's tags and experiment."""
    from aim.sdk.repo import Repo

    src_repo = Repo(str(plan.repo_root))
    try:
        ok, failed = src_repo.copy_runs([plan.run_hash], dst_repo)  # logs and swallows per-run errors
        if not ok:
            raise MergeError(f"{plan.repo_root}: Repo.copy_runs failed for {failed} (see the aim warning above)")
    finally:
        release_repo(src_repo)
    props = dst_repo.request_props(plan.run_hash, read_only=False)
    tags = _add_new_tags(props, plan.tags)
    if plan.experiment is not None and props.experiment != plan.experiment:
        props.experiment = plan.experiment
    experiment = props.experiment
    return tags, experiment if isinstance(experiment, str) else None


def _drop_experiments(dst_repo: Any, names: set[str]) -> None:
    """Delete the experiments named in `names` from the campaign repo being built.

    `Repo.copy_runs` creates the experiment a run was written with before the override moves the run elsewhere;
    left behind, it would show in the AIM UI as an empty experiment (the "files" engine never creates it). The
    caller passes only names no merged run has (the repo is built from scratch, so the merged runs are all of its
    runs): aim's `delete_experiment` also deletes the runs of the experiment.
    """
    db = dst_repo.structured_db
    for exp in list(db.experiments()):
        if exp.name in names and not db.delete_experiment(exp.uuid):
            raise MergeError(f"could not drop the emptied experiment {exp.name!r} from the campaign repo")


def _write_labels(aim_dir: Path, run_hash: str, labels: Mapping[str, Any]) -> None:
    """Add labels under hparams of the copied run only.

    Written straight into the run's meta tree, in the two places `run[...] = ...` writes (the run's attrs and the
    repo-wide attrs summary); opening the run with `aim.Run(hash)` instead would reset and rewrite its end_time.
    Uses its own RocksContainer (no shared Repo state), so several runs can be labelled from threads: the cost is
    the RocksDB write-mode open (~50-90 ms, file creation and fsync), during which the GIL is released.
    """
    if not labels:
        return
    from aim.storage.rockscontainer import RocksContainer

    container = RocksContainer(str(aim_dir / "meta" / "chunks" / run_hash), read_only=False)
    try:
        meta = container.tree().subtree("meta")
        for key, value in labels.items():
            meta["chunks", run_hash, "attrs", "hparams", key] = value
            meta["attrs", "hparams", key] = value
        del meta
    finally:
        container.close()


def _copy_artifacts(plan: _Plan, dst_root: Path) -> bool:
    src = plan.run_dir / "artifacts"
    if not src.is_dir():
        return False
    shutil.copytree(src, dst_root / "artifacts" / plan.run_hash)
    return True


# --------------------------------------------------------------------------------------------------------------


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux renameat2 RENAME_EXCHANGE); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def _swap_into_place(tmp: Path, dst: Path) -> None:
    """Put the complete `tmp` at `dst`; the previous `dst` stays whole until the new one is in place."""
    if not dst.exists():
        os.rename(tmp, dst)
        return
    if _exchange(tmp, dst):  # tmp now holds the old repo
        shutil.rmtree(tmp, ignore_errors=True)
        return
    old = temp_sibling(dst, "old")  # fallback: two renames, a crash in between leaves the old repo at `old`
    os.rename(dst, old)
    os.rename(tmp, dst)
    shutil.rmtree(old, ignore_errors=True)


#: An empty campaign repo (AIM's SQLite index and folders) and the re-index, on top of the copied runs.
REPO_OVERHEAD_BYTES = 2**20


def _check_space(plans: Sequence[_Plan], dst: Path) -> None:
    """Refuse a merge that cannot fit before writing anything (an ENOSPC OSError naming ``dst``): it copies every
    run's AIM data and artifacts, and on a full disk AIM's repo creation fails in a subprocess that prints its own
    traceback instead of a reason."""
    need = REPO_OVERHEAD_BYTES + sum(folder_bytes(p.repo_root) + folder_bytes(p.run_dir / "artifacts") for p in plans)
    free = shutil.disk_usage(dst.parent).free
    if need > free:
        raise OSError(errno.ENOSPC, f"No space left on device (the campaign repo needs about {need / 2**20:.1f} MiB, "
                                    f"{free / 2**20:.1f} MiB free)", str(dst))


def merge_run_repos(
    runs: Sequence[MergeSource],
    dst: str | os.PathLike[str],
    *,
    template: str | os.PathLike[str] | None = None,
    engine: Literal["files", "aim"] = "files",
) -> MergeReport:
    """(Re)build the AIM repo at `dst` (a repo root, e.g. results/campaigns/<id>/aim) from finished runs.

    Each run is copied with its labels added to `hparams`, its source's tags added to its own AIM tags, its
    experiment replaced by the source's `experiment` when given, and its artifacts copied to
    `dst/artifacts/<hash>/`; the repo is re-indexed, so `Repo.iter_runs()` and `query_runs()` see every run. A
    run_key given twice is merged once. `template` (see aim_repo.ensure_template_repo) saves ~2 s of repo creation.
    """
    if engine not in ("files", "aim"):
        raise ValueError(f"unknown merge engine {engine!r}")
    t0 = time.perf_counter()
    dst = Path(dst).absolute()
    plans, duplicates = _plan(runs)
    if duplicates:
        logger.warning("merge into %s: run_keys given more than once, merged once: %s", dst, sorted(set(duplicates)))

    dst.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(dst)
    _check_space(plans, dst)
    tmp = temp_sibling(dst, "tmp")
    try:
        init_run_repo(tmp, ensure_template_repo(template) if template is not None else None)
        from aim.sdk.repo import Repo

        dst_repo = Repo(str(tmp))
        merged: list[MergedRun] = []
        try:
            copy = _copy_run_files if engine == "files" else _copy_run_aim
            props: dict[str, tuple[tuple[str, ...], str | None]] = {}
            with dst_repo.structured_db:  # one SQLite transaction for all run rows, tags and experiments
                for plan in plans:
                    props[plan.run_hash] = copy(plan, dst_repo)
                if engine == "aim":
                    written = {_read_run_row(p.repo_root / AIM_DIR, p.run_hash)["experiment"] for p in plans
                               if p.experiment is not None}
                    in_use = {experiment for _, experiment in props.values()}
                    _drop_experiments(dst_repo, {e for e in written - in_use if e is not None})
            aim_dir = Path(dst_repo.path)
            with ThreadPoolExecutor(max_workers=LABEL_THREADS) as pool:
                list(pool.map(lambda p: _write_labels(aim_dir, p.run_hash, p.labels), plans))
            for plan in plans:
                has_artifacts = _copy_artifacts(plan, tmp)
                tags, experiment = props[plan.run_hash]
                merged.append(MergedRun(plan.run_key, plan.run_hash, plan.run_dir, plan.labels, has_artifacts,
                                        tags, experiment))
            reindex_open_repo(dst_repo, [p.run_hash for p in plans])
        finally:
            release_repo(dst_repo)
            forget_repo(tmp)
        forget_repo(dst)
        _swap_into_place(tmp, dst)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    seconds = time.perf_counter() - t0
    logger.info("merged %d runs into %s in %.2f s", len(merged), dst, seconds)
    return MergeReport(dst=dst, runs=merged, duplicates=duplicates, seconds=seconds)
