"""The ``--config KEY=VALUE`` option of the commands that read a config as Snakemake reads it.

Why: a reduced paper is run with ``snakemake --configfile config/paper.yaml --config "reduce={seeds: 1}"``; the
commands that plan, watch or report that run must see the same plan, so they take the same option and parse and
merge it with Snakemake's own functions (values parsed as Snakemake does, nested keys merged into the file's), not
a look-alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from tcbench.cli.errors import fail

config_option = click.option(
    "--config", "config_entries", multiple=True, metavar="KEY=VALUE",
    help="Set or override a key of the config file, as snakemake --config does (repeatable; VALUE is read as YAML: "
         "--config \"reduce={splits: 2, seeds: 1}\" for a reduced paper).")


def apply_config(raw: dict[str, Any], entries: Sequence[str]) -> dict[str, Any]:
    """``raw`` (a config file's mapping) with ``entries`` merged in, as Snakemake merges ``--config`` over
    ``--configfile``; a malformed entry is a one-line error naming it."""
    if not entries:
        return raw
    from snakemake.cli import parse_config
    from snakemake.utils import update_config

    from tcbench.campaign.config import reparse_command_line

    try:
        overrides = parse_config(list(entries))
    except ValueError as exc:
        fail(f"--config: {exc}")
    update_config(raw, overrides)
    reparse_command_line(raw, overrides)  # the numbers and booleans typed, as the Snakefile reads them
    return raw
