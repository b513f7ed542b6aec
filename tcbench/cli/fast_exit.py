"""Skipping interpreter teardown after a run, finished or failed.

Finalising the torch, aim and pandas modules takes ~0.8 s at interpreter exit on the reference machine, a tenth
of a dim-32 run, paid once per job. A command that has closed and fsynced everything it wrote may ask to end the
process right away instead; only the console entry point honours it (in-process callers such as tests are never
killed).

A failed run asks for the same with its exit code: AIM's exit-time cleanup waits without a timeout for its
finalizers, and one that cannot write (a full disk) blocks the process forever, and Snakemake with it. A failed
run's folder has no marker and is cleared by the next attempt, so nothing at teardown is worth waiting for.
"""

from __future__ import annotations

import logging
import os
import sys

_requested: int | None = None


def request(code: int = 0) -> None:
    """Called by a command once all its outputs are closed (file data is in the kernel, which os._exit keeps), or
    once a failed run has said why (``code`` = the exit status it is about to exit with)."""
    global _requested
    _requested = code


def exit_now_if_requested(code: int | None) -> None:
    if _requested is not None and (code or 0) == _requested:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_requested)
