"""The ``tcbench`` command: one click group per stage, each subcommand a thin wrapper over the package API.

Heavy imports (torch, aim, snakemake) happen inside the commands so ``tcbench --help`` stays instant.
"""

from __future__ import annotations

import click

from tcbench import __version__
from tcbench.cli.aimrepo import aimrepo
from tcbench.cli.campaign import campaign
from tcbench.cli.campaign_analysis import analyze, compare, paper_report, report
from tcbench.cli.datasets import datasets
from tcbench.cli.errors import fail
from tcbench.cli.fast_exit import exit_now_if_requested
from tcbench.cli.methods import methods
from tcbench.cli.run import run


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(__version__, prog_name="tcbench")
@click.option("--plugin", "plugins", multiple=True, metavar="MODULE",
              help="Load a module that registers methods or augmentations (dotted path or .py file; repeatable; "
                   "also read from $TCBENCH_PLUGINS).")
def cli(plugins: tuple[str, ...]) -> None:
    """Reproducible traffic-classification modeling campaigns (flowpic CNN, XGBoost, SimCLR, plugins) with AIM
    tracking.

    A campaign is normally run through Snakemake (`snakemake --cores N`); these commands are the steps each
    Snakemake job runs, usable on their own too.
    """
    if plugins:
        from tcbench.plugins import PluginError, export_plugins, load_plugins

        try:
            export_plugins(load_plugins(plugins))
        except PluginError as exc:  # the plugin's mistake, named with its file and line: one line, no usage text
            fail(exc)


cli.add_command(datasets)
cli.add_command(run)
cli.add_command(campaign)
for _command in (analyze, report, compare, paper_report):
    campaign.add_command(_command)
cli.add_command(aimrepo)
cli.add_command(methods)


def main() -> None:
    """Console entry point (``tcbench`` and ``python -m tcbench``)."""
    try:
        cli()
    except SystemExit as exc:
        exit_now_if_requested(exc.code if isinstance(exc.code, int) or exc.code is None else 1)
        raise
