"""``tcbench campaign analyze | report | compare``: what a paper needs from a campaign beyond its summaries."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tcbench.cli.config_option import apply_config, config_option
from tcbench.cli.errors import fail


def _long_table(runsinfo: tuple[Path, ...]) -> Any:
    import pandas as pd

    if not runsinfo:
        raise click.UsageError("give the campaign's runsinfo_*.parquet files (campaign_summary/)")
    return pd.concat([pd.read_parquet(p) for p in runsinfo], ignore_index=True)


@click.command("analyze")
@click.option("--campaign-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="results/campaigns/<id>: comparisons go to campaign_summary/, diagrams to plots/.")
@click.option("--metrics", default="acc,f1", show_default=True, help="Metrics compared, comma list (the first is ranked).")
@click.option("--compare-by", default=None,
              help="The hparam whose values are compared [default: the first varying parameter with a declared "
                   "baseline, against it (each augmentation against noaug), else the first varying condition against "
                   "its first value].")
@click.option("--baseline", default=None, help="The value the others are compared against [default: see --compare-by].")
@click.option("--paper", default=None, help="A published table to put next to the campaign (e.g. imc23-table4).")
@click.option("--stand-in/--real-data", default=False, show_default=True,
              help="The campaign ran on the synthetic stand-in (said next to every paper comparison).")
@click.option("--title", default="", help="Title of the paper comparison figure.")
@click.option("--method", default=None, help="The campaign's method: only its cells of the paper table [default: all cells].")
@click.argument("runsinfo", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def analyze(campaign_dir: Path, metrics: str, compare_by: str | None, baseline: str | None, paper: str | None,
            stand_in: bool, title: str, method: str | None, runsinfo: tuple[Path, ...]) -> None:
    """Paired comparisons (t-interval, Wilcoxon, Holm, effect size, runs needed), Friedman ranks with
    critical-difference diagrams, and the paper side by side, from the campaign's RUNSINFO parquet files."""
    from tcbench.reporting.analysis import write_campaign_analysis

    try:
        written = write_campaign_analysis(_long_table(runsinfo), campaign_dir, [m.strip() for m in metrics.split(",") if m.strip()],
                                          compare_by, _value(baseline), paper, stand_in, title, method)
    except ValueError as exc:
        fail(exc)
    for path in written:
        click.echo(f"wrote {path}")


def _value(text: str | None) -> Any:
    """A baseline from the command line as YAML reads it (32 -> int, true -> bool, noaug -> str)."""
    if text is None:
        return None
    import yaml

    return yaml.safe_load(text)


@click.command("report")
@click.option("--config-json", required=True, help="The campaign's completed config, as JSON (the workflow passes it).")
@click.option("--campaign-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="results/campaigns/<id> (summaries, analysis, plots, merged AIM repo).")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The HTML file to write.")
@click.option("--runsinfo", "runsinfo", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The campaign's runsinfo_*.parquet files (repeatable).")
@click.argument("markers", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def report(config_json: str, campaign_dir: Path, output: Path, runsinfo: tuple[Path, ...], markers: tuple[Path, ...]) -> None:
    """The campaign's self-contained report page (report.html) from its MARKERS and the files next to it."""
    from tcbench.reporting.report_page import ReportInputs, write_report_page
    from tcbench.tracking.marker import MarkerError, read_marker

    try:
        config = json.loads(config_json)
        loaded = [read_marker(m) for m in markers]
    except (ValueError, MarkerError) as exc:
        fail(exc)
    aim_repo = campaign_dir / "aim"
    inputs = ReportInputs(config, loaded, [m.parent for m in markers], _long_table(runsinfo), campaign_dir,
                          aim_repo if aim_repo.exists() else None)
    click.echo(f"wrote {write_report_page(inputs, output)}")


@click.command("compare")
@click.argument("first", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("second", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where comparison.csv and comparison.png go [default: results/comparisons/<first>_vs_<second>].")
@click.option("--metrics", default="acc,f1", show_default=True, help="Metrics compared, comma list.")
def compare(first: Path, second: Path, output_dir: Path | None, metrics: str) -> None:
    """Two campaigns (their results/campaigns/<id> folders) compared run pair by run pair on their common grid
    points: each run of SECOND against its counterpart in FIRST (same split, seeds, test context and value of every
    hparam the two share values of), with the statistics of the campaign comparisons (paired t-interval, Wilcoxon,
    Holm, effect size, runs needed). The differs_in column names what the pairs differ in (the method, dataset and
    split settings, unshared hparams); an hparam only one campaign varies gets one row per value."""
    from tcbench.reporting.campaign_compare import compare_campaigns

    out = output_dir or first.parent.parent / "comparisons" / f"{first.name}_vs_{second.name}"
    try:
        written = compare_campaigns(first, second, out, [m.strip() for m in metrics.split(",") if m.strip()])
    except ValueError as exc:
        fail(exc)
    for path in written:
        click.echo(f"wrote {path}")


@click.command("paper-report")
@click.option("--plan-json", default=None, help="The plan as the workflow passes it: paper name, published table -> "
              "campaign ids, skipped campaigns with why, the reduction (tcbench.campaign.paper.plan_record).")
@click.option("--configfile", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Or the paper config (config/paper.yaml), reduced by its `reduce:` key or by --config; campaign "
                   "files are looked up from the current folder.")
@click.option("--results-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("results"),
              show_default=True, help="The results folder the campaigns wrote to.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where report.html, tables.csv and findings.csv go [default: <results-dir>/paper].")
@config_option
def paper_report(plan_json: str | None, configfile: Path | None, results_dir: Path, output_dir: Path | None,
                 config_entries: tuple[str, ...]) -> None:
    """The paper page (report.html): every published table and figure rebuilt from the campaigns' results next to
    the paper's, and the paper's findings decided by their tests; campaigns without results show as pending. Runs
    at any time: while runs are in progress it shows what is finished."""
    from tcbench.campaign.config import ConfigError
    from tcbench.reporting.paper_page import write_paper_page
    from tcbench.reporting.paper_runs import load_paper_runs

    if (plan_json is None) == (configfile is None):
        raise click.UsageError("give exactly one of --plan-json and --configfile")
    if plan_json is not None and config_entries:
        raise click.UsageError("--config goes with --configfile (a --plan-json plan is complete)")
    try:
        if plan_json is not None:
            plan = json.loads(plan_json)
        else:
            from tcbench.campaign.compose import SCHEMA, SNAKEFILE
            from tcbench.campaign.config import load_config_file
            from tcbench.campaign.paper import load_paper, plan_record

            assert configfile is not None
            plan = plan_record(load_paper(apply_config(load_config_file(configfile), config_entries), SCHEMA,
                                          [Path.cwd(), configfile.resolve().parent.parent, SNAKEFILE.parent]))
        written = write_paper_page(load_paper_runs(plan, results_dir), output_dir or results_dir / "paper")
    except (ValueError, KeyError, ConfigError) as exc:
        fail(exc)
    for path in written:
        click.echo(f"wrote {path}")
