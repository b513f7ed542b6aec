"""One AIM run per training process, written into the run's own repo.

The writer is a context manager so that a run that fails (exception, Ctrl-C) still closes its AIM run: closing
sets `end_time`, flushes RocksDB and releases the run lock. A run left open would look "active" forever and be
refused by `Repo.copy_runs`. The original exception always propagates.

Tags (`method:monolithic`, `aug:changertt`, ...) are AIM's own run tags, so the AIM UI and `tcbench aimrepo --tag`
can filter on them. They live in the repo's SQLite run table, not in the run's RocksDB trees, and are written
when the run is opened, in one SQLite transaction (see `_add_tags`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from tcbench.tracking.aim_repo import check_tags, plain

logger = logging.getLogger(__name__)


class AimRunWriter:
    """Track one run: `with AimRunWriter(repo, "augmentation-at-loading", hparams, run_key) as w: w.track(...)`.

    After the block, `run_hash`, `creation_time` and `end_time` (unix seconds, the values AIM stored) are set.
    `tags` are added to the run as AIM tags when it is opened (repeats dropped; a bare string is refused).
    """

    def __init__(
        self,
        repo_path: str | os.PathLike[str],
        experiment: str,
        hparams: dict[str, Any],
        run_key: str,
        tags: Sequence[str] = (),
    ) -> None:
        self.repo_path = Path(repo_path).absolute()
        self.experiment = experiment
        self.hparams = dict(hparams)
        self.run_key = run_key
        self.tags = check_tags(tags, "AimRunWriter tags")  # fail before the run exists, not half-way through open()
        self.run_hash: str | None = None
        self.creation_time: float | None = None
        self.end_time: float | None = None
        self._run: Any = None

    # ----------------------------------------------------------------------------------------------------------
    def open(self) -> AimRunWriter:
        if self._run is not None or self.end_time is not None:
            raise RuntimeError("an AimRunWriter tracks exactly one run; create a new writer")
        from aim import Run  # lazy: importing aim costs ~1.2 s

        # system_tracking_interval=None / capture_terminal_logs=False: no background threads in batch jobs;
        # log_system_params=False: the packages/env dump is large, slow and in params.yml / the marker already
        run = Run(
            repo=str(self.repo_path),
            experiment=self.experiment,
            system_tracking_interval=None,
            capture_terminal_logs=False,
            log_system_params=False,
        )
        self._run = run
        try:
            run["hparams"] = plain(self.hparams)
            run["run_key"] = self.run_key
            _add_tags(run, self.tags)
            self.run_hash = run.hash
            self.creation_time = float(run.creation_time)
        except BaseException:
            self.close()
            raise
        return self

    def __enter__(self) -> AimRunWriter:
        return self.open()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if exc_type is None:
            self.close()
            return False
        try:
            self.close()
        except Exception:  # never hide the training failure behind a tracking failure
            logger.exception("closing AIM run %s after a failure also failed", self.run_hash)
        return False

    # ----------------------------------------------------------------------------------------------------------
    @property
    def run(self) -> Any:
        """The underlying `aim.Run` (open runs only), for what this class does not wrap."""
        if self._run is None:
            raise RuntimeError("AIM run is not open")
        return self._run

    def track(self, value: Any, name: str, subset: str, epoch: int | None = None) -> None:
        """Append `value` to the (name, {"subset": subset}) sequence, as the original's `run.track` calls."""
        self.run.track(plain(value), name=name, epoch=epoch, context={"subset": subset})

    def set_param(self, key: str, value: Any) -> None:
        """Set a top-level run parameter (besides `hparams` and `run_key`)."""
        self.run[key] = plain(value)

    def close(self) -> None:
        """Finish the run (sets AIM's end_time) and record the end time AIM stored. Idempotent."""
        run = self._run
        if run is None:
            return
        self._run = None
        # Run.close() drops its trees, so keep the meta tree to read back the end_time close() wrote; dropping the
        # last reference afterwards closes (flushes) the RocksDB container.
        meta_run_tree = run.meta_run_tree
        try:
            run.close()
            end_time = meta_run_tree.get("end_time")
            self.end_time = float(end_time) if end_time is not None else None
        finally:
            del meta_run_tree
            del run


def _add_tags(run: Any, tags: Sequence[str]) -> None:
    """`run.add_tag` each tag, committed as one SQLite transaction instead of one per tag.

    Each `add_tag` on its own commits (and fsyncs) the run-metadata database: 6 tags cost ~50 ms (median; 40-70 ms
    on a 2-core dev box, aim 3.29.1, local disk), one transaction ~23 ms (17-39 ms), the rest being aim's ORM
    work (~4 ms a tag). Inside `with structured_db:` aim flushes instead of committing, and commits once at the end;
    this works because the run's props use the thread-local SQLAlchemy session that the transaction also uses
    (the run was opened on this thread). aim leaves that session in flush-only mode after the block, so it is put
    back in autocommit mode (what any aim query outside a transaction does), or a later props write of this run
    (e.g. `run.name = ...`) would never be committed.
    """
    if not tags:
        return
    db = run.repo.structured_db
    try:
        with db:
            for tag in tags:
                run.add_tag(tag)
    finally:
        db.get_session(autocommit=True)
