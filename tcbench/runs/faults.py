"""I/O faults of a run (disk full, read-only or vanished folder, permission denied) told apart from bugs.

A run that cannot write its results must stop with one line that says why, not a traceback through AIM's storage
layers. AIM reports a full disk as ``aimrocks.errors.RocksIOError`` (rocksdb) or ``sqlite3.OperationalError``
("database or disk is full"), neither an ``OSError``; the second often arises while closing the run after the
first, so the cause is the earliest I/O error of the exception's chain.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import logging
import os
import shutil
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from tcbench.tracking.campaign_repo import folder_bytes

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
    if isinstance(exc, shutil.Error) and exc.args and isinstance(exc.args[0], list):
        # copytree collects the failure of every file into one list of (source, destination, reason) strings
        for entry in exc.args[0]:
            reason = str(entry[-1]) if isinstance(entry, tuple) and entry else ""
            for code in IO_ERRNOS:
                if f"[Errno {code}]" in reason:
                    return f"{os.strerror(code)}: {entry[1] if len(entry) > 2 else reason}"
        return None
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


def storage_problem(folder: str | os.PathLike[str], low_bytes: int = LOW_SPACE_BYTES) -> str | None:
    """Whether the file system that holds (or would hold) ``folder`` is read-only or has under ``low_bytes`` free,
    in one line."""
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
    if free < low_bytes:
        return f"No space left on device: {free // 1024} KiB free on the file system of {folder}"
    return None


# ------------------------------------------------------------------------------------------------ a whole campaign
#: A folder the campaign writes to with less free space than this, for GUARD_FULL_FOR_S, counts as full even when no
#: job failed: a job can wait on a full disk instead of failing (RocksDB retries a flush that hit ENOSPC).
GUARD_FULL_BYTES = 2**20
GUARD_FULL_FOR_S = 20.0
GUARD_POLL_S = 1.0
#: Seconds the guard gives the running jobs to end after SIGTERM before it kills them.
JOB_GRACE_S = 5.0


class CampaignStorageGuard(logging.Handler):
    """Ends a whole campaign within seconds of its first failed write, and says why on the terminal.

    A job that cannot write ends at once, but the line that says why goes to its log, which is on the full disk: the
    terminal showed only an empty log. Snakemake then waits for the jobs still running (with ``--keep-going`` it also
    starts every remaining one, each failing in turn), and a job can wait on the full disk rather than fail. Added to
    Snakemake's logger in its main process, the guard hears every job failure; when a folder the campaign writes to
    is then read-only or nearly full (``storage_problem``), it prints one line naming the cause and the folder and
    interrupts Snakemake as Ctrl-C does: Snakemake ends the running jobs (or cancels them on a cluster) and exits.
    Nothing finished is touched: markers and the merged repo are written last and atomically. A poll catches the job
    that waits instead of failing: a folder under GUARD_FULL_BYTES free (or read-only) for GUARD_FULL_FOR_S.
    """

    def __init__(self, folders: Mapping[str, str | os.PathLike[str]], *, full_bytes: int = GUARD_FULL_BYTES,
                 full_for_s: float = GUARD_FULL_FOR_S, poll_s: float = GUARD_POLL_S) -> None:
        super().__init__(level=logging.ERROR)
        self.folders = {key: Path(folder) for key, folder in folders.items()}
        self.full_bytes, self.full_for_s, self.poll_s = full_bytes, full_for_s, poll_s
        self.cause: str | None = None
        self._once = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if not str(getattr(record, "event", "")).lower().endswith("job_error"):
            return
        for key, folder in self.folders.items():
            problem = storage_problem(folder)
            if problem is not None:
                self.stop(key, problem)
                return

    def start(self) -> CampaignStorageGuard:
        """Start the poll (a daemon thread: it never holds the process)."""
        threading.Thread(target=self._poll, name="tcbench-storage-guard", daemon=True).start()
        return self

    def _poll(self) -> None:
        since: dict[str, float] = {}
        while self.cause is None:
            for key, folder in self.folders.items():
                problem = storage_problem(folder, self.full_bytes)
                if problem is None:
                    since.pop(key, None)
                elif time.monotonic() - since.setdefault(key, time.monotonic()) >= self.full_for_s:
                    self.stop(key, f"{problem} for {self.full_for_s:.0f} s")
            time.sleep(self.poll_s)

    def stop(self, key: str, problem: str) -> None:
        """Say why once, on the terminal (and again as the last line at exit), and interrupt the main thread."""
        with self._once:
            if self.cause is not None:
                return
            self.cause = (f"campaign stopped: {problem} ({key}); the running jobs are ended, finished runs are kept: "
                          "free space (or fix the folder), then run the same command again")
        self._say()
        atexit.register(self._say)
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        threading.Thread(target=self._end_jobs, name="tcbench-storage-guard-end", daemon=True).start()

    def _end_jobs(self) -> None:
        """End the jobs this process started, as Ctrl-C on a terminal does (Snakemake's local executor otherwise
        waits for them): SIGTERM, repeated while Snakemake shuts down (a job may start meanwhile), then SIGKILL for
        any left after JOB_GRACE_S (a job blocked in a write never returns to handle a signal). Only descendants of
        this process: a cluster's jobs are cancelled by Snakemake itself."""
        import psutil

        me = psutil.Process()
        deadline = time.monotonic() + JOB_GRACE_S
        while time.monotonic() < deadline:
            children = me.children(recursive=True)
            if not children:
                return
            for child in children:
                with contextlib.suppress(psutil.Error):
                    child.terminate()
            time.sleep(0.5)
        for child in me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                child.kill()

    def _say(self) -> None:
        try:
            print(f"error: {self.cause}", file=sys.stderr, flush=True)
        except OSError:
            pass


#: Disk use of one run (its folder: AIM repo and artifacts; and its log) when none of the campaign's runs is finished
#: to measure: the largest quickstart run (dim 64) takes 2.1 MB, a dim-1500 CNN's weights about as much.
DEFAULT_RUN_BYTES = int(2.5 * 2**20)
#: Summaries, figures and the report page of a campaign.
REPORT_BYTES = 2 * 2**20
#: Finished runs measured for the estimate.
MEASURED_RUNS = 20


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def footprint_warning(results_dir: str | os.PathLike[str], run_dirs: Sequence[str | os.PathLike[str]],
                      new_runs: int, merge: bool) -> str | None:
    """One line when the campaign will not fit in the free space of ``results_dir``'s file system, else None.

    The estimate: ``new_runs`` (runs and pre-steps to train) x the mean size of up to MEASURED_RUNS finished run
    folders of ``run_dirs`` (DEFAULT_RUN_BYTES when none is finished), plus, when the campaign is merged again
    (``merge``), a copy of every run (the campaign's AIM repo holds each run's AIM data and artifacts) and its
    reports."""
    finished = [Path(d) for d in run_dirs if (Path(d) / "marker.json").exists()][:MEASURED_RUNS]
    per_run = sum(folder_bytes(d) for d in finished) / len(finished) if finished else DEFAULT_RUN_BYTES
    need = new_runs * per_run + ((len(run_dirs) * per_run + REPORT_BYTES) if merge else 0)
    probe = Path(results_dir)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        free = shutil.disk_usage(probe).free
    except OSError:
        return None
    if need <= free:
        return None
    basis = f"measured on {len(finished)} finished run(s)" if finished else "an estimate; none finished yet"
    merged = f", plus the campaign's merged copy of all {len(run_dirs)} and its reports" if merge else ""
    return (f"warning: results_dir {Path(results_dir).absolute()}: the campaign needs about {_mib(need)} ({new_runs} "
            f"runs to train x {_mib(per_run)}, {basis}{merged}) but its file system has {_mib(free)} free; it will "
            "stop at the first failed write (No space left on device): free space or set results_dir elsewhere")
