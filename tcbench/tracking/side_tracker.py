"""A run's AIM run, opened, fed and closed on one side thread (``SideTracker``)."""

from __future__ import annotations

import errno
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

Tracked = tuple[float, str, str, "int | None"]  # (value, metric name, context subset, epoch)
#: How long closing the AIM run may take (it takes well under a second; a stuck storage must not hang the job).
CLOSE_TIMEOUT_S = 120


class SideTracker:
    """The run's AIM run, opened, fed and closed on one side thread.

    Importing aim and opening a run cost ~1.5 s; started right before the heavy compute they overlap with it
    (torch and xgboost release the GIL in their kernels), whereas started earlier they would compete with the
    Python-heavy imports and data loading. Metrics are buffered and replayed in order (with their epochs) at the
    end. AIM's run lock is thread-local (filelock), so every AIM call happens on the same thread. After closing,
    the run's creation time is set to the start of the run, so its lifetime (the original's run_duration) covers
    the whole run. ``tags`` are AIM run tags (``method:monolithic``, ``aug:noaug``, ``dim:32``, ...).
    """

    def __init__(self, stack: ExitStack, repo: Path, template: Path | None, experiment: str, hparams: dict[str, Any],
                 key: str, started: float, tags: Sequence[str] = ()) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="aim")
        # Never join the AIM thread: a write blocked on a failing disk would hold the run forever (_close bounds it).
        stack.callback(self._pool.shutdown, wait=False, cancel_futures=True)
        self._args = (repo, template, experiment, hparams, key, tuple(tags))
        self._started = started
        self._pending = None
        self.tracked: list[Tracked] = []
        self.writer: Any = None
        stack.callback(self._close)

    def start(self, *warm_imports: str) -> None:
        """Open the AIM run in the background; then import ``warm_imports`` there too (needed later)."""
        if self._pending is None:
            self._pending = self._pool.submit(_open_aim_run, *self._args)
        for module in warm_imports:
            self._pool.submit(__import__, module)

    def track(self, value: float, name: str, subset: str, epoch: int | None = None) -> None:
        self.tracked.append((value, name, subset, epoch))

    def flush(self) -> None:
        """Wait for the run to be open and write every buffered metric (re-raises an AIM failure)."""
        if self._pending is None:
            self.start()
        self.writer = self._pending.result()
        self._pool.submit(_replay, self.writer, self.tracked).result()

    def _close(self) -> None:
        if self._pending is not None:
            try:
                self._pool.submit(_close_aim_run, self._pending, self._started).result(timeout=CLOSE_TIMEOUT_S)
            except TimeoutError:
                raise OSError(errno.EIO, f"AIM did not close the run within {CLOSE_TIMEOUT_S} s (storage not "
                                         "answering)") from None


def _open_aim_run(repo: Path, template: Path | None, experiment: str, hparams: dict[str, Any], key: str,
                  tags: tuple[str, ...]) -> Any:
    from tcbench.tracking.aim_repo import init_run_repo
    from tcbench.tracking.aim_run import AimRunWriter

    init_run_repo(repo, template)
    return AimRunWriter(repo, experiment, hparams, run_key=key, tags=tags).open()


def _replay(writer: Any, tracked: list[Tracked]) -> None:
    for value, name, subset, epoch in tracked:
        writer.track(value, name, subset, epoch=epoch)


def _close_aim_run(pending: Any, started: float) -> None:
    """Close the run whether it succeeded or not (an AIM failure already surfaced through ``flush``), and date
    its creation back to the start of the run."""
    from tcbench.tracking.aim_repo import set_run_creation_time

    try:
        writer = pending.result()
    except Exception:
        return
    writer.close()
    writer.creation_time = set_run_creation_time(writer.repo_path, writer.run_hash, started)
