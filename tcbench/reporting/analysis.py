"""A campaign's analysis files: the paired comparisons, the critical-difference diagrams and the paper side by side.

Computed from the campaign's long table (what ``runsinfo_*.parquet`` hold), split into files like the summaries
(one per flowpic dim, or per packet-series length), so each table's Holm family is one dim's comparisons.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tcbench.atomic import atomic_write
from tcbench.campaign.report_plan import analysis_file_names, choose_factor, report_split
from tcbench.reporting.cd_diagram import critical_difference_plot
from tcbench.reporting.comparisons import paired_comparisons, rankings
from tcbench.reporting.runs_table import run_hparams


def write_campaign_analysis(long: pd.DataFrame, campaign_dir: str | os.PathLike[str], metrics: Sequence[str],
                            compare_by: str | None = None, baseline: Any = None, paper: str | None = None,
                            stand_in: bool = False, title: str = "", method: str | None = None) -> list[Path]:
    """Write the analysis files (``report_plan.analysis_file_names``) into ``campaign_dir``; returns their paths."""
    campaign_dir = Path(campaign_dir)
    hparams = run_hparams(long)
    split, values = report_split(hparams)
    chosen = choose_factor(hparams, split, compare_by, baseline)
    names = analysis_file_names(split, values, chosen[0] if chosen else None, paper)
    written: list[Path] = []
    if chosen is not None:
        factor, base = chosen
        within = [split] if split and split != factor else []
        parts = [(long[long[split] == v], v) for v in values] if within else [(long, None)]
        for (part, _), csv_name, png_name in zip(parts, names[0::2], names[1::2]):
            table = paired_comparisons(part, factor, base, metrics, within=within)
            written.append(atomic_write(campaign_dir / csv_name, lambda p, t=table: t.to_csv(p, index=False)))
            written.append(critical_difference_plot(rankings(part, factor, metrics[0], within=within),
                                                    campaign_dir / png_name, metrics[0]))
    if paper:
        from tcbench.reporting.paper import compare_with_paper, paper_plot

        comparison = compare_with_paper(long, paper, stand_in, method)
        written.append(atomic_write(campaign_dir / "campaign_summary" / "paper_comparison.csv",
                                    lambda p: comparison.to_csv(p, index=False)))
        note = " (ours: the synthetic stand-in)" if stand_in else ""
        written.append(paper_plot(comparison, campaign_dir / "plots" / "paper_comparison.png",
                                  f"{title}: ours vs {paper}{note}".strip(": ")))
    return written
