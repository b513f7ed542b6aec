"""Skipping interpreter teardown after a finished run.

Finalising the torch, aim and pandas modules takes ~0.8 s at interpreter exit on the reference machine, a tenth
of a dim-32 run, paid once per job. A command that has closed and fsynced everything it wrote may ask to end the
process right away instead; only the console entry point honours it (in-process callers such as tests are never
killed).
"""

from __future__ import annotations

import logging
import os
import sys

_requested = False


def request() -> None:
    """Called by a command once all its outputs are closed (file data is in the kernel, which os._exit keeps)."""
    global _requested
    _requested = True


def exit_now_if_requested(code: int | None) -> None:
    if _requested and code in (0, None):
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
