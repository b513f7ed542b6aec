"""The published results of the IMC'23 paper, next to a campaign's: both means and 95 % intervals per cell, the
difference, Welch's t-test from the two summaries, and whether the intervals overlap.

The paper's tables 3, 4, 5, 7 and 8 ship as data (``published/imc23.csv``: mean, ci95 half-width and number of runs
per cell; the tables are restated in docs/original-behaviour.md, Published results). A campaign config names its
table under ``report.paper`` (``imc23-table4``, ...). A cell of the paper is matched to the campaign's runs through the columns
the table names (augmentation, dim, input, dropout, projection, split, dataset variant) and its test context.
Welch's test needs each side's standard deviation, which the paper gives only through its interval:
``sd = ci95 * sqrt(n) / t(0.975, n - 1)``, exact for the t-interval the paper reports.
"""

from __future__ import annotations

import math
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from tcbench.campaign.report_plan import PUBLISHED, declared_params, published_tables
from tcbench.reporting.runs_table import CONTEXT_COLUMN
from tcbench.reporting.stats import ci95

#: Columns of the published tables that name the data, not a method's parameter, with their word in cell labels.
DATA_COLUMNS = {"dataset": "", "dataset_minpkts": "minpkts"}


def _cell_columns() -> tuple[str, ...]:
    """The columns that identify a cell of a published table (empty: the table does not vary it), as the shipped
    table has them: the run parameters after ``method`` up to the test context, the dataset before its variant."""
    with resources.files("tcbench.reporting").joinpath(PUBLISHED).open(encoding="utf-8") as handle:
        header = handle.readline().strip().split(",")
    columns = header[header.index("method") + 1: header.index(CONTEXT_COLUMN)]
    at = columns.index("dataset_minpkts") if "dataset_minpkts" in columns else len(columns)
    return (*columns[:at], "dataset", *columns[at:])


#: The columns that identify a cell of a published table.
CELL_COLUMNS = _cell_columns()
COLUMNS = ("reference", *CELL_COLUMNS, CONTEXT_COLUMN, "metric", "paper_mean", "paper_ci95", "paper_runs", "ours_mean",
           "ours_ci95", "ours_runs", "difference", "welch_p", "intervals_overlap", "data")
STAND_IN = "synthetic stand-in (the paper used the real data)"


@cache
def published() -> pd.DataFrame:
    """Every published cell: reference, the cell columns, test context, metric, scale, mean, ci95, runs."""
    source = resources.files("tcbench.reporting").joinpath(PUBLISHED)
    with resources.as_file(source) as path:
        declared = declared_params()
        text = {c: "string" for c in CELL_COLUMNS if c == "dataset" or (c in declared and declared[c].kind is str)}
        table = pd.read_csv(Path(path), dtype=text)
    for column in (c for c in CELL_COLUMNS if c in declared and declared[c].kind is bool):
        table[column] = table[column].map({True: True, False: False, "true": True, "false": False})
    return table


def references() -> list[str]:
    """The names a config can give ``report.paper``."""
    return list(published_tables())


def _sd_from_ci95(half_width: float, n: int) -> float:
    return half_width * math.sqrt(n) / float(stats.t.ppf(0.975, n - 1)) if n > 1 else math.nan


def _matches(long: pd.DataFrame, cell: pd.Series) -> pd.Series:
    mask = long[CONTEXT_COLUMN] == cell[CONTEXT_COLUMN]
    for column in CELL_COLUMNS:
        value = cell[column]
        if value is None or (not isinstance(value, str) and pd.isna(value)):
            continue
        if column not in long.columns:
            return pd.Series(False, index=long.index)
        if isinstance(value, (bool, np.bool_)):
            mask &= long[column].astype(object) == bool(value)
        elif isinstance(value, str):
            mask &= long[column].astype(str) == value
        else:
            mask &= pd.to_numeric(long[column], errors="coerce") == float(value)
    return mask


def compare_with_paper(long: pd.DataFrame, reference: str, stand_in: bool, method: str | None = None) -> pd.DataFrame:
    """One row per cell of ``reference`` (of ``method``'s cells when given): the paper's and the campaign's mean,
    ci95 and runs, their difference, Welch's p-value and whether the two 95 % intervals overlap (cells the campaign
    did not run have no ours)."""
    table = published()
    cells = table[table["reference"] == reference]
    if cells.empty:
        raise ValueError(f"report.paper: {reference!r} is not a published table; valid values: {references()}")
    if method is not None:
        cells = cells[cells["method"] == method]
    rows = []
    for _, cell in cells.iterrows():
        values = long.loc[_matches(long, cell), cell["metric"]].astype(float).dropna().to_numpy() * float(cell["scale"])
        n, mean = len(values), float(values.mean()) if len(values) else math.nan
        half = ci95(values) if n > 1 else math.nan
        row = {column: cell[column] for column in ("reference", *CELL_COLUMNS, CONTEXT_COLUMN, "metric")}
        row.update(paper_mean=float(cell["mean"]), paper_ci95=float(cell["ci95"]), paper_runs=int(cell["runs"]),
                   ours_mean=mean, ours_ci95=half, ours_runs=n, difference=mean - float(cell["mean"]))
        if n > 1:
            sd = float(values.std(ddof=1))
            test = stats.ttest_ind_from_stats(mean, sd, n, float(cell["mean"]), _sd_from_ci95(float(cell["ci95"]), int(cell["runs"])),
                                              int(cell["runs"]), equal_var=False)
            row["welch_p"] = float(test.pvalue)
            row["intervals_overlap"] = bool(abs(mean - float(cell["mean"])) <= half + float(cell["ci95"]))
        else:
            row["welch_p"], row["intervals_overlap"] = math.nan, None
        row["data"] = STAND_IN if stand_in else "imported"
        rows.append(row)
    return pd.DataFrame(rows, columns=list(COLUMNS))


def paper_plot(comparison: pd.DataFrame, path: Path, title: str) -> Path:
    """:func:`paper_figure` saved as a PNG."""
    from tcbench.reporting.plots import _save

    return _save(paper_figure(comparison, title), path)


def paper_figure(comparison: pd.DataFrame, title: str) -> Any:
    """Ours vs the paper per cell (dots with 95 % interval whiskers), one panel per test context."""
    from tcbench.reporting.plots import _pyplot, legend_outside

    plt = _pyplot()
    # The cells the campaign ran (all cells when it ran none yet): a table-4 subset is not lost among 63 rows.
    done = comparison[comparison["ours_runs"] > 0]
    comparison = done if len(done) else comparison
    contexts = list(dict.fromkeys(comparison[CONTEXT_COLUMN]))
    fig, axes = plt.subplots(1, max(1, len(contexts)), figsize=(5.5 * max(1, len(contexts)), 0.35 * max(4, len(comparison) / max(1, len(contexts))) + 1.5),
                             squeeze=False)
    for ax, context in zip(axes[0], contexts):
        part = comparison[comparison[CONTEXT_COLUMN] == context].reset_index(drop=True)
        labels = [cell_label(row) for _, row in part.iterrows()]
        y = np.arange(len(part))
        ax.errorbar(part["paper_mean"], y + 0.15, xerr=part["paper_ci95"], fmt="s", color="tab:gray", label="paper")
        ax.errorbar(part["ours_mean"], y - 0.15, xerr=part["ours_ci95"].fillna(0), fmt="o", color="tab:blue", label="ours")
        ax.set_yticks(y, labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(context, fontsize=10)
        ax.set_xlabel(f"{part['metric'].iloc[0]} ({'%' if part['metric'].iloc[0] == 'acc' else 'x100'})")
        ax.grid(axis="x", alpha=0.3)
    legend_outside(axes[0][-1], fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def cell_label(row: pd.Series) -> str:
    """A cell in words: its set columns by their declared tags, booleans as their meaning (``dropout``,
    ``no dropout``), numbers after their tag (``dim 32``), names as they are."""
    declared = declared_params()
    parts = []
    for column in CELL_COLUMNS:
        value = row[column]
        if value is None or (not isinstance(value, str) and pd.isna(value)) or column == "dataset":
            continue
        param = declared.get(column)
        word = DATA_COLUMNS.get(column) or (param.tag or param.name if param is not None else column)
        if param is not None and param.kind is bool:
            parts.append(word if bool(value) else f"no {word}")
        elif isinstance(value, str):
            parts.append(value)
        else:
            parts.append(f"{word} {int(value)}")
    if isinstance(row["dataset"], str) and not pd.isna(row["dataset_minpkts"]):  # table 8: one column per dataset
        parts.insert(0, row["dataset"])
    return " ".join(parts)

