"""AIM repository plumbing: template repos, per-run repos, re-indexing, stale locks.

Why a template: `aim init` (or the first `aim.Run` on a missing repo) runs the SQLite migrations of the run-metadata
database, about 2 s per repo, more than half of the fixed cost of a short training run. An empty repo is just a
directory (`.aim/` with `VERSION`, `run_metadata.sqlite`, an empty RocksDB `meta/index` and a few empty folders),
so one migrated repo is built once per results folder and every run gets a byte copy of it (a few ms). Runs live in
their own RocksDB folders (`meta/chunks/<hash>`, `seqs/chunks/<hash>`) and their own row of the copied SQLite file,
so copies share nothing at run time. Measured with aim 3.29.1: first `aim.Run` on a fresh repo 2.0-2.2 s, on a
template copy 0.15-0.2 s.

aim is imported lazily (it costs about 1.2 s), so importing this module stays cheap for code that only lists files.
All paths given here are repo *roots*, the folder that contains `.aim/`, as `aim up --repo` expects.
"""

from __future__ import annotations

import contextlib
import datetime
import errno
import importlib.metadata
import logging
import os
import secrets
import shutil
import socket
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from aim.sdk.repo import Repo

logger = logging.getLogger(__name__)

AIM_DIR = ".aim"
_VERSION_FILE = "VERSION"


def aim_version() -> str:
    """Installed aim version, read from package metadata so that aim itself is not imported."""
    return importlib.metadata.version("aim")


def default_template_path(results_dir: str | os.PathLike[str]) -> Path:
    """Where the template repo of a results folder lives; versioned so an aim upgrade never copies an old layout."""
    return Path(results_dir) / f".aim-template-{aim_version()}"


def is_repo(path: str | os.PathLike[str]) -> bool:
    """A complete local repo: AIM writes `VERSION` after the migrations, so its presence means 'initialised'."""
    return (Path(path) / AIM_DIR / _VERSION_FILE).is_file()


# --------------------------------------------------------------------------------------------------------------
# temp siblings: built next to their destination (same file system -> atomic rename), named so that a later call
# can tell which ones were left by a dead process on this host and may be swept.


def temp_sibling(dst: Path, kind: str) -> Path:
    # never ends with ".aim": aim's clean_repo_path strips that suffix from repo paths
    host = socket.gethostname().replace("-", "_")
    return dst.parent / f".{dst.name}.{kind}-{host}-{os.getpid()}-{secrets.token_hex(4)}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_temps(dst: Path) -> list[Path]:
    """Remove temp siblings of `dst` left by processes of this host that no longer exist (killed mid-build)."""
    host = socket.gethostname().replace("-", "_")
    removed = []
    if not dst.parent.is_dir():
        return removed
    for kind in ("tmp", "old"):
        for cand in dst.parent.glob(f".{dst.name}.{kind}-{host}-*"):
            try:
                pid = int(cand.name.rsplit("-", 2)[-2])
            except (ValueError, IndexError):
                continue
            if pid != os.getpid() and not _pid_alive(pid):
                shutil.rmtree(cand, ignore_errors=True)
                removed.append(cand)
    return removed


# --------------------------------------------------------------------------------------------------------------
# in-process AIM caches


def forget_repo(path: str | os.PathLike[str]) -> None:
    """Drop aim's in-process caches for a repo root.

    `Repo.from_path` (used by `aim.Run(repo=str)`), the SQLite `DB` and `RepoIndexManager` are cached per path; once a
    directory is replaced (template copy over a leftover, merge swap) a cached object would keep reading the deleted
    files. No-op when aim has not been imported.
    """
    if "aim.sdk.repo" not in sys.modules:
        return
    from aim.sdk.repo import Repo
    from aim.storage.structured.db import DB

    root = os.path.abspath(os.fspath(path))
    aim_path = os.path.join(root, AIM_DIR)
    repo = Repo._pool.pop(root, None)
    if repo is not None:
        release_repo(repo)
    db = DB._pool.pop(aim_path, None)
    if db is not None:
        db.engine.dispose()
    index_mod = sys.modules.get("aim.sdk.index_manager")
    if index_mod is not None:
        index_mod.RepoIndexManager.index_manager_pool.pop(aim_path, None)


def release_repo(repo: Repo) -> None:
    """Close what a Repo holds (RocksDB containers, SQLite connections) without waiting for garbage collection."""
    for pool in (repo.container_pool, repo.persistent_pool):
        containers = list(pool.values())
        pool.clear()
        for container in containers:
            container.close()
    if repo.structured_db is not None:
        repo.structured_db.engine.dispose()
    repo.close()


@contextlib.contextmanager
def open_repo(path: str | os.PathLike[str]) -> Iterator[Repo]:
    """A private (uncached) Repo on an existing local repo root, released on exit."""
    from aim.sdk.repo import Repo

    root = Path(path).absolute()
    if not is_repo(root):
        raise FileNotFoundError(f"{root} is not an initialised AIM repo (no {AIM_DIR}/{_VERSION_FILE})")
    repo = Repo(str(root))
    try:
        yield repo
    finally:
        release_repo(repo)


def _create_repo(root: Path) -> None:
    """`aim init` through the SDK: creates `.aim`, the empty index and runs the SQLite migrations (the slow part)."""
    from aim.sdk.repo import Repo
    from aim.storage.structured.db import DB

    root.mkdir(parents=True, exist_ok=True)
    repo = Repo(str(root), init=True)
    release_repo(repo)
    DB._pool.pop(repo.path, None)


# --------------------------------------------------------------------------------------------------------------
# template and per-run repos


def ensure_template_repo(path: str | os.PathLike[str]) -> Path:
    """Return `path`, creating an empty migrated repo there first if needed.

    Built in a temp sibling and renamed into place, so `path` is either absent or complete. Two processes racing
    both build; the rename of the second fails (target not empty) and it discards its copy.
    """
    path = Path(path).absolute()
    if is_repo(path):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    sweep_stale_temps(path)
    tmp = temp_sibling(path, "tmp")
    try:
        _create_repo(tmp)
        try:
            os.rename(tmp, path)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not is_repo(path):
                raise
            logger.debug("template %s created concurrently by another process; discarding ours", path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return path


def init_run_repo(dst: str | os.PathLike[str], template: str | os.PathLike[str] | None = None) -> Path:
    """Give a run an empty repo at `dst`: a copy of `template` (created on first use), or a fresh `aim init`.

    A leftover repo at `dst` (a crashed earlier attempt) is removed first so it cannot leak a half-written run into
    the new one; anything else than `.aim` inside `dst` is refused rather than deleted.
    """
    dst = Path(dst).absolute()
    forget_repo(dst)
    if dst.exists():
        foreign = sorted(p.name for p in dst.iterdir() if p.name != AIM_DIR)
        if foreign:
            raise FileExistsError(
                f"{dst} exists and holds more than an AIM repo ({', '.join(foreign)}); not removing it"
            )
        shutil.rmtree(dst)
    if template is None:
        _create_repo(dst)
        return dst
    template = ensure_template_repo(template)
    dst.mkdir(parents=True, exist_ok=True)
    shutil.copytree(template / AIM_DIR, dst / AIM_DIR, symlinks=True)
    return dst


# --------------------------------------------------------------------------------------------------------------
# listing and re-indexing


def list_run_hashes(repo_path: str | os.PathLike[str]) -> list[str]:
    """Every run stored in the repo, indexed or not (same as `Repo.list_all_runs()`, without importing aim)."""
    chunks = Path(repo_path) / AIM_DIR / "meta" / "chunks"
    if not chunks.is_dir():
        return []
    return sorted(p.name for p in chunks.iterdir() if p.is_dir())


def reindex_open_repo(repo: Repo, run_hashes: list[str] | None = None) -> list[str]:
    """Rebuild the index of an open local Repo from its run chunks; what `aim storage reindex -y` does.

    Differences with `Repo._recreate_index`: no progress bar, the index container is opened once instead of once per
    run (aim keeps it in a weak pool, so it is re-opened for every run, ~60 ms each), and a run that cannot be read
    is an error instead of a logged warning.
    """
    from aim.sdk.index_manager import RepoIndexManager

    aim_dir = Path(repo.path)
    for cfg in [c for c in list(repo.container_pool.keys()) if c.name.startswith("meta")]:
        container = repo.container_pool.pop(cfg, None)
        if container is not None:
            container.close()
    (aim_dir / "locks" / "index").unlink(missing_ok=True)
    shutil.rmtree(aim_dir / "meta" / "index", ignore_errors=True)

    hashes = list_run_hashes(aim_dir.parent) if run_hashes is None else list(run_hashes)
    # not get_index_manager(): its class-level pool would keep this Repo (and its open files) alive forever
    manager = RepoIndexManager(repo)
    index_container = repo._get_index_container("meta", timeout=0)
    try:
        for run_hash in hashes:
            manager.index(run_hash)
    finally:
        repo.container_pool.clear()
        index_container.close()
    if manager._corrupted_runs:
        raise RuntimeError(f"{aim_dir}: cannot index corrupted run(s) {sorted(manager._corrupted_runs)}")
    return hashes


def reindex(repo_path: str | os.PathLike[str]) -> list[str]:
    """Make every stored run visible to `Repo.iter_runs()` / `query_runs()`; returns the indexed run hashes.

    aim 3.29 only indexes a run while it is being tracked with `aim up` running, so runs closed in another repo (or
    copied in) are invisible to queries until this is done. Nothing else may write the repo meanwhile.
    """
    root = Path(repo_path).absolute()
    forget_repo(root)
    with open_repo(root) as repo:
        return reindex_open_repo(repo)


# --------------------------------------------------------------------------------------------------------------
# stale locks


def clear_stale_locks(repo_path: str | os.PathLike[str]) -> list[str]:
    """Remove the locks a killed writer left behind; returns the hashes of the runs that were unlocked.

    After `kill -9` aim 3.29 leaves `.aim/locks/<hash>.softlock` (content `<machine id>-<pid>-<time>`) and the
    progress flags `.aim/{meta,seqs}/progress/<hash>`. The soft lock makes `Repo.copy_runs` refuse the run and the
    flags make it look active. RocksDB's own `LOCK` files are fcntl locks, released by the kernel, and the data sits
    in the write-ahead log that RocksDB replays on the next open, so nothing else needs repair. A lock is stale
    only when it was taken on this machine by a process that no longer exists (aim's own rule); locks of live or
    remote processes are left alone. The run keeps `end_time = None`; `aim runs close <hash>` finalises it.
    """
    from aim.sdk.lock_manager import LockManager

    aim_dir = Path(repo_path).absolute() / AIM_DIR
    locks_dir = aim_dir / "locks"
    if not locks_dir.is_dir():
        return []
    manager = LockManager(aim_dir)
    cleared = []
    for lock_file in sorted(locks_dir.glob("*.softlock")):
        run_hash = lock_file.name[: -len(".softlock")]
        if run_hash == "structured_db_lock":
            continue  # a filelock SoftFileLock: filelock breaks it itself when its owner pid is dead
        try:
            stale = manager.is_stalled_lock(lock_file)
        except (OSError, ValueError):
            logger.warning("unreadable run lock %s; leaving it", lock_file)
            continue
        if not stale:
            continue
        lock_file.unlink(missing_ok=True)
        for part in ("meta", "seqs"):
            (aim_dir / part / "progress" / run_hash).unlink(missing_ok=True)
            (aim_dir / part / "locks" / run_hash).unlink(missing_ok=True)
            (aim_dir / part / "locks" / f"{run_hash}.softlock").unlink(missing_ok=True)
        cleared.append(run_hash)
    return cleared


def run_is_locked(repo_path: str | os.PathLike[str], run_hash: str) -> bool:
    """True while a writer holds (or a killed writer left) the run lock; such a run may be incomplete."""
    return (Path(repo_path) / AIM_DIR / "locks" / f"{run_hash}.softlock").exists()


def set_run_creation_time(repo_path: str | os.PathLike[str], run_hash: str, timestamp: float) -> float:
    """Date a closed run's creation back to ``timestamp`` (unix seconds), i.e. when the run really started.

    AIM stamps a run when ``aim.Run`` is constructed, which a run process does late (on a side thread, see
    tcbench.runs) to keep aim's import off its critical path; the original's run_duration = end - creation must
    still cover the whole run. AIM keeps the time in its run table, naive UTC, as SQLAlchemy writes it.
    """
    created = datetime.datetime.fromtimestamp(timestamp, datetime.UTC).replace(tzinfo=None)
    con = sqlite3.connect(Path(repo_path) / AIM_DIR / "run_metadata.sqlite")
    try:
        with con:
            updated = con.execute("UPDATE run SET created_at = ? WHERE hash = ?", (created.isoformat(sep=" "), run_hash)).rowcount
    finally:
        con.close()
    if updated != 1:
        raise RuntimeError(f"{repo_path}: run {run_hash} not found in run_metadata.sqlite")
    forget_repo(repo_path)  # aim's in-process caches hold the old value
    return created.replace(tzinfo=datetime.UTC).timestamp()


def check_tags(tags: Sequence[str], where: str = "tags") -> tuple[str, ...]:
    """Validate AIM run tags and drop repeats, keeping the first-seen order.

    A bare string is refused rather than iterated (``tags="campaign:x"`` would otherwise tag a run with each of its
    characters), as are non-strings and blank names, which the AIM UI cannot show or filter on. Repeats are dropped
    here because ``aim`` logs a warning for each tag a run already has.
    """
    if isinstance(tags, (str, bytes)):
        raise ValueError(f"{where}: expected a list of tag names, got the single string {tags!r}")
    out: list[str] = []
    for tag in tags:
        if not isinstance(tag, str) or not tag.strip():
            raise ValueError(f"{where}: a tag must be a non-empty string, got {tag!r}")
        if tag not in out:
            out.append(tag)
    return tuple(out)


def plain(value: Any) -> Any:
    """Turn numpy/torch scalars and tuples into what aim can store (it rejects numpy types)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (str, bool, int, float)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    return value
