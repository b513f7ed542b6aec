"""How a command ends on a mistake: one ``error: ...`` line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import sys
from typing import NoReturn

import click


def fail(message: object, code: int = 2) -> NoReturn:
    """Print ``error: <message>`` and exit with ``code`` (2: a usage mistake, the default)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)
