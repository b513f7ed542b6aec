"""How a command ends on a mistake: one ``error: ...`` line on stderr and an exit code, never a traceback."""

from __future__ import annotations

import sys
from typing import NoReturn

import click


def fail(message: object, code: int = 2) -> NoReturn:
    """Print ``error: <message>`` and exit with ``code`` (2: a usage mistake, the default)."""
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def plugin_hint(command: str) -> str:
    """How to make a plugin's method known to ``tcbench <command>``: methods of plugin modules exist only in a
    process that loaded the module (a config's ``plugins:`` does it for the workflow, not for a command typed by
    hand)."""
    return (f"a plugin's method is known once its module is loaded: `tcbench --plugin path/to/module.py {command}` "
            "(repeatable; or list the modules in $TCBENCH_PLUGINS, separated by ':')")
