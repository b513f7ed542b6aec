"""``tcbench aimrepo``: inspect, summarise and merge AIM repos (ours or ones written by the original tcbench).

The original's commands: docs/original-behaviour.md, aimrepo commands and the campaign summary.

``report`` uses the same code as the Snakemake summary rule (``tcbench campaign summary``): the runs are turned
into marker-like dicts, then ``runs_long_table`` -> ``write_campaign_summary`` -> ``print_summary_files``; only the
source of the dicts differs (the AIM repo instead of the run markers), so both give identical numbers.

``ls``, ``properties`` and ``report`` take ``--tag TAG`` (repeatable) to work on the runs having every given AIM tag
only, the same selection as tag filters in the AIM UI; without ``--tag`` every run is used.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

AIM_REPO_OPTION = click.option(
    "--aim-repo",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("aim-repo"),
    show_default=True,
    help="AIM repository folder (the one holding .aim/).",
)


TAG_OPTION = click.option(
    "--tag",
    "tags",
    multiple=True,
    metavar="TAG",
    help="Keep only runs having this AIM tag, e.g. --tag campaign:quickstart --tag aug:noaug; repeat it to require "
         "several tags (a run must have all of them). A tag no run has is an error that lists the repo's tags. "
         "[default: every run]",
)


def _fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _load_runs(aim_repo: Path, tags: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The repo's runs, only those having every one of ``tags`` when some are given (exit 2 on an unknown tag)."""
    from tcbench.reporting.aim_table import AimRepoError, UnknownTagError, aim_runs_table, select_by_tags

    try:
        runs = aim_runs_table(aim_repo)
    except AimRepoError as exc:
        _fail(str(exc), 2)
        return []  # pragma: no cover
    try:
        return select_by_tags(runs, tags)
    except UnknownTagError as exc:
        _fail(f"{aim_repo}: {exc}", 2)
    return []  # pragma: no cover


def _tags_folder(tags: Sequence[str]) -> str:
    """Folder name of a tag-filtered report: the tags sorted, `:` as `=`, joined by `+` (`aug=noaug+dim=32`).

    Sorted so that the same selection always lands in the same folder whatever the order of the --tag options;
    characters unsafe in file names become `_`.
    """
    import re

    return "+".join(re.sub(r"[^A-Za-z0-9._=@-]", "_", t.replace(":", "=")) for t in sorted(set(tags)))


def _no_runs(aim_repo: Path, tags: Sequence[str]) -> str:
    where = f"no runs in {aim_repo}"
    return f"{where} with tag(s) {', '.join(tags)}" if tags else where


def _csv_list(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def _echo_warnings(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` and show the warnings it raises (unknown group-by names, missing metrics) as plain lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            return fn()
        finally:
            for w in caught:
                click.echo(f"warning: {w.message}", err=True)


@click.group()
def aimrepo() -> None:
    """Inspect and summarise an AIM repository (campaign repos or the original tcbench's)."""


@aimrepo.command("ls")
@AIM_REPO_OPTION
@TAG_OPTION
def ls(aim_repo: Path, tags: tuple[str, ...]) -> None:
    """List the runs: hash, creation_time, end_time, campaign_id, run_key, tags.

    With --tag, only the runs having every given tag, e.g. `tcbench aimrepo ls --tag campaign:quickstart --tag dim:32`.
    """
    from rich import box
    from rich.table import Table

    runs = _load_runs(aim_repo, tags)
    if not runs:
        click.echo(_no_runs(aim_repo, tags))
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
    for name in ("hash", "creation_time", "end_time", "campaign_id", "run_key"):
        table.add_column(name, no_wrap=True)
    table.add_column("tags", overflow="fold")  # the one column that may be long: folded, never cut
    for run in runs:
        table.add_row(
            run["hash"],
            _fmt(run["creation_time"]),
            _fmt(run["end_time"]),
            _fmt(run["hparams"].get("campaign_id")),
            _fmt(run.get("run_key")),
            ", ".join(run.get("tags") or ()) or "-",
        )
    from tcbench.reporting.console import make_console

    make_console().print(table)


def _fmt(value: Any) -> str:
    import math

    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return str(value)


def repo_properties(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The original's ``properties`` (docs/original-behaviour.md): run count, durations, metric and context names,
    tags, unique values per hparam (+ experiment)."""
    import math

    import pandas as pd

    from tcbench.reporting.runs_table import _scalar

    durations = pd.Series([float(r["end_time"]) - float(r["creation_time"]) for r in runs], dtype=float)
    metrics: set[str] = set()
    contexts: set[str] = set()
    for run in runs:
        for ctx, values in (run.get("metrics") or {}).items():
            contexts.add(ctx)
            metrics.update(values)
    from tcbench.reporting.aim_table import repo_tags

    hparams: dict[str, list[Any]] = {}
    names = sorted({k for r in runs for k in r["hparams"]} | {"experiment"})
    for name in names:
        values = {_scalar(r.get("experiment") if name == "experiment" else r["hparams"].get(name)) for r in runs}
        hparams[name] = sorted(values, key=lambda v: (v is None, type(v).__name__, str(v) if not isinstance(v, (int, float)) else v))
    return {
        "runs": len(runs),
        "duration_mean": durations.mean() if len(durations) else math.nan,
        "duration_std": durations.std() if len(durations) > 1 else math.nan,
        "metrics": sorted(metrics),
        "contexts": sorted(contexts),
        "tags": repo_tags(runs),
        "hparams": hparams,
    }


@aimrepo.command("properties")
@AIM_REPO_OPTION
@TAG_OPTION
def properties(aim_repo: Path, tags: tuple[str, ...]) -> None:
    """Summarise the repo: runs, run duration, metrics, contexts, tags, unique values of each hparam.

    With --tag, summarise only the runs having every given tag, e.g. `--tag campaign:quickstart`.
    """
    from rich import box
    from rich.table import Table

    from tcbench.reporting.console import format_duration

    runs = _load_runs(aim_repo, tags)
    if not runs:
        click.echo(_no_runs(aim_repo, tags))
        return
    props = repo_properties(runs)
    table = Table(box=box.ROUNDED, show_header=True, header_style="bold")
    table.add_column("property", no_wrap=True)
    table.add_column("value", overflow="fold")
    table.add_row("runs", str(props["runs"]))
    table.add_row(
        "run duration (mean ± std)",
        f"{format_duration(props['duration_mean'])} ± {format_duration(props['duration_std'])}",
    )
    table.add_row("metrics", f"{len(props['metrics'])} {props['metrics']}")
    table.add_row("contexts", f"{len(props['contexts'])} {props['contexts']}")
    table.add_row("tags", f"{len(props['tags'])} {props['tags']}", end_section=True)
    for name, values in props["hparams"].items():
        table.add_row(name, f"{len(values)} {values}")
    from tcbench.reporting.console import make_console

    make_console().print(table)


def report_campaign(
    runs: Sequence[dict[str, Any]],
    campaign_id: str,
    out_dir: Path,
    *,
    groupby: Sequence[str] | None = None,
    metrics: Sequence[str] = ("acc", "f1"),
    contexts: Sequence[str] | None = None,
) -> list[Path]:
    """Write the campaign's summary files from marker-like runs; the shared path with ``campaign summary``."""
    from tcbench.reporting.runs_table import CONTEXT_COLUMN, runs_long_table
    from tcbench.reporting.summary import write_campaign_summary

    selected = [r for r in runs if str(r["hparams"].get("campaign_id")) == campaign_id]
    long = runs_long_table(selected, contexts=contexts)
    if long.empty:
        raise ValueError(f"campaign {campaign_id!r}: no run has a context among {list(contexts) if contexts else 'test*'}")
    keys = None
    if groupby:
        keys = [CONTEXT_COLUMN, *[g for g in groupby if g.removeprefix("hparams.") != CONTEXT_COLUMN]]
    return write_campaign_summary(long, out_dir, groupby=keys, metrics=list(metrics))


def _missing_metric_notes(runs: Sequence[dict[str, Any]], metrics: Sequence[str], contexts: Sequence[str] | None) -> list[str]:
    from tcbench.reporting.runs_table import test_contexts

    notes = []
    for run in runs:
        for ctx in test_contexts(run, contexts):
            missing = [m for m in metrics if run["metrics"][ctx].get(m) is None]
            if missing and len(missing) < len(metrics):
                notes.append(f"run {run['hash']} ({ctx}) has no {', '.join(missing)}: counted as missing")
    return notes


@aimrepo.command("report")
@AIM_REPO_OPTION
@click.option("--campaign-id", default=None,
              help="Report only this campaign (hparams.campaign_id) [default: every campaign in the repo].")
@click.option("--groupby", default=None,
              help="Comma list of hparams to group by (with or without 'hparams.'); test_split_name is always first "
                   "[default: every hparam that varies, except seeds, split_index and campaign_exp_idx].")
@click.option("--contexts", default=None, help="Comma list of test contexts [default: every context starting with 'test'].")
@click.option("--metrics", default="acc,f1", show_default=True, help="Comma list of metrics to aggregate.")
@click.option("--output-folder", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write <folder>/campaign_summary/<campaign_id>/ (with --tag: .../<campaign_id>/tags/<tags>/) "
                   "[default: the AIM repo folder].")
@click.option("--precision", type=click.IntRange(min=0), default=2, show_default=True, help="Digits shown on the console.")
@TAG_OPTION
def report(aim_repo: Path, campaign_id: str | None, groupby: str | None, contexts: str | None, metrics: str,
           output_folder: Path | None, precision: int, tags: tuple[str, ...]) -> None:
    """Per campaign: group the runs, print mean/std/ci95 per metric and run duration, write summary files.

    With --tag, only the runs having every given tag are reported, e.g. `--tag aug:noaug` for the runs without
    augmentation; their files go to campaign_summary/<campaign_id>/tags/<tags>/ (e.g. tags/aug=noaug/), so a
    filtered report never overwrites the full one.
    """
    from tcbench.reporting.aim_table import campaign_ids
    from tcbench.reporting.console import print_summary_files

    runs = _load_runs(aim_repo, tags)
    if not runs:
        _fail(f"{_no_runs(aim_repo, tags)}: nothing to report")
    ids = campaign_ids(runs)
    unlabelled = [r for r in runs if r["hparams"].get("campaign_id") is None]
    if campaign_id is not None:
        if campaign_id not in ids:
            _fail(f"campaign_id {campaign_id!r} not found in {aim_repo} (campaigns: {ids or 'none'})")
        ids = [campaign_id]
    elif unlabelled:
        click.echo(f"note: {len(unlabelled)} run(s) without campaign_id (single runs) are not reported", err=True)
    if not ids:
        _fail(f"no run in {aim_repo} has a campaign_id (only single runs?); summaries are per campaign, "
              "merge the runs with `tcbench campaign merge` first")

    metric_list = _csv_list(metrics) or ["acc"]
    context_list = _csv_list(contexts)
    groupby_list = _csv_list(groupby)
    base = output_folder if output_folder is not None else aim_repo
    failed = False
    for cid in ids:
        selected = [r for r in runs if str(r["hparams"].get("campaign_id")) == cid]
        click.echo(f"campaign_id: {cid}  runs: {len(selected)}")
        for note in _missing_metric_notes(selected, metric_list, context_list):
            click.echo(f"warning: {note}", err=True)
        out_dir = base / "campaign_summary" / cid
        if tags:
            out_dir = out_dir / "tags" / _tags_folder(tags)
        try:
            written = _echo_warnings(lambda cid=cid, out_dir=out_dir: report_campaign(
                runs, cid, out_dir, groupby=groupby_list, metrics=metric_list, contexts=context_list))
        except ValueError as exc:
            click.echo(f"error: campaign {cid!r}: {exc}", err=True)
            failed = True
            continue
        print_summary_files([p for p in written if p.suffix == ".csv"], precision=precision)
        for path in written:
            click.echo(f"wrote {path}")
    if failed:
        sys.exit(1)


@aimrepo.command("merge")
@click.option("--src", "srcs", multiple=True, required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Source AIM repository folder (repeatable).")
@click.option("--dst", type=click.Path(file_okay=False, path_type=Path), default=Path("aim-repo"), show_default=True,
              help="Destination AIM repository folder; created if missing, its runs are kept.")
def merge(srcs: tuple[Path, ...], dst: Path) -> None:
    """Copy every run (and <src>/artifacts/<hash>/) of the --src repos into --dst; runs already there are skipped."""
    from tcbench.tracking.repo_union import RepoMergeError, check_paths, merge_repos

    try:
        check_paths(srcs, dst)
    except RepoMergeError as exc:
        _fail(str(exc), 2)
    try:
        result = _echo_warnings(lambda: merge_repos(srcs, dst))
    except RepoMergeError as exc:
        _fail(str(exc))
    if result.created:
        click.echo(f"created {dst}")
    for src in result.sources:
        line = f"{src.src}: {len(src.copied)} run(s) copied, {len(src.duplicates)} duplicate(s) skipped"
        if src.artifacts:
            line += f", {src.artifacts} artifacts folder(s) copied"
        click.echo(line)
        if src.locked:
            click.echo(f"warning: {src.src}: skipped {len(src.locked)} run(s) still locked by a live writer: "
                       f"{', '.join(src.locked)}", err=True)
    click.echo(f"total: {result.copied} copied, {result.duplicates} duplicate(s) skipped, "
               f"{result.artifacts} artifacts folder(s) copied; {dst} now holds {result.dst_runs} run(s)")
