"""The ``tcbench`` command: one click group per stage, each subcommand a thin wrapper over the package API.

Heavy imports (torch, aim, snakemake) happen inside the commands so ``tcbench --help`` stays instant.
"""

from __future__ import annotations

import click

from tcbench import __version__
from tcbench.cli.campaign import campaign
from tcbench.cli.datasets import datasets
from tcbench.cli.run import run


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="tcbench")
def cli() -> None:
    """Reproducible traffic-classification modeling campaigns (flowpic CNN) with AIM tracking.

    A campaign is normally run through Snakemake (`snakemake --cores N`); these commands are the steps each
    Snakemake job runs, usable on their own too.
    """


cli.add_command(datasets)
cli.add_command(run)
cli.add_command(campaign)
