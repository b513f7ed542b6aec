"""Two campaigns compared run pair by run pair (``tcbench campaign compare A B``).

Two campaigns that differ in one setting (with and without dropout, two imports of a dataset, two code versions)
and share grid points have pairs: the runs of the same split, seeds and grid values. The settings whose values do
not overlap between the two campaigns are what differs; every hparam they share values of is matched. The
statistics are those of a campaign's own comparisons (``tcbench.reporting.comparisons``), with campaign B compared
against campaign A.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from tcbench.atomic import atomic_write
from tcbench.reporting.comparisons import paired_comparisons
from tcbench.reporting.runs_table import CONTEXT_COLUMN, hparams_of

FACTOR = "campaign"


def _runsinfo(campaign_dir: Path) -> pd.DataFrame:
    files = sorted((campaign_dir / "campaign_summary").glob("runsinfo*.parquet"))
    if not files:
        raise ValueError(f"{campaign_dir}: no campaign_summary/runsinfo*.parquet (run the campaign first); valid values: "
                         "a results/campaigns/<id> folder of a finished campaign")
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def differing_columns(first: pd.DataFrame, second: pd.DataFrame) -> list[str]:
    """The hparams whose values the two campaigns do not share (what the comparison compares)."""
    out = []
    for column in hparams_of(first):
        if column in second.columns and column not in ("campaign_id", "campaign_exp_idx"):
            a, b = set(first[column].astype(str)), set(second[column].astype(str))
            if a.isdisjoint(b):
                out.append(column)
    return out


def compare_campaigns(first_dir: Path, second_dir: Path, out_dir: Path, metrics: Sequence[str]) -> list[Path]:
    """Write ``comparison.csv`` and ``comparison.png`` into ``out_dir``; returns their paths."""
    from tcbench.reporting.plots import _save, difference_figure

    first, second = _runsinfo(Path(first_dir)), _runsinfo(Path(second_dir))
    differ = differing_columns(first, second)
    a, b = Path(first_dir).name, Path(second_dir).name
    shared = [c for c in hparams_of(first) if c in second.columns and c not in differ]
    keep = ["run_key", *shared, CONTEXT_COLUMN, *metrics]
    long = pd.concat([first[[c for c in keep if c in first.columns]].assign(**{FACTOR: a}),
                      second[[c for c in keep if c in second.columns]].assign(**{FACTOR: b})], ignore_index=True)
    long = long.drop(columns=[c for c in ("campaign_id", "campaign_exp_idx") if c in long.columns])
    # hparams_of (used to find the conditions) reads the columns between end_time and the context: rebuild that layout
    long.insert(0, "end_time", 0.0)
    table = paired_comparisons(long, FACTOR, a, metrics)
    if table["n_pairs"].sum() == 0:
        raise ValueError(f"{a} and {b} share no grid point (same split, seeds and values of {shared}); nothing to pair")
    table.insert(0, "differs_in", ", ".join(differ) or "nothing but the campaign")
    out = Path(out_dir)
    written = [atomic_write(out / "comparison.csv", lambda p: table.to_csv(p, index=False))]
    fig = difference_figure(table.drop(columns=["differs_in"]), metrics[0])
    if fig is not None:
        fig.suptitle(f"{b} vs {a} (differ in: {', '.join(differ) or '-'})", fontsize=10)
        written.append(_save(fig, out / "comparison.png"))
    return written
