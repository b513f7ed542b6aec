"""Two campaigns compared run pair by run pair (``tcbench campaign compare A B``).

Two campaigns that differ in some settings (with and without dropout, two imports of a dataset, two methods) and
share grid points have pairs: a run of A and the run of B at the same grid point, i.e. with the same split, seeds,
test context and value of every hparam the two campaigns share values of. Everything else is what differs
(``differs_in``): the method, an hparam only one campaign has, an hparam whose values the two do not share, the
dataset or split settings of the campaigns. An hparam that differs and varies inside one campaign (campaign A's
augmentations against a method that has none) is kept apart: each of its values is compared on its own, so a run
never pairs with two counterparts and two runs of one campaign never pair with the same run twice.
The statistics are those of a campaign's own comparisons (``tcbench.reporting.comparisons``), with campaign B
compared against campaign A and Holm's adjustment over the rows of each metric.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tcbench.atomic import atomic_write
from tcbench.campaign.report_plan import CAMPAIGN_LABELS, RUN_ID_COLUMNS, format_value, is_replicate
from tcbench.reporting.comparisons import ONE_POINT, RESULT_COLUMNS, holm, paired_stats
from tcbench.reporting.runs_table import CONTEXT_COLUMN, hparams_of, metrics_of

#: Sections of a campaign's recorded settings (campaign.json) that change what a run trained and was tested on
#: without always showing in its hparams: the dataset's generator seed and scale, the samples per split, the
#: identity of a plugin method's code.
SETTING_SECTIONS: tuple[str, ...] = ("dataset", "splits", "code")


@dataclass(frozen=True)
class Campaign:
    """One side of the comparison: its name (folder), its method and settings (campaign.json) and its long table."""

    name: str
    long: pd.DataFrame
    method: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)

    def columns(self) -> list[str]:
        """The hparams its runs have (a column empty in every run is none of them)."""
        return [c for c in hparams_of(self.long) if c not in CAMPAIGN_LABELS and c not in RUN_ID_COLUMNS
                and self.long[c].notna().any()]

    def values(self, column: str) -> list[str]:
        return sorted(set(self.long[column].map(_key)))

    def label(self, method: bool, conditions: Mapping[str, str]) -> str:
        """How a row names this side: the campaign, its method when the two differ in it, its own conditions."""
        details = ([self.method or "?"] if method else []) + [f"{k}={v}" for k, v in conditions.items()]
        return f"{self.name} ({', '.join(details)})" if details else self.name


def _key(value: Any) -> str:
    """A value as both campaigns spell it: 32 and 32.0 (an int column with gaps) are one grid point."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return format_value(value)


def load_campaign(campaign_dir: Path) -> Campaign:
    """The long table of a finished campaign (its runsinfo parquet files) with its recorded method and settings."""
    from tcbench.campaign.folder import MANIFEST

    campaign_dir = Path(campaign_dir)
    files = sorted((campaign_dir / "campaign_summary").glob("runsinfo*.parquet"))
    if not files:
        raise ValueError(f"{campaign_dir}: no campaign_summary/runsinfo*.parquet (run the campaign first); valid values: "
                         "a results/campaigns/<id> folder of a finished campaign")
    long = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    record = campaign_dir / MANIFEST
    settings = (json.loads(record.read_text()).get("settings") or {}) if record.exists() else {}
    return Campaign(campaign_dir.name, long, settings.get("method"), settings)


def _flat(value: Any, prefix: str) -> dict[str, str]:
    if isinstance(value, Mapping):
        return {k: v for key, item in value.items() for k, v in _flat(item, f"{prefix}.{key}").items()}
    return {prefix: json.dumps(value, sort_keys=True, default=str)}


def differing(first: Campaign, second: Campaign) -> list[str]:
    """Every setting in which the runs of the two campaigns differ: the method, the dataset and split settings, the
    hparams only one campaign has and those whose values the two do not share. Replicates (split, seeds) are
    never among them: they are what pairs the runs."""
    out = ["method"] if first.method and second.method and first.method != second.method else []
    for section in SETTING_SECTIONS:
        a, b = _flat(first.settings.get(section, {}), section), _flat(second.settings.get(section, {}), section)
        if section in first.settings and section in second.settings:
            out += [k for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]
    ours, theirs = first.columns(), second.columns()
    for column in dict.fromkeys([*ours, *theirs]):
        if is_replicate(column):
            continue
        if column not in ours or column not in theirs or set(first.values(column)).isdisjoint(second.values(column)):
            out.append(column)
    return out


def _no_pairs_reason(first: Campaign, second: Campaign, replicates: Sequence[str], matched: Sequence[str]) -> str:
    """Why no run of ``second`` has a counterpart in ``first``, in one line."""
    a, b = first.name, second.name
    ours = [c for c in first.columns() if is_replicate(c)]
    theirs = [c for c in second.columns() if is_replicate(c)]
    if not ours and not theirs:
        return f"{a} and {b} share no grid point: their runs record no split or seed to pair them by"
    if sorted(ours) != sorted(theirs):
        return (f"{a} and {b} share no grid point: {a} tells its runs apart by {', '.join(ours) or 'nothing'}, "
                f"{b} by {', '.join(theirs) or 'nothing'}, so no run of one has a counterpart in the other")
    for column in [CONTEXT_COLUMN, *replicates, *matched]:
        mine, other = first.values(column), second.values(column)
        if set(mine).isdisjoint(other):
            return f"{a} and {b} share no grid point: no common {column} ({a}: {', '.join(mine)}; {b}: {', '.join(other)})"
    return (f"{a} and {b} share no grid point: no run of {b} has the {', '.join(replicates)} and the values of "
            f"{', '.join(matched) or 'no other hparam'} of a run of {a}")


def _unique(part: pd.DataFrame, replicates: Sequence[str], campaign: str, metric: str) -> pd.Series:
    """The metric of each run of one side of one comparison, by its replicate values; two runs at one grid point
    would make the pairing ambiguous, which is refused rather than pairing a run twice."""
    indexed = part.set_index(list(replicates))
    doubled = indexed.index.duplicated(keep=False)
    if doubled.any():
        keys = sorted(set(indexed.loc[doubled, "run_key"]))
        raise ValueError(f"{campaign}: runs {', '.join(keys)} share their {', '.join(replicates)} and every hparam "
                         "the comparison matches on: which of them is the counterpart is ambiguous")
    return indexed[metric]


def paired_campaigns(first: Campaign, second: Campaign, metrics: Sequence[str]) -> pd.DataFrame:
    """``second`` against ``first``: one row per metric, test context, value of the shared varying hparams and
    value of each side's own varying conditions, with the paired statistics of its runs' pairs."""
    differ = differing(first, second)
    ours, theirs = first.columns(), second.columns()
    replicates = [c for c in ours if c in theirs and is_replicate(c)]
    matched = [c for c in ours if c in theirs and c not in differ and not is_replicate(c)]
    if not replicates or {c for c in ours if is_replicate(c)} != {c for c in theirs if is_replicate(c)}:
        # Runs told apart by other replicates (SimCLR's two seeds against a CNN's one) have no counterpart.
        raise ValueError(_no_pairs_reason(first, second, replicates, matched))
    for campaign in (first, second):
        missing = [m for m in metrics if m not in campaign.long.columns]
        if missing:
            raise ValueError(f"--metrics: {', '.join(missing)} not measured by {campaign.name}; valid values: "
                             f"{metrics_of(campaign.long)}")
    keys = [CONTEXT_COLUMN, *matched]
    # The conditions a side varies that the other does not match: each value is a comparison of its own.
    own_a, own_b = ([k for k in c.columns() if k not in matched and not is_replicate(k) and c.long[k].nunique() > 1]
                    for c in (first, second))
    varying = [k for k in matched if pd.concat([first.long[k], second.long[k]]).map(_key).nunique() > 1]

    def keyed(campaign: Campaign, own: Sequence[str]) -> pd.DataFrame:
        frame = campaign.long.copy()
        for column in {*keys, *replicates, *own}:
            frame[column] = frame[column].map(_key)
        return frame

    a_long, b_long = keyed(first, own_a), keyed(second, own_b)
    b_groups = dict(iter(b_long.groupby(keys, sort=False)))
    with_method = "method" in differ
    rows = []
    for metric in metrics:
        metric_rows = []
        for group, a_part in a_long.groupby(keys, sort=True):
            b_part = b_groups.get(group)
            if b_part is None:
                continue
            labels = dict(zip(keys, group))
            for a_cond, a_runs in _by(a_part, own_a):
                for b_cond, b_runs in _by(b_part, own_b):
                    base = _unique(a_runs, replicates, first.name, metric)
                    other = _unique(b_runs, replicates, second.name, metric)
                    both = base.to_frame("b").join(other.to_frame("c"), how="inner").dropna()
                    stats_row = paired_stats(both["c"].to_numpy(float), both["b"].to_numpy(float),
                                             ONE_POINT.get(metric, 0.01))
                    metric_rows.append({CONTEXT_COLUMN: labels[CONTEXT_COLUMN], **{k: labels[k] for k in varying},
                                        "metric": metric, "compared": second.label(with_method, b_cond),
                                        "baseline": first.label(with_method, a_cond), **stats_row})
        for row, p in zip(metric_rows, holm([r["wilcoxon_p"] for r in metric_rows])):
            row["holm_p"] = float(p)
        rows += metric_rows
    table = pd.DataFrame(rows, columns=[CONTEXT_COLUMN, *varying, *RESULT_COLUMNS])
    if table.empty or table["n_pairs"].sum() == 0:
        raise ValueError(_no_pairs_reason(first, second, replicates, matched))
    table.insert(0, "differs_in", ", ".join(differ) or "nothing but the campaign")
    return table


def _by(part: pd.DataFrame, columns: Sequence[str]) -> list[tuple[dict[str, str], pd.DataFrame]]:
    if not columns:
        return [({}, part)]
    return [(dict(zip(columns, values)), runs) for values, runs in part.groupby(list(columns), sort=True)]


def compare_campaigns(first_dir: Path, second_dir: Path, out_dir: Path, metrics: Sequence[str]) -> list[Path]:
    """Write ``comparison.csv`` and ``comparison.png`` into ``out_dir``; returns their paths."""
    from tcbench.reporting.plots import _save, difference_figure

    first, second = load_campaign(Path(first_dir)), load_campaign(Path(second_dir))
    table = paired_campaigns(first, second, metrics)
    out = Path(out_dir)
    written = [atomic_write(out / "comparison.csv", lambda p: table.to_csv(p, index=False))]
    fig = difference_figure(table.drop(columns=["differs_in"]), metrics[0])
    if fig is not None:
        title = f"{second.name} vs {first.name} (differ in: {table['differs_in'].iloc[0]})"
        fig.suptitle(textwrap.fill(title, 110), fontsize=9)
        fig.tight_layout()
        written.append(_save(fig, out / "comparison.png"))
    return written
