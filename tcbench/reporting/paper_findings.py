"""The paper's findings, each decided by a test on the runs of a paper plan: holds, does not hold, or pending.

Why: a rebuilt table says how far each number is from the paper; a finding says whether the paper's *conclusion*
survives on this data, which is what a replication is read for. Each finding is declared once in ``FINDINGS`` (id,
the claim in words, the plan tables it reads, the test in words, the function that decides it) and nothing else
knows them: the page, ``results/paper/findings.csv`` and the tests derive from that list. No result is written
down here: every verdict comes from a test at alpha 0.05 on the runs, and each can come out either way. Too few
runs (fewer than two per compared group, a table not run) give ``pending`` with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from tcbench.reporting.comparisons import ALPHA, Ranking
from tcbench.reporting.paper_runs import METHOD_COLUMN, PaperRuns
from tcbench.reporting.paper_tables import (
    dropout_effect,
    figure5_rankings,
    figure7_rankings,
    pooled_dims,
    tukey_between_dims,
)
from tcbench.reporting.runs_table import CONTEXT_COLUMN

HOLDS, FAILS, PENDING = "holds", "does not hold", "pending"
COLUMNS = ("id", "finding", "reads", "test", "status", "p_value", "figures")


@dataclass(frozen=True)
class Verdict:
    status: str
    figures: str
    p_value: float = math.nan


class Pending(Exception):
    """Not enough runs to decide (the message says what is missing)."""


@dataclass(frozen=True)
class Finding:
    id: str
    text: str
    reads: tuple[str, ...]  # the plan tables whose runs decide it
    test: str
    decide: Callable[[PaperRuns], Verdict]


def _verdict(holds: bool, figures: str, p: float = math.nan) -> Verdict:
    return Verdict(HOLDS if holds else FAILS, figures, p)


def _values(long: pd.DataFrame, context: str, metric: str = "acc", **where: object) -> np.ndarray:
    """The ``metric`` of the runs of ``context`` whose columns hold the given values."""
    if long.empty or CONTEXT_COLUMN not in long.columns:
        return np.zeros(0)
    mask = long[CONTEXT_COLUMN] == context
    for column, value in where.items():
        if column not in long.columns:
            return np.zeros(0)
        mask &= long[column].astype(object) == value
    return long.loc[mask, metric].astype(float).dropna().to_numpy()


def _need(values: np.ndarray, what: str) -> np.ndarray:
    if len(values) < 2:
        raise Pending(f"{len(values)} run(s) of {what}, 2 needed")
    return values


def welch_greater(better: np.ndarray, worse: np.ndarray, names: tuple[str, str]) -> Verdict:
    """One-sided Welch t-test that ``better`` has the higher mean."""
    test = stats.ttest_ind(better, worse, equal_var=False, alternative="greater")
    p = float(test.pvalue)
    return _verdict(p < ALPHA, f"{names[0]} {better.mean():.2f} (n={len(better)}) vs {names[1]} {worse.mean():.2f} "
                               f"(n={len(worse)}), one-sided Welch p = {p:.3g}", p)


def _long(runs: PaperRuns, table: str) -> pd.DataFrame:
    long = runs.long(table)
    if long.empty:
        raise Pending("; ".join(runs.pending(table)) or f"no runs of {table}")
    return long


# --------------------------------------------------------------------------------------------- the deciding tests
def among_best(ranking: Ranking | None, condition: str, where: str) -> tuple[bool, str]:
    """Whether ``condition``'s average rank is within the Nemenyi critical difference of the best one."""
    if ranking is None or condition not in ranking.conditions or ranking.n_blocks < 2:
        raise Pending(f"no ranking of {condition} with 2+ blocks ({where})")
    rank = ranking.average_ranks[ranking.conditions.index(condition)]
    best = min(ranking.average_ranks)
    best_name = ranking.conditions[ranking.average_ranks.index(best)]
    return rank - best < ranking.critical_difference, (
        f"{where}: {condition} rank {rank:.2f}, best {best_name} {best:.2f}, CD {ranking.critical_difference:.2f} "
        f"({ranking.n_blocks} blocks, Friedman p = {ranking.p_value:.3g})")


def changertt_best_human(runs: PaperRuns) -> Verdict:
    rankings = {r.context: r for r in figure5_rankings(_long(runs, "imc23-table4"))}
    holds, figures = among_best(rankings.get("test-human"), "changertt", "test-human")
    return _verdict(holds, figures, rankings["test-human"].p_value)


def changertt_best_elsewhere(runs: PaperRuns) -> Verdict:
    rankings = figure7_rankings(_long(runs, "imc23-table8"))
    if not rankings:
        raise Pending("no table-8 dataset has a ranking")
    decided = [among_best(r, "changertt", str(r.labels["dataset"])) for r in rankings]
    return _verdict(all(h for h, _ in decided), "; ".join(f for _, f in decided))


def simclr_beats_supervised_human(runs: PaperRuns) -> Verdict:
    simclr = _need(_values(_long(runs, "imc23-table5"), "test-human", with_dropout=False, projection_layer_dim=30,
                           **{METHOD_COLUMN: "simclr"}), "SimCLR (no dropout, projection 30) on test-human")
    supervised = _need(_values(_long(runs, "imc23-table4"), "test-human", aug_name="noaug", flowpic_dim=32),
                       "supervised noaug dim 32 on test-human")
    return welch_greater(simclr, supervised, ("SimCLR, 10 per class", "supervised, 100 per class"))


def dropout_no_effect(runs: PaperRuns) -> Verdict:
    table = dropout_effect(_long(runs, "imc23-figure11"))
    if table.empty or table["n_pairs"].max() < 2:
        raise Pending("no augmentation and dim has 2+ runs with and without dropout")
    table = table[table["n_pairs"] >= 2]
    worst = table.loc[table["holm_p"].idxmin()]
    p = float(worst["holm_p"])
    return _verdict(p >= ALPHA, f"{len(table)} paired comparisons (augmentation x dim x context); smallest Holm p = "
                                f"{p:.3g} ({worst['aug_name']}, dim {worst['flowpic_dim']}, {worst[CONTEXT_COLUMN]}: "
                                f"{worst['mean_diff']:+.2f} pts)", p)


def dims_32_64_same_1500_differs(runs: PaperRuns) -> Verdict:
    tukey = tukey_between_dims(_long(runs, "imc23-table4"))
    pairs = {(int(r["a"]), int(r["b"])): float(r["p_value"]) for _, r in tukey.iterrows()}
    if not {(32, 64), (32, 1500), (64, 1500)} <= set(pairs):
        raise Pending("dims 32, 64 and 1500 need 2+ runs each on test-script")
    same, apart = pairs[(32, 64)] >= ALPHA, pairs[(32, 1500)] < ALPHA and pairs[(64, 1500)] < ALPHA
    return _verdict(same and apart, "Tukey HSD p: " + ", ".join(f"{a} vs {b} {p:.3g}" for (a, b), p in pairs.items()),
                    pairs[(32, 64)])


def augmentations_help_script(runs: PaperRuns) -> Verdict:
    part, blocks = pooled_dims(_long(runs, "imc23-table4"))
    part = part[part[CONTEXT_COLUMN] == "test-script"]
    if part.empty or "noaug" not in set(part["aug_name"]) or part["aug_name"].nunique() < 2:
        raise Pending("noaug and another augmentation at dims 32/64 on test-script needed")
    table = part.pivot_table(index=blocks, columns="aug_name", values="acc", aggfunc="mean").dropna()
    augmented = table.drop(columns="noaug").mean(axis=1).to_numpy()
    noaug = table["noaug"].to_numpy()
    if len(table) < 2:
        raise Pending(f"{len(table)} complete (split, seed, dim) block(s), 2 needed")
    diffs = augmented - noaug
    p = 1.0 if np.all(diffs == 0) else float(stats.ttest_rel(augmented, noaug, alternative="greater").pvalue)
    return _verdict(p < ALPHA, f"mean over augmentations - noaug = {diffs.mean():+.2f} pts over {len(table)} blocks, "
                               f"one-sided paired t p = {p:.3g}", p)


def xgboost_series_below_cnn(runs: PaperRuns) -> Verdict:
    xgb = _need(_values(_long(runs, "imc23-table3"), "test-script", flow_representation="pktseries", max_n_pkts=10),
                "XGBoost on 10-packet series on test-script")
    cnn = _need(_values(_long(runs, "imc23-table4"), "test-script", aug_name="noaug", flowpic_dim=32),
                "the CNN noaug dim 32 on test-script")
    return welch_greater(cnn, xgb, ("CNN", "XGBoost on packet series"))


def larger_trainset_helps(runs: PaperRuns) -> Verdict:
    larger = _need(_values(_long(runs, "imc23-table7"), "test-script", aug_name="noaug", **{METHOD_COLUMN: "monolithic"}),
                   "supervised noaug on the larger training set")
    smaller = _need(_values(_long(runs, "imc23-table4"), "test-script", aug_name="noaug", flowpic_dim=32),
                    "supervised noaug dim 32 on 100 samples per class")
    return welch_greater(larger, smaller, ("larger training set", "100 per class"))


def simclr_larger_trainset_human(runs: PaperRuns) -> Verdict:
    larger = _need(_values(_long(runs, "imc23-table7"), "test-human", **{METHOD_COLUMN: "simclr"}),
                   "SimCLR on the larger training set on test-human")
    smaller = _need(_values(_long(runs, "imc23-table5"), "test-human", with_dropout=False, projection_layer_dim=30,
                            **{METHOD_COLUMN: "simclr"}), "SimCLR (no dropout, projection 30) on test-human")
    return welch_greater(larger, smaller, ("SimCLR, larger training set", "SimCLR, 100 per class"))


def human_harder_than_script(runs: PaperRuns) -> Verdict:
    long = _long(runs, "imc23-table4")
    both = long[long[CONTEXT_COLUMN].isin(["test-script", "test-human"])].pivot_table(
        index="run_key", columns=CONTEXT_COLUMN, values="acc", aggfunc="mean").dropna()
    if len(both) < 2 or not {"test-script", "test-human"} <= set(both.columns):
        raise Pending("2+ runs with both test-script and test-human needed")
    diffs = both["test-script"] - both["test-human"]
    p = 1.0 if np.all(diffs == 0) else float(stats.ttest_rel(both["test-script"], both["test-human"],
                                                             alternative="greater").pvalue)
    return _verdict(p < ALPHA, f"script - human = {diffs.mean():+.2f} pts over {len(both)} runs, one-sided paired t "
                               f"p = {p:.3g}", p)


#: The paper's findings: one place. Section B of the reference and the paper's text.
FINDINGS: tuple[Finding, ...] = (
    Finding("changertt-best-human", "Change RTT is among the best augmentations on test-human (figure 5).",
            ("imc23-table4",), "Friedman ranks over (split, seed, dim) blocks, dims 32 and 64 pooled: within the "
            "Nemenyi critical difference of the best rank", changertt_best_human),
    Finding("augmentations-help-script", "Augmentations improve over no augmentation on test-script (table 4).",
            ("imc23-table4",), "paired t-test (one-sided), mean over augmentations minus noaug per (split, seed, dim) "
            "block, dims 32 and 64", augmentations_help_script),
    Finding("dims-32-64-same-1500-differs", "Flowpic dims 32 and 64 do not differ, 1500 does (table 10).",
            ("imc23-table4",), "Tukey HSD between dims on test-script accuracy", dims_32_64_same_1500_differs),
    Finding("human-harder", "The human test set is harder than the script one (table 4).", ("imc23-table4",),
            "paired t-test (one-sided) of script minus human accuracy per run", human_harder_than_script),
    Finding("dropout-no-effect", "Dropout has no significant effect (figure 11).", ("imc23-figure11",),
            "paired Wilcoxon per augmentation, dim and context, Holm-adjusted: no p below 0.05", dropout_no_effect),
    Finding("xgboost-series-below-cnn", "XGBoost on packet series is below the CNN on flowpics (tables 3 and 4).",
            ("imc23-table3", "imc23-table4"), "Welch t-test (one-sided), test-script: CNN noaug 32x32 vs XGBoost on "
            "the first 10 packets", xgboost_series_below_cnn),
    Finding("simclr-beats-supervised-human", "SimCLR fine-tuned on 10 samples per class beats supervised training "
            "on 100 per class on test-human (tables 4 and 5).", ("imc23-table5", "imc23-table4"),
            "Welch t-test (one-sided): SimCLR (no dropout, projection 30) vs supervised noaug 32x32",
            simclr_beats_supervised_human),
    Finding("larger-trainset-helps", "A larger training set helps supervised training (tables 4 and 7).",
            ("imc23-table7", "imc23-table4"), "Welch t-test (one-sided), test-script: noaug 32x32 on the whole "
            "pretraining partition vs 100 per class", larger_trainset_helps),
    Finding("simclr-larger-trainset-human", "A larger training set helps SimCLR on test-human (tables 5 and 7).",
            ("imc23-table7", "imc23-table5"), "Welch t-test (one-sided), test-human: SimCLR on the whole pretraining "
            "partition vs 100 per class", simclr_larger_trainset_human),
    Finding("changertt-best-elsewhere", "Change RTT is among the best augmentations on the other datasets (figure 7).",
            ("imc23-table8",), "Friedman ranks of weighted F1 per dataset: within the Nemenyi critical difference of "
            "the best rank on every dataset", changertt_best_elsewhere),
)


def evaluate(runs: PaperRuns, findings: Sequence[Finding] = FINDINGS) -> pd.DataFrame:
    """One row per finding: its test's verdict on ``runs`` (``COLUMNS``)."""
    rows = []
    for finding in findings:
        try:
            verdict = finding.decide(runs)
        except Pending as exc:
            verdict = Verdict(PENDING, str(exc))
        rows.append({"id": finding.id, "finding": finding.text, "reads": ", ".join(finding.reads), "test": finding.test,
                     "status": verdict.status, "p_value": verdict.p_value, "figures": verdict.figures})
    return pd.DataFrame(rows, columns=list(COLUMNS))
