"""Every published table and figure of the paper, rebuilt from the runs of a paper plan, cell by cell next to the
published value.

Why one frame for all of them: the page shows them, ``results/paper/tables.csv`` keeps them for reuse, and the
findings read the same statistics, so each cell is computed once. Per reference:

- tables 3-8 (``published/imc23.csv``): ours and the paper's mean with both 95 % intervals and Welch's test from the
  two summaries (:func:`tcbench.reporting.paper.compare_with_paper`, the campaign page's side by side);
- table 10: Tukey's HSD between the flowpic dims on test-script (``scipy.stats.tukey_hsd``) over the table-4 runs,
  ours against the published p-value (same verdict at alpha 0.05 or not);
- figure 5: the augmentations' average ranks (Friedman, Nemenyi critical difference) with dims 32 and 64 pooled, one
  (split, seed, dim) block per replicate, and their medians against the published medians;
- figure 7: the augmentations' average ranks per table-8 dataset against the published ranks;
- figure 11: with minus without dropout, paired by split and seed, per augmentation, dim and test context (Holm over
  them), its range over the augmentations against the published range.

Published figures and table 10 ship in ``published/imc23_figures.csv``. A reference whose runs are missing gets every
cell with status ``pending`` and the reason (the import command of a skipped campaign, k of n runs finished).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path

import pandas as pd
from scipy import stats

from tcbench.reporting.comparisons import ALPHA, Ranking, friedman, nemenyi_cd, paired_comparisons, replicate_columns
from tcbench.reporting.paper import cell_label, compare_with_paper, published
from tcbench.reporting.paper_runs import METHOD_COLUMN, PaperRuns
from tcbench.reporting.runs_table import CONTEXT_COLUMN

FIGURES_FILE = "published/imc23_figures.csv"
#: The plan table whose runs rebuild a reference that is no campaign's own table (the rest read their own).
SOURCES = {"imc23-table10": "imc23-table4", "imc23-figure5": "imc23-table4", "imc23-figure7": "imc23-table8"}
#: Dims pooled in the rankings of figures 5 and 7 (the paper: 32 and 64).
POOLED_DIMS = (32, 64)
COLUMNS = ("reference", "cell", CONTEXT_COLUMN, "metric", "statistic", "paper", "paper_ci95", "paper_runs", "ours",
           "ours_ci95", "ours_runs", "difference", "test", "p_value", "agrees", "status", "note")
DONE, PENDING = "done", "pending"


@cache
def published_figures() -> pd.DataFrame:
    """The published statistics of table 10 and figures 5, 7, 11 (reference, dataset, condition, context, metric,
    statistic, value)."""
    source = resources.files("tcbench.reporting").joinpath(FIGURES_FILE)
    with resources.as_file(source) as path:
        return pd.read_csv(Path(path), dtype={"condition": "string", "dataset": "string"})


def _number(reference: str) -> tuple[int, int]:
    kind, number = re.fullmatch(r".*-(table|figure)(\d+)", reference).groups()  # type: ignore[union-attr]
    return (kind == "figure", int(number))


def references() -> list[str]:
    """Every published table, then every figure, in the paper's order (declared by the two published files)."""
    names = set(published()["reference"]) | set(published_figures()["reference"])
    return sorted(names, key=_number)


def source_table(reference: str) -> str:
    return SOURCES.get(reference, reference)


def title(reference: str) -> str:
    kind, number = _number(reference)
    return f"{'Figure' if kind else 'Table'} {number}"


@dataclass
class Rebuilt:
    """One published table or figure rebuilt: its cells (``COLUMNS``), the rankings a figure draws, the per-condition
    statistics behind it (figure 11's paired comparisons) and why runs are missing."""

    reference: str
    cells: pd.DataFrame
    rankings: list[Ranking] = field(default_factory=list)
    detail: pd.DataFrame | None = None
    pending: list[str] = field(default_factory=list)


def _row(reference: str, cell: str, context: str, metric: str, statistic: str, **values: object) -> dict[str, object]:
    row: dict[str, object] = {c: math.nan for c in COLUMNS}
    row.update(reference=reference, cell=cell, **{CONTEXT_COLUMN: context}, metric=metric, statistic=statistic,
               agrees=None, status=PENDING, note="", test="")
    row.update(values)
    return row


def _frame(rows: Sequence[dict[str, object]]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=list(COLUMNS))


def _mark_pending(frame: pd.DataFrame, reasons: Sequence[str]) -> pd.DataFrame:
    missing = frame["status"] == PENDING
    why = "; ".join(reasons) or "not in the runs of this plan"
    frame.loc[missing & (frame["note"] == ""), "note"] = why
    return frame


# ------------------------------------------------------------------------------------------------ tables 3 to 8
def published_table(runs: PaperRuns, reference: str) -> Rebuilt:
    """A table of ``published/imc23.csv``: per cell both means and intervals and Welch's p (per method of its cells)."""
    long = runs.long(reference)
    stand_in = runs.stand_in()
    parts = []
    for method in dict.fromkeys(published().query("reference == @reference")["method"]):
        part = long[long[METHOD_COLUMN] == method] if len(long) else long
        if part.empty:
            part = pd.DataFrame(columns=[CONTEXT_COLUMN, METHOD_COLUMN, "acc", "f1"])
        parts.append(compare_with_paper(part, reference, stand_in, method))
    table = pd.concat(parts, ignore_index=True)
    rows = []
    for _, cell in table.iterrows():
        done = cell["ours_runs"] > 0
        rows.append(_row(reference, cell_label(cell), cell[CONTEXT_COLUMN], cell["metric"], "mean",
                         paper=cell["paper_mean"], paper_ci95=cell["paper_ci95"], paper_runs=cell["paper_runs"],
                         ours=cell["ours_mean"], ours_ci95=cell["ours_ci95"], ours_runs=cell["ours_runs"],
                         difference=cell["difference"], test="Welch t-test (ours vs paper)" if done else "",
                         p_value=cell["welch_p"],
                         agrees=cell["intervals_overlap"], status=DONE if done else PENDING))
    return Rebuilt(reference, _mark_pending(_frame(rows), runs.pending(reference)), detail=table,
                   pending=runs.pending(reference))


# ---------------------------------------------------------------------------------------------------- table 10
def tukey_between_dims(long: pd.DataFrame, context: str = "test-script", metric: str = "acc") -> pd.DataFrame:
    """Tukey's HSD between the flowpic dims (every run of a dim, all augmentations): one row per pair of dims with
    the mean difference and the adjusted p-value; empty when fewer than two dims have two runs each."""
    if long.empty or "flowpic_dim" not in long.columns:
        return pd.DataFrame(columns=["a", "b", "mean_diff", "p_value", "n_a", "n_b"])
    part = long[long[CONTEXT_COLUMN] == context]
    groups = {int(d): g[metric].astype(float).dropna().to_numpy() for d, g in part.groupby("flowpic_dim")}
    groups = {d: v for d, v in sorted(groups.items()) if len(v) > 1}
    if len(groups) < 2:
        return pd.DataFrame(columns=["a", "b", "mean_diff", "p_value", "n_a", "n_b"])
    dims = list(groups)
    result = stats.tukey_hsd(*groups.values())
    rows = [{"a": a, "b": b, "mean_diff": float(groups[a].mean() - groups[b].mean()),
             "p_value": float(result.pvalue[i, j]), "n_a": len(groups[a]), "n_b": len(groups[b])}
            for i, a in enumerate(dims) for j, b in enumerate(dims) if i < j]
    return pd.DataFrame(rows)


def table10(runs: PaperRuns) -> Rebuilt:
    reference = "imc23-table10"
    tukey = tukey_between_dims(runs.long(source_table(reference)))
    rows = []
    for _, cell in published_figures().query("reference == @reference").iterrows():
        a, b = (int(x) for x in str(cell["condition"]).split(" vs "))
        ours = tukey[(tukey["a"] == a) & (tukey["b"] == b)]
        values: dict[str, object] = {"paper": cell["value"]}
        if len(ours):
            p = float(ours["p_value"].iloc[0])
            values.update(ours=p, ours_runs=int(ours["n_a"].iloc[0] + ours["n_b"].iloc[0]), p_value=p, status=DONE,
                          difference=float(ours["mean_diff"].iloc[0]), test="Tukey HSD between dims",
                          agrees=(p < ALPHA) == (float(cell["value"]) < ALPHA))
        rows.append(_row(reference, f"dim {a} vs {b}", cell[CONTEXT_COLUMN], cell["metric"], "tukey_p", **values))
    pending = runs.pending(source_table(reference))
    return Rebuilt(reference, _mark_pending(_frame(rows), pending), pending=pending)


# ----------------------------------------------------------------------------------------- figures 5 and 7: ranks
def rank_conditions(long: pd.DataFrame, factor: str, metric: str, blocks: Sequence[str], context: str,
                    labels: dict[str, object] | None = None) -> Ranking | None:
    """Friedman ranking of ``factor``'s values over the complete ``blocks`` of ``context`` (rank 1: best), with the
    Nemenyi critical difference; None when fewer than two values or no complete block."""
    if long.empty or factor not in long.columns:
        return None
    part = long[long[CONTEXT_COLUMN] == context]
    if part.empty:
        return None
    table = part.pivot_table(index=list(blocks), columns=factor, values=metric, aggfunc="mean").dropna()
    conditions = sorted(table.columns, key=str)
    if len(conditions) < 2 or len(table) < 1:
        return None
    statistic, p, ranks = friedman(table[conditions].to_numpy(float))
    return Ranking(context, labels or {}, [str(c) for c in conditions], [float(r) for r in ranks], len(table),
                   statistic, p, nemenyi_cd(len(conditions), len(table)))


def pooled_dims(long: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """The runs at the pooled dims and the block columns (split, seeds and the dim): the paper's 30 blocks."""
    if long.empty:
        return long, []
    part = long[long["flowpic_dim"].isin(POOLED_DIMS)] if "flowpic_dim" in long.columns else long
    blocks = [c for c in replicate_columns(part) if c in part.columns]
    return part, blocks + (["flowpic_dim"] if "flowpic_dim" in part.columns else [])


def figure5_rankings(long: pd.DataFrame) -> list[Ranking]:
    part, blocks = pooled_dims(long)
    found = [rank_conditions(part, "aug_name", "acc", blocks, context, {"flowpic_dim": "32+64"})
             for context in ("test-script", "test-human")]
    return [r for r in found if r is not None]


def figure5(runs: PaperRuns) -> Rebuilt:
    reference = "imc23-figure5"
    long = runs.long(source_table(reference))
    rankings = figure5_rankings(long)
    part, _ = pooled_dims(long)
    rows = []
    for _, cell in published_figures().query("reference == @reference").iterrows():
        context, condition = cell[CONTEXT_COLUMN], str(cell["condition"])
        ranking = next((r for r in rankings if r.context == context), None)
        values: dict[str, object] = {"paper": cell["value"]}
        if cell["statistic"] == "median" and len(part):
            runs_of = part[(part[CONTEXT_COLUMN] == context) & (part["aug_name"] == condition)]["acc"].dropna()
            if len(runs_of):
                rank = ranking.average_ranks[ranking.conditions.index(condition)] if ranking and condition in ranking.conditions else math.nan
                values.update(ours=float(runs_of.median()), ours_runs=len(runs_of), status=DONE,
                              difference=float(runs_of.median()) - float(cell["value"]), test="Friedman + Nemenyi",
                              note=f"our average rank {rank:.2f}" if rank == rank else "")
        elif cell["statistic"] == "critical_difference" and ranking is not None:
            values.update(ours=ranking.critical_difference, ours_runs=ranking.n_blocks, status=DONE,
                          p_value=ranking.p_value, test="Friedman + Nemenyi",
                          note=f"Nemenyi CD over {ranking.n_blocks} blocks (the paper: 30); p: Friedman")
        label = condition if condition != "all" else "critical difference"
        rows.append(_row(reference, label, context, cell["metric"], str(cell["statistic"]), **values))
    pending = runs.pending(source_table(reference))
    return Rebuilt(reference, _mark_pending(_frame(rows), pending), rankings, pending=pending)


def _dataset_groups(long: pd.DataFrame) -> list[tuple[tuple[str, int], pd.DataFrame]]:
    if long.empty:
        return []
    keys = [c for c in ("dataset", "dataset_minpkts") if c in long.columns]
    if len(keys) < 2:
        return []
    return [((str(d), int(m)), g) for (d, m), g in long.groupby(keys, dropna=True)]


def figure7_rankings(long: pd.DataFrame) -> list[Ranking]:
    found = []
    for (dataset, minpkts), part in _dataset_groups(long):
        blocks = [c for c in replicate_columns(part) if c in part.columns]
        context = str(part[CONTEXT_COLUMN].iloc[0]) if "test" not in set(part[CONTEXT_COLUMN]) else "test"
        ranking = rank_conditions(part, "aug_name", "f1", blocks, context, {"dataset": f"{dataset} minpkts{minpkts}"})
        if ranking is not None:
            found.append(ranking)
    return found


def figure7(runs: PaperRuns) -> Rebuilt:
    reference = "imc23-figure7"
    rankings = figure7_rankings(runs.long(source_table(reference)))
    by_dataset = {r.labels["dataset"]: r for r in rankings}
    rows = []
    for _, cell in published_figures().query("reference == @reference").iterrows():
        dataset = f"{cell['dataset']} minpkts{int(cell['dataset_minpkts'])}"
        condition = str(cell["condition"])
        values: dict[str, object] = {"paper": cell["value"]}
        ranking = by_dataset.get(dataset)
        if ranking is not None and condition in ranking.conditions:
            rank = ranking.average_ranks[ranking.conditions.index(condition)]
            values.update(ours=rank, ours_runs=ranking.n_blocks, status=DONE, difference=rank - float(cell["value"]),
                          p_value=ranking.p_value, test="Friedman + Nemenyi",
                          agrees=abs(rank - float(cell["value"])) < ranking.critical_difference,
                          note=f"CD {ranking.critical_difference:.2f}")
        rows.append(_row(reference, f"{dataset} {condition}", cell[CONTEXT_COLUMN], cell["metric"], "mean_rank", **values))
    pending = runs.pending(source_table(reference))
    return Rebuilt(reference, _mark_pending(_frame(rows), pending), rankings, pending=pending)


# ------------------------------------------------------------------------------------------- figure 11: dropout
def dropout_effect(long: pd.DataFrame) -> pd.DataFrame:
    """With minus without dropout, paired by split and seed, per augmentation, dim and test context (Holm over all
    of them): the campaign comparisons' statistics; empty when the runs do not vary dropout."""
    if long.empty or "with_dropout" not in long.columns or long["with_dropout"].nunique() < 2:
        return pd.DataFrame()
    long = long.assign(with_dropout=long["with_dropout"].astype(bool))
    return paired_comparisons(long, "with_dropout", False, ["acc"])


def figure11(runs: PaperRuns) -> Rebuilt:
    reference = "imc23-figure11"
    detail = dropout_effect(runs.long(source_table(reference)))
    published_rows = published_figures().query("reference == @reference")
    rows = []
    for (condition, context), cells in published_rows.groupby(["condition", CONTEXT_COLUMN], sort=False):
        dim = int(str(condition))
        low, high = (float(cells.loc[cells["statistic"] == s, "value"].iloc[0]) for s in ("min_diff", "max_diff"))
        part = detail[(detail["flowpic_dim"] == dim) & (detail[CONTEXT_COLUMN] == context)] if len(detail) else detail
        for statistic, paper in (("min_diff", low), ("max_diff", high)):
            values: dict[str, object] = {"paper": paper}
            if len(part) and part["n_pairs"].min() > 0:
                ours = float(part["mean_diff"].min() if statistic == "min_diff" else part["mean_diff"].max())
                values.update(ours=ours, ours_runs=int(part["n_pairs"].sum()), status=DONE, difference=ours - paper,
                              p_value=float(part["holm_p"].min()), test="paired Wilcoxon, Holm (dropout vs none)",
                              note="p: the smallest Holm-adjusted p over the augmentations")
            rows.append(_row(reference, f"dim {dim}", str(context), "acc", statistic, **values))
    pending = runs.pending(source_table(reference))
    return Rebuilt(reference, _mark_pending(_frame(rows), pending), detail=detail, pending=pending)


#: How each reference is rebuilt (every other one is a table of ``published/imc23.csv``).
BUILDERS = {"imc23-table10": table10, "imc23-figure5": figure5, "imc23-figure7": figure7, "imc23-figure11": figure11}


def rebuild(runs: PaperRuns, reference: str) -> Rebuilt:
    builder = BUILDERS.get(reference)
    return builder(runs) if builder is not None else published_table(runs, reference)


def rebuild_all(runs: PaperRuns) -> list[Rebuilt]:
    """Every published table and figure, in the paper's order."""
    return [rebuild(runs, reference) for reference in references()]


def cells_frame(rebuilt: Sequence[Rebuilt]) -> pd.DataFrame:
    """All cells in one frame (``results/paper/tables.csv``)."""
    frames = [r.cells for r in rebuilt if len(r.cells)]
    return pd.concat(frames, ignore_index=True) if frames else _frame([])
