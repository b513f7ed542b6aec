"""Paired comparisons of a campaign's conditions: what a paper must say beyond means and intervals.

Runs of two conditions (e.g. changertt and noaug) that share their split and seeds are *pairs*: the same training
flows, the same initialisation. Comparing them pair by pair removes the split-to-split and seed-to-seed spread that
two independent means would carry, so smaller differences are resolved with the same runs. For each compared value
against the baseline, per test context and per value of the other varying hyper-parameters (e.g. the dim):

- the mean difference with its paired 95 % Student-t interval (``scipy.stats.ttest_rel``);
- the two-sided Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon``: no normality assumed, exact for small n);
- the Holm-adjusted p-value over every comparison of the same table and metric (``scipy.stats.false_discovery_control``
  does Benjamini-Hochberg only, so Holm's step-down is computed here): several augmentations compared against
  noaug in several contexts are many tests, and Holm controls the chance of any false discovery among them
  without assuming independence, uniformly more powerful than Bonferroni;
- the effect size: Cohen's d_z, the mean difference over the standard deviation of the differences;
- planning help: how many pairs a paired t-test needs for 80 % power at alpha 0.05 to detect the observed
  difference, and a difference of one point, given the observed spread of the differences (noncentral t).

Across all conditions at once, per context: the Friedman test over the (split, seed) blocks and the Nemenyi
critical difference of the average ranks (Demsar 2006), drawn as a critical-difference diagram
(:mod:`tcbench.reporting.cd_diagram`).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from tcbench.campaign.report_plan import CAMPAIGN_LABELS, RUN_ID_COLUMNS, is_replicate
from tcbench.reporting.runs_table import CONTEXT_COLUMN

ALPHA = 0.05
POWER = 0.80
MAX_PAIRS = 10_000
# One point of each metric, in its own unit (acc is in %, the others in [0, 1]).
ONE_POINT = {"acc": 1.0}
RESULT_COLUMNS = ("metric", "compared", "baseline", "n_pairs", "mean_baseline", "mean_compared", "mean_diff",
                  "ci95_low", "ci95_high", "t_p_value", "wilcoxon_p", "holm_p", "effect_size_dz",
                  "pairs_for_observed_diff", "pairs_for_1pt")


def replicate_columns(long: pd.DataFrame) -> list[str]:
    """The columns that identify a replicate, hence a pair: the split and every seed."""
    return [c for c in long.columns if is_replicate(c) and c not in RUN_ID_COLUMNS and c not in CAMPAIGN_LABELS]


def condition_columns(long: pd.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """The hyper-parameters that vary across runs and are no replicate (what a condition is made of)."""
    from tcbench.reporting.runs_table import hparams_of

    names = [c for c in hparams_of(long) if c in long.columns]
    return [c for c in names if c not in exclude and not is_replicate(c) and c not in CAMPAIGN_LABELS
            and long[c].nunique(dropna=False) > 1]


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (NaN stays NaN): p_(i) * (m - i + 1), made monotone, capped at 1."""
    p = np.asarray(p_values, dtype=float)
    out = np.full_like(p, np.nan)
    valid = np.flatnonzero(~np.isnan(p))
    m = len(valid)
    if not m:
        return out
    order = valid[np.argsort(p[valid], kind="stable")]
    adjusted = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out[order] = np.minimum(adjusted, 1.0)
    return out


def pairs_needed(diff: float, sd: float, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest number of pairs for which a two-sided paired t-test at ``alpha`` detects a true mean difference
    ``diff`` with probability ``power``, when the differences have standard deviation ``sd`` (noncentral t).
    NaN when undefined, ``inf`` beyond ``MAX_PAIRS``."""
    if not (np.isfinite(diff) and np.isfinite(sd)) or sd <= 0 or diff == 0:
        return math.nan
    effect = abs(diff) / sd

    def achieved(n: int) -> float:
        df = n - 1
        t_crit = stats.t.ppf(1 - alpha / 2, df)
        nc = effect * math.sqrt(n)
        return float(stats.nct.sf(t_crit, df, nc) + stats.nct.cdf(-t_crit, df, nc))

    lo, hi = 2, 2
    while achieved(hi) < power:
        lo, hi = hi, hi * 2
        if hi > MAX_PAIRS:
            return math.inf
    while lo < hi:  # power grows with n: the smallest n reaching it
        mid = (lo + hi) // 2
        if achieved(mid) >= power:
            hi = mid
        else:
            lo = mid + 1
    return float(hi)


def _wilcoxon(diffs: np.ndarray) -> float:
    if len(diffs) == 0 or np.all(diffs == 0):
        return 1.0 if len(diffs) else math.nan
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small samples: scipy warns about the normal approximation with ties
        return float(stats.wilcoxon(diffs).pvalue)


def paired_stats(compared: np.ndarray, baseline: np.ndarray, one_point: float) -> dict[str, float]:
    """The statistics of one comparison (``compared[i]`` and ``baseline[i]`` are a pair)."""
    diffs = compared - baseline
    n = len(diffs)
    row: dict[str, float] = {"n_pairs": n, "mean_baseline": float(np.mean(baseline)) if n else math.nan,
                             "mean_compared": float(np.mean(compared)) if n else math.nan,
                             "mean_diff": float(np.mean(diffs)) if n else math.nan}
    sd = float(np.std(diffs, ddof=1)) if n > 1 else math.nan
    if n > 1 and sd > 0:
        test = stats.ttest_rel(compared, baseline)
        low, high = test.confidence_interval(0.95)
        row.update(ci95_low=float(low), ci95_high=float(high), t_p_value=float(test.pvalue))
    elif n > 1:  # every pair differs by the same amount: no spread, the interval is that difference
        row.update(ci95_low=row["mean_diff"], ci95_high=row["mean_diff"], t_p_value=1.0 if row["mean_diff"] == 0 else 0.0)
    else:
        row.update(ci95_low=math.nan, ci95_high=math.nan, t_p_value=math.nan)
    row["wilcoxon_p"] = _wilcoxon(diffs)
    row["effect_size_dz"] = row["mean_diff"] / sd if n > 1 and sd > 0 else math.nan
    row["pairs_for_observed_diff"] = pairs_needed(row["mean_diff"], sd)
    row["pairs_for_1pt"] = pairs_needed(one_point, sd)
    return row


def paired_comparisons(long: pd.DataFrame, factor: str, baseline: object, metrics: Sequence[str],
                       within: Sequence[str] = ()) -> pd.DataFrame:
    """Every value of ``factor`` against ``baseline``: one row per (metric, test context, value of the other
    conditions, compared value). Holm adjusts over the rows of each metric. ``within`` are the columns whose values
    are kept apart (the report's file split)."""
    if factor not in long.columns:
        raise ValueError(f"report.compare_by: {factor!r} is not an hparam of the runs; valid values: "
                         f"{condition_columns(long) or sorted(long.columns)}")
    if baseline not in set(long[factor]):
        raise ValueError(f"report.baseline: {baseline!r} is not a value of {factor}; valid values: "
                         f"{sorted(long[factor].dropna().unique(), key=str)}")
    keys = replicate_columns(long)
    others = [c for c in condition_columns(long, exclude=[factor]) if c not in within] + list(within)
    group_cols = [CONTEXT_COLUMN, *others]
    rows = []
    for metric in metrics:
        metric_rows = []
        for group, part in long.groupby(group_cols, dropna=False, sort=True):
            base = part[part[factor] == baseline].set_index(keys)[metric]
            for value in sorted((v for v in part[factor].dropna().unique() if v != baseline), key=str):
                other = part[part[factor] == value].set_index(keys)[metric]
                both = base.to_frame("b").join(other.to_frame("c"), how="inner").dropna()
                stats_row = paired_stats(both["c"].to_numpy(float), both["b"].to_numpy(float), ONE_POINT.get(metric, 0.01))
                labels = dict(zip(group_cols, group if isinstance(group, tuple) else (group,)))
                metric_rows.append({**labels, "metric": metric, "compared": value, "baseline": baseline, **stats_row})
        adjusted = holm([r["wilcoxon_p"] for r in metric_rows])
        for row, p in zip(metric_rows, adjusted):
            row["holm_p"] = float(p)
        rows += metric_rows
    return pd.DataFrame(rows, columns=[*group_cols, *RESULT_COLUMNS])


@dataclass(frozen=True)
class Ranking:
    """Friedman test and Nemenyi critical difference of the conditions of one context (higher metric = rank 1)."""

    context: str
    labels: dict[str, object]  # the other conditions' values this ranking is for
    conditions: list[str]
    average_ranks: list[float]
    n_blocks: int
    statistic: float
    p_value: float
    critical_difference: float


def friedman(blocks: np.ndarray) -> tuple[float, float, np.ndarray]:
    """(statistic, p-value, average ranks) of the Friedman test on ``blocks`` (n blocks x k conditions, higher is
    better: rank 1 goes to the highest value). Ties get average ranks and the tie correction scipy applies; unlike
    ``scipy.stats.friedmanchisquare`` it also answers for 2 conditions (then it is the two-sided sign test's
    chi-square form)."""
    n, k = blocks.shape
    ranks = np.apply_along_axis(stats.rankdata, 1, -blocks)
    mean_ranks = ranks.mean(axis=0)
    if n < 2 or k < 2:
        return math.nan, math.nan, mean_ranks
    ssbn = float((ranks.sum(axis=0) ** 2).sum())
    chi2 = 12.0 / (n * k * (k + 1)) * ssbn - 3 * n * (k + 1)
    ties = 0.0
    for row in ranks:
        _, counts = np.unique(row, return_counts=True)
        ties += float((counts**3 - counts).sum())
    correction = 1 - ties / (n * (k**3 - k))
    if correction <= 0:
        return math.nan, 1.0, mean_ranks
    chi2 /= correction
    return float(chi2), float(stats.chi2.sf(chi2, k - 1)), mean_ranks


def nemenyi_cd(k: int, n: int, alpha: float = ALPHA) -> float:
    """Nemenyi's critical difference of average ranks: q_alpha(k, inf) / sqrt(2) * sqrt(k (k + 1) / (6 n))."""
    if k < 2 or n < 1:
        return math.nan
    q = float(stats.studentized_range.ppf(1 - alpha, k, np.inf)) / math.sqrt(2)
    return q * math.sqrt(k * (k + 1) / (6.0 * n))


def rankings(long: pd.DataFrame, factor: str, metric: str = "acc", within: Sequence[str] = ()) -> list[Ranking]:
    """One ranking of the values of ``factor`` per test context and value of the other conditions, over the
    complete (split, seed) blocks (a block lacking a condition is left out)."""
    keys = replicate_columns(long)
    others = [c for c in condition_columns(long, exclude=[factor]) if c not in within] + list(within)
    out = []
    for group, part in long.groupby([CONTEXT_COLUMN, *others], dropna=False, sort=True):
        table = part.pivot_table(index=keys, columns=factor, values=metric, aggfunc="mean").dropna()
        conditions = sorted(table.columns, key=str)
        if len(conditions) < 2 or len(table) < 1:
            continue
        blocks = table[conditions].to_numpy(float)
        statistic, p, mean_ranks = friedman(blocks)
        group = group if isinstance(group, tuple) else (group,)
        out.append(Ranking(str(group[0]), dict(zip(others, group[1:])), [str(c) for c in conditions],
                           [float(r) for r in mean_ranks], len(table), statistic, p, nemenyi_cd(len(conditions), len(table))))
    return out
