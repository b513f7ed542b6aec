"""Campaign summaries: group the long table, aggregate metrics, write the original's summary files.

Follows the original's ``aimrepo report``, steps 2, 4 and 6 (docs/original-behaviour.md): same group-by default,
same statistics (count, mean, ddof-1 std, Student-t 95% half-width), same file names and 2-level CSV header, so
notebooks written for the original (``pd.read_csv(path, header=[0, 1])``) keep working.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd

from tcbench.atomic import atomic_write
from tcbench.campaign.report_plan import is_replicate, split_of, summary_file_names
from tcbench.reporting.runs_table import CONTEXT_COLUMN, hparams_of, metrics_of, run_hparams
from tcbench.reporting.stats import ci95

DEFAULT_METRICS: tuple[str, ...] = ("acc", "f1")
METRIC_STATS: tuple[str, ...] = ("count", "mean", "std", "ci95")
DURATION_STATS: tuple[str, ...] = ("mean", "std", "ci95")
RUNS_COLUMN: tuple[str, str] = ("runs", "")


def _strip_prefix(name: str) -> str:
    return name.removeprefix("hparams.")


def default_groupby(long: pd.DataFrame, hparam_names: Sequence[str] | None = None) -> list[str]:
    """``test_split_name`` plus every hparam that varies across the runs (the original's ``aimrepo report``, step 2,
    in docs/original-behaviour.md).

    Replicate hparams (seeds, split index, grid index) are excluded so that each group pools the repetitions of
    one experimental condition. When nothing varies the campaign id is used, so the summary still has one row per
    context and campaign. ``hparam_names`` defaults to the hparam columns of a table from ``runs_long_table``.
    """
    names = list(hparam_names) if hparam_names is not None else hparams_of(long)
    varying = [
        name
        for name in map(_strip_prefix, names)
        if name in long.columns and not is_replicate(name) and long[name].nunique(dropna=False) > 1
    ]
    if not varying and "campaign_id" in long.columns:
        varying = ["campaign_id"]
    return [CONTEXT_COLUMN, *varying]


def _resolve_groupby(long: pd.DataFrame, groupby: Sequence[str]) -> list[str]:
    keys: list[str] = []
    for raw in groupby:
        name = _strip_prefix(raw)
        if name not in long.columns:
            warnings.warn(f"group-by column {raw!r} not found; skipped", stacklevel=3)
        elif name not in keys:
            keys.append(name)
    if not keys:
        raise ValueError(f"none of the group-by columns {list(groupby)} exist")
    return keys


def _resolve_metrics(long: pd.DataFrame, metrics: Sequence[str]) -> list[str]:
    available = [c for c in metrics_of(long) if long[c].notna().any()]
    found: list[str] = []
    for name in metrics:
        if name in long.columns and long[name].notna().any():
            found.append(name)
        else:
            warnings.warn(f"metric {name!r} not found in any run; skipped (available: {available})", stacklevel=3)
    if not found:
        raise ValueError(f"none of the metrics {list(metrics)} exist (available: {available})")
    return found


def summarize(
    long: pd.DataFrame, groupby: Sequence[str], metrics: Sequence[str] = DEFAULT_METRICS
) -> pd.DataFrame:
    """Aggregate the long table per group: metric count/mean/std/ci95, run duration mean/std/ci95, runs.

    Returns a flat-indexed frame with the original's 2-level columns: group keys as ``(name, "")``, then
    ``("runs", "")`` (unique runs in the group), ``(metric, stat)`` and ``(run_duration, stat)``. Groups whose key
    is missing (NaN, e.g. an hparam that only some methods have) are kept rather than silently dropped.
    """
    keys = _resolve_groupby(long, groupby)
    found = _resolve_metrics(long, metrics)

    aggs: dict[str, list[str | Callable[..., float]]] = {m: ["count", "mean", "std", ci95] for m in found}
    aggs["run_duration"] = ["mean", "std", ci95]
    df = long.astype({m: float for m in found})
    grouped = df.groupby(keys, dropna=False, sort=True)
    table = grouped.agg(aggs)
    if "hash" in df.columns:
        table.insert(0, RUNS_COLUMN, grouped["hash"].nunique())
    return table.reset_index()


def split_hparam(long: pd.DataFrame) -> str | None:
    """The hparam whose values get one file each, as the runs' method declares it (None: one file for all)."""
    return split_of(run_hparams(long))


def write_campaign_summary(
    long: pd.DataFrame,
    out_dir: str | os.PathLike[str],
    groupby: Sequence[str] | None = None,
    metrics: Sequence[str] = DEFAULT_METRICS,
) -> list[Path]:
    """Write ``runsinfo_<hp>_<v>.parquet`` and ``summary_<hp>_<v>.csv`` per value of the split hparam.

    The CSV drops the ``runs`` column, as the original drops ``(hash, runs)``, so the file layout is the
    original's. Returns the written paths (parquet, csv per value, in value order).
    """
    hp = split_hparam(long)
    keys = _resolve_groupby(long, groupby if groupby is not None else default_groupby(long))
    summary = summarize(long, keys, metrics).drop(columns=[RUNS_COLUMN], errors="ignore")

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    values = sorted(long[hp].dropna().unique()) if hp else [None]
    for value in values:
        runsinfo = long if hp is None else long[long[hp] == value].reset_index(drop=True)
        table = summary
        if hp is not None and hp in keys:
            table = summary[summary[(hp, "")] == value].drop(columns=[(hp, "")]).reset_index(drop=True)
        parquet_name, csv_name = summary_file_names(hp, [value] if hp else [])
        parquet_path, csv_path = out / parquet_name, out / csv_name
        atomic_write(parquet_path, lambda p, df=runsinfo: df.to_parquet(p, index=False))
        atomic_write(csv_path, lambda p, df=table: df.to_csv(p, index=False))
        written += [parquet_path, csv_path]
    return written
