"""``tcbench campaign``: the downstream steps of a campaign (merge the per-run AIM repos, summarise)."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import click


def _campaign_labels(campaign_id: str, n: int) -> list[dict[str, object]]:
    """Markers are passed in grid order, so position + 1 is the original's 1-based campaign_exp_idx."""
    return [{"campaign_id": campaign_id, "campaign_exp_idx": i} for i in range(1, n + 1)]


@click.group()
def campaign() -> None:
    """Campaign-level steps: merge per-run AIM repos, write summaries."""


@campaign.command("aim-template")
@click.option("--path", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Where to create the empty AIM repo that every run copies.")
def aim_template(path: Path) -> None:
    """Create an empty, fully migrated AIM repo once, so runs copy it instead of paying ~2 s of migrations each."""
    from tcbench.tracking.aim_repo import ensure_template_repo

    click.echo(f"AIM template repo ready at {ensure_template_repo(path)}")


@campaign.command("merge")
@click.option("--campaign-id", required=True, help="Label written into every merged run (hparams.campaign_id).")
@click.option("--dst", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Campaign AIM repo to (re)build; replaced atomically only once complete.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write a JSON merge report here (the Snakemake rule's output).")
@click.argument("markers", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def merge(campaign_id: str, dst: Path, report: Path | None, markers: tuple[Path, ...]) -> None:
    """Merge the runs of MARKERS (results/runs/<key>/marker.json, in grid order) into one AIM repo."""
    from tcbench.tracking.merge import MergeSource, merge_run_repos

    labels = _campaign_labels(campaign_id, len(markers))
    sources = [MergeSource(run_dir=m.parent, labels=lab) for m, lab in zip(markers, labels)]
    result = merge_run_repos(sources, dst)
    if report is not None:
        from tcbench.atomic import atomic_write

        payload = json.dumps(dataclasses.asdict(result), indent=1, sort_keys=True, default=str)
        atomic_write(report, lambda tmp: tmp.write_text(payload + "\n"))
    click.echo(f"merged {len(markers)} runs into {dst}")


@campaign.command("summary")
@click.option("--campaign-id", required=True, help="Campaign label used for grouping and titles.")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder of the runsinfo_*.parquet and summary_*.csv files.")
@click.option("--metrics", default="acc,f1", help="Comma-separated metrics to aggregate (acc, f1, precision, recall, loss).")
@click.option("--precision", type=click.IntRange(min=0), default=2, help="Digits shown on the console.")
@click.option("--quiet", is_flag=True, help="Write the files without printing the tables.")
@click.argument("markers", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
def summary(campaign_id: str, output_dir: Path, metrics: str, precision: int, quiet: bool, markers: tuple[Path, ...]) -> None:
    """Aggregate MARKERS (in grid order) into the original's per-flowpic_dim summary files; print them."""
    from tcbench.reporting.console import print_summary_files
    from tcbench.reporting.runs_table import runs_long_table
    from tcbench.reporting.summary import write_campaign_summary
    from tcbench.tracking.marker import MarkerError, read_marker

    try:
        loaded = [read_marker(m) for m in markers]
    except MarkerError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    long = runs_long_table(loaded, _campaign_labels(campaign_id, len(loaded)))
    written = write_campaign_summary(long, output_dir, metrics=[m.strip() for m in metrics.split(",") if m.strip()])
    click.echo(f"campaign_id: {campaign_id}  runs: {len(loaded)}")
    if not quiet:
        print_summary_files([p for p in written if p.suffix == ".csv"], precision=precision)
    for path in written:
        click.echo(f"wrote {path}")
