"""Rich console rendering of campaign summaries (the original's ``aimrepo report``, step 5, in
docs/original-behaviour.md).

One row per group; each metric is shown compactly as ``mean ± std (ci95)`` so that a two-metric summary fits a
120-column terminal (the original's sub-table per metric did not). ``count`` is hidden as in the original: it
equals ``runs`` unless a run lacks the metric.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from rich import box
from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from tcbench.campaign.status import STATES

STAT_NAMES = frozenset({"count", "mean", "std", "ci95"})


def format_duration(seconds: float) -> str:
    """``[Dd ][Hh]MmSs`` as the original ``aimrepo properties`` prints durations (docs/original-behaviour.md, properties)."""
    if seconds is None or (isinstance(seconds, float) and math.isnan(seconds)):
        return "-"
    total = int(round(float(seconds)))
    days, rest = divmod(total, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    text = f"{days}d " if days else ""
    text += f"{hours}h" if hours or days else ""
    return f"{text}{minutes}m{secs}s"


def _is_missing(value: object) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _format_key(value: object) -> str:
    if _is_missing(value):
        return "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _format_number(value: object, precision: int) -> str:
    return "-" if _is_missing(value) else f"{float(value):.{precision}f}"


def _layout(summary: pd.DataFrame) -> tuple[list[tuple], tuple | None, list[str]]:
    """Split 2-level summary columns into group keys, the runs column and metric names (in table order).

    Works both on :func:`tcbench.reporting.summary.summarize` output (keys as ``(name, "")``) and on a CSV read
    back with ``header=[0, 1]`` (keys as ``(name, "Unnamed: ..._level_1")``, no runs column).
    """
    if not isinstance(summary.columns, pd.MultiIndex):
        raise ValueError("expected a summary with 2-level columns (group keys, then (metric, stat))")
    keys: list[tuple] = []
    runs: tuple | None = None
    metrics: list[str] = []
    for col in summary.columns:
        top, sub = col[0], col[1]
        if sub in STAT_NAMES:
            if top not in metrics:
                metrics.append(top)
        elif top == "runs":
            runs = col
        else:
            keys.append(col)
    return keys, runs, metrics


def render_summary(summary_df: pd.DataFrame, title: str, precision: int = 2) -> Table:
    """Build a rich table: group keys, runs, ``mean ± std (ci95)`` per metric, mean run duration."""
    keys, runs_col, names = _layout(summary_df)
    metrics = [m for m in names if m != "run_duration"]
    has_duration = "run_duration" in names

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, header_style="bold")
    for col in keys:
        table.add_column(str(col[0]), no_wrap=True)
    table.add_column("runs", justify="right", no_wrap=True, min_width=4)
    for metric in metrics:
        table.add_column(f"{metric}\nmean ± std (ci95)", justify="right", no_wrap=True)
    if has_duration:
        table.add_column("run_duration\nmean", justify="right", no_wrap=True)

    # Without a runs column (CSV files drop it, like the original) the first metric's count is the run count.
    count_col = runs_col if runs_col is not None else ((metrics[0], "count") if metrics else None)
    first_keys = summary_df[keys[0]].tolist() if keys else []
    for i, (_, row) in enumerate(summary_df.iterrows()):
        cells = [_format_key(row[col]) for col in keys]
        cells.append("-" if count_col is None or _is_missing(row[count_col]) else str(int(row[count_col])))
        for metric in metrics:
            mean = _format_number(row[(metric, "mean")], precision)
            std, ci = row.get((metric, "std")), row.get((metric, "ci95"))
            cell = mean
            if not _is_missing(std):
                cell += f" ± {_format_number(std, precision)}"
            if not _is_missing(ci):
                cell += f" ({_format_number(ci, precision)})"
            cells.append(cell)
        if has_duration:
            cells.append(format_duration(row[("run_duration", "mean")]))
        # A rule between blocks of the first key (the test context) keeps long tables readable.
        last_of_block = i + 1 < len(first_keys) and first_keys[i + 1] != first_keys[i]
        table.add_row(*cells, end_section=last_of_block)
    return table


def make_console() -> Console:
    # Off a terminal (Snakemake logs, pipes) rich assumes 80 columns and would cut the context names; COLUMNS wins.
    if sys.stdout.isatty():
        return Console()
    return Console(width=int(os.environ.get("COLUMNS", 160)))


def print_summary(
    summary_df: pd.DataFrame, title: str, precision: int = 2, console: Console | None = None
) -> None:
    """Print :func:`render_summary` to ``console`` (stdout by default)."""
    (console or make_console()).print(render_summary(summary_df, title, precision))


def print_summary_files(
    csv_paths: Iterable[str | os.PathLike[str]], precision: int = 2, console: Console | None = None
) -> None:
    """Print each ``summary_*.csv`` written by ``write_campaign_summary``, titled with its file name.

    Reads the files rather than recomputing so that what is shown at the end of a Snakemake run is exactly
    what was written.
    """
    console = console or make_console()
    for path in map(Path, csv_paths):
        summary = pd.read_csv(path, header=[0, 1])
        console.print(render_summary(summary, path.name, precision))


__all__: Sequence[str] = ("format_duration", "print_summary", "print_summary_files", "render_summary")


def class_counts_table(labels: Any, title: str) -> Table:
    """Flows per partition (rows) and class (columns) with totals: the original's samples-count tables."""
    from tcbench.data import ucdavis

    table = Table(title=title)
    table.add_column("partition")
    for name in ucdavis.CLASSES:
        table.add_column(name, justify="right")
    table.add_column("total", justify="right")
    for partition in sorted(set(labels.partition.tolist())):
        codes = labels.app[labels.partition == partition]
        counts = np.bincount(codes, minlength=len(ucdavis.CLASSES))
        table.add_row(partition, *map(str, counts), str(int(counts.sum())))
    return table


def print_class_counts(labels: Any, title: str) -> None:
    make_console().print(class_counts_table(labels, title))


def print_value_counts(columns: dict[str, list[Any]], title: str) -> None:
    """One column per labelled list (e.g. unfiltered / minpkts10), rows = values by decreasing first count."""
    counts = {label: pd.Series(values, dtype=object).value_counts() for label, values in columns.items()}
    first = next(iter(counts.values()))
    order = list(first.index) + sorted(set().union(*(c.index for c in counts.values())) - set(first.index))
    table = Table(title=title)
    table.add_column("app")
    for label in counts:
        table.add_column(label, justify="right")
    for value in order:
        table.add_row(str(value), *(str(int(c.get(value, 0))) if c.get(value, 0) else "" for c in counts.values()))
    table.add_row("total", *(str(int(c.sum())) for c in counts.values()))
    make_console().print(table)


_STATE_STYLE = dict(zip(STATES, ("green", "cyan", "bold red", "dim")))


def status_table(campaign_id: str, status: Any, shown: set[str]) -> Table:
    """One row per run in a ``shown`` state: grid position, state, run_key, tags, then the log of a failed run or
    the SLURM job id of a running one; the caption counts every state and gives the ETA."""
    runs = [r for r in status.runs if r.state in shown]
    tag_names = list(status.runs[0].tags) if status.runs else []
    table = Table(title=f"campaign {campaign_id}: {len(status.runs)} runs ({_counts(status)})",
                  caption=_eta_caption(status), box=box.SIMPLE_HEAD)
    for column in ("#", "state", "run_key", *tag_names, "log / job"):
        table.add_column(column)
    for run in runs:
        table.add_row(str(run.campaign_exp_idx), f"[{_STATE_STYLE[run.state]}]{run.state}[/]", run.run_key,
                      *(str(run.tags[name]) for name in tag_names), _run_note(run))
    return table


def _run_note(run: Any) -> str:
    """The log of a failed run, the SLURM job of a running one, and what the state rests on."""
    note = str(run.log) if run.state == "failed" else (f"job {run.external_jobid}" if run.external_jobid else "")
    return f"{note} ({run.detail})" if run.detail else note


def _counts(status: Any) -> str:
    return ", ".join(f"{state} {status.counts[state]}" for state in STATES)


def _eta_caption(status: Any) -> str | None:
    eta = status.eta_seconds()
    if eta is None:
        return None
    return f"ETA {format_duration(eta)}" + (f" (cost model: {status.cost_source})" if status.cost_source else "")


def status_line(name: str, status: Any, now: float) -> str:
    """One line of a campaign's (or a paper plan's) state, for ``status --watch`` where the output is not a
    terminal (a log file, a batch job): the time, the counts and the ETA, so the log reads as a history."""
    eta = status.eta_seconds()
    return (f"{time.strftime('%H:%M:%S', time.localtime(now))} {name}: {len(status.runs)} runs ({_counts(status)})"
            + (f", ETA {format_duration(eta)}" if eta is not None else ""))


def plan_status_tables(plan: Any, status: Any, shown: set[str]) -> Group:
    """A paper plan's state (tcbench.campaign.status.plan_status): one row per published table and campaign with
    its counts (skipped campaigns with why), the distinct runs and the plan's ETA; then one row per distinct run in
    a ``shown`` state, with the campaigns that select it and its grid values."""
    summary = Table(title=f"paper {plan.name}: {len(status.total.runs)} distinct runs ({_counts(status.total)})",
                    caption=_eta_caption(status.total), box=box.SIMPLE_HEAD)
    for column in ("table", "campaign", "runs", *STATES, "note"):
        summary.add_column(column, justify="right" if column in ("runs", *STATES) else "left")
    skipped = {s.campaign_id: s.reason for s in plan.skipped}
    for table_name, ids in plan.tables.items():
        for cid in ids:
            if cid in skipped:
                summary.add_row(table_name, cid, "-", *("-" for _ in STATES), "skipped (below)")
                continue
            campaign = status.campaigns[cid]
            summary.add_row(table_name, cid, str(len(campaign.runs)),
                            *(str(campaign.counts[state]) for state in STATES), "")
    notes = [Text(f"skipped campaign {cid}: {reason}") for cid, reason in skipped.items()]
    runs = [r for r in status.total.runs if r.state in shown]
    if not runs:
        return Group(summary, *notes)
    listing = Table(title=f"{len(runs)} runs {' or '.join(sorted(shown))}", box=box.SIMPLE_HEAD)
    for column in ("state", "run_key", "campaigns", "grid values", "log / job"):
        listing.add_column(column)
    for run in runs:
        listing.add_row(f"[{_STATE_STYLE[run.state]}]{run.state}[/]", run.run_key, ", ".join(status.owners[run.run_key]),
                        " ".join(f"{k}={v}" for k, v in run.tags.items()), _run_note(run))
    return Group(summary, *notes, listing)
