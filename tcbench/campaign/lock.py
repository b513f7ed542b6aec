"""One ``tcbench campaign`` at a time in a working folder, and its recovery after a hard kill.

Snakemake locks the output folders of a running workflow and, killed with SIGKILL (``kill -9``, an out-of-memory
kill, a lost SSH session), leaves that lock behind: the next invocation refuses to start until ``snakemake
--unlock``. A campaign command holds its own lock for as long as it runs, an ``flock`` the kernel releases when
the process dies, however it dies. So when the command gets that lock and no Snakemake process works in the
folder, a Snakemake lock still there is stale: the command releases it (``snakemake --unlock``) and says so.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

LOCK_NAME = "tcbench-campaign.lock"


class CampaignBusy(RuntimeError):
    """Another campaign command works in the folder."""


def snakemake_locks(workdir: Path) -> list[Path]:
    return sorted((workdir / ".snakemake" / "locks").glob("*.lock"))


def snakemake_processes(workdir: Path) -> list[int]:
    """Pids of Snakemake processes (not this one's) whose working directory is ``workdir``."""
    import psutil

    here = workdir.resolve()
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        info = proc.info
        if info["pid"] == os.getpid() or not info["cmdline"]:
            continue
        command = " ".join(info["cmdline"])
        if "snakemake" not in command or not info["cwd"]:
            continue
        directory = _directory_option(info["cmdline"])
        folder = Path(info["cwd"]) / directory if directory else Path(info["cwd"])
        try:
            if folder.resolve() == here:
                found.append(info["pid"])
        except OSError:
            continue
    return found


def _directory_option(cmdline: list[str]) -> str | None:
    for i, arg in enumerate(cmdline):
        if arg in ("-d", "--directory") and i + 1 < len(cmdline):
            return cmdline[i + 1]
        if arg.startswith("--directory="):
            return arg.split("=", 1)[1]
    return None


@contextmanager
def campaign_lock(workdir: Path) -> Iterator[bool]:
    """Hold the folder's campaign lock; yields whether Snakemake's lock is stale (left by a killed campaign: no
    Snakemake process works in the folder). Raises CampaignBusy when another campaign command holds it."""
    folder = workdir / ".snakemake"
    folder.mkdir(parents=True, exist_ok=True)
    handle: IO[str] = open(folder / LOCK_NAME, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise CampaignBusy(f"another tcbench campaign works in {workdir.resolve()} ({holder}): wait for it to end "
                               "or stop it; two campaigns in one folder would wait on each other's Snakemake lock") from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"pid {os.getpid()}, started {time.strftime('%Y-%m-%d %H:%M:%S')}\n")
        handle.flush()
        yield bool(snakemake_locks(workdir)) and not snakemake_processes(workdir)
    finally:
        handle.close()  # releases the flock
