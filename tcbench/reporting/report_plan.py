"""What a campaign's report consists of, known at planning time (the workflow's outputs) and when it is written:
the summary and analysis file names, which hparams are replicates, which factor the comparisons compare. No pandas
or scipy here, so planning a campaign does not import them."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

#: The published results shipped with the package (tcbench.reporting.paper reads them with pandas).
PUBLISHED = "published/imc23.csv"


#: Hparams that only replicate an experiment (repetitions, split of the data, position in the grid): grouping by
#: them would split every group into single runs; runs that share them are pairs.
REPLICATE_HPARAMS: frozenset[str] = frozenset({"campaign_exp_idx", "seed", "split_index"})
#: Identifiers that are unique per run, never factors of an experiment.
RUN_ID_COLUMNS: frozenset[str] = frozenset({"hash", "run_key", "run_hash"})
#: Labels a campaign puts on its runs: never a condition.
CAMPAIGN_LABELS: frozenset[str] = frozenset({"campaign_id", "campaign_exp_idx"})


def is_replicate(name: str) -> bool:
    # SimCLR stores `contrastive_learning_seed` / `finetune_seed` instead of `seed`; they are repetitions too.
    return name in REPLICATE_HPARAMS or name in RUN_ID_COLUMNS or name.endswith("_seed")


def varying_conditions(hparams: Sequence[Mapping[str, Any]]) -> list[str]:
    """The hparams whose value differs between runs, replicates and labels left out, in first-seen order."""
    names = list(dict.fromkeys(name for h in hparams for name in h))
    return [n for n in names if not is_replicate(n) and n not in CAMPAIGN_LABELS
            and len({repr(h.get(n)) for h in hparams}) > 1]


def choose_factor(hparams: Sequence[Mapping[str, Any]], split: str | None, compare_by: str | None = None,
                  baseline: Any = None) -> tuple[str, Any] | None:
    """(the hparam the comparisons compare, its baseline value): the configured ones, else each augmentation
    against ``noaug`` when the augmentation varies, else the first varying condition other than the report's
    file split against its first value (sorted), else the file split; None when nothing varies."""
    varying = varying_conditions(hparams)
    if compare_by is None:
        if "aug_name" in varying and any(h.get("aug_name") == "noaug" for h in hparams):
            compare_by = "aug_name"
        else:
            others = [c for c in varying if c != split] or [c for c in varying if c == split]
            if not others:
                return None
            compare_by = others[0]
    if baseline is None:
        values = sorted({h.get(compare_by) for h in hparams if compare_by in h}, key=repr)
        baseline = "noaug" if compare_by == "aug_name" and "noaug" in values else (values[0] if values else None)
    return compare_by, baseline


def analysis_file_names(split: str | None, values: Sequence[Any], factor: str | None, paper: str | None = None) -> list[str]:
    """Paths (relative to the campaign folder) of the analysis: ``campaign_summary/comparison_<hp>_<v>.csv`` and
    ``plots/critical_difference_<hp>_<v>.png`` per value of the report's file split (one ``comparison.csv`` /
    ``critical_difference.png`` when the comparisons compare the split itself, or when nothing splits the report),
    and ``campaign_summary/paper_comparison.csv`` / ``plots/paper_comparison.png`` when a paper table is named."""
    names = []
    if factor is not None:
        suffixes = [split_suffix(split, v) for v in values] if split and split != factor else [""]
        names += [name for suffix in suffixes
                  for name in (f"campaign_summary/comparison{suffix}.csv", f"plots/critical_difference{suffix}.png")]
    if paper:
        names += ["campaign_summary/paper_comparison.csv", "plots/paper_comparison.png"]
    return names


def split_of(representations: set[Any], has_dim: bool) -> str | None:
    """The hparam the report gets one file per value of (the original's ``aimrepo report``, step 6, in
    docs/original-behaviour.md): ``max_n_pkts`` for packet-series runs, else ``flowpic_dim``; None when the runs
    have no flowpic dim (one file for all)."""
    if representations == {"pktseries"}:
        return "max_n_pkts"
    return "flowpic_dim" if has_dim else None


def format_value(value: object) -> str:
    # Hparams missing in some runs turn an int column into floats; file names must still say `_32`, not `_32.0`.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def split_suffix(hp: str | None, value: Any) -> str:
    """``_<hp>_<v>``: how a report file names the value of the hparam that splits the report ("" when none does)."""
    return f"_{hp}_{format_value(value)}" if hp else ""


def summary_file_names(hp: str | None, values: Sequence[Any]) -> list[str]:
    """``runsinfo_<hp>_<v>.parquet`` and ``summary_<hp>_<v>.csv`` per value (``runsinfo.parquet`` and
    ``summary.csv`` when nothing splits the report)."""
    suffixes = [split_suffix(hp, v) for v in values] if hp else [""]
    return [f"{kind}{suffix}.{ext}" for suffix in suffixes for kind, ext in (("runsinfo", "parquet"), ("summary", "csv"))]


def confusion_file_names(contexts: Sequence[str], hp: str | None, values: Sequence[Any]) -> list[str]:
    """``confusion_<context><suffix>.png``: one averaged confusion matrix per test context and value of the hparam
    that splits the report, so runs of different flowpic dims are never pooled into one matrix."""
    suffixes = [split_suffix(hp, v) for v in values] if hp else [""]
    return [f"confusion_{context}{suffix}.png" for context in contexts for suffix in suffixes]


def planned_summary_files(hparams: Sequence[Mapping[str, Any]]) -> list[str]:
    """The summary files a campaign of runs with these hparams gets (what ``write_campaign_summary`` writes)."""
    return summary_file_names(*report_split(hparams))


def report_split(hparams: Sequence[Mapping[str, Any]]) -> tuple[str | None, list[Any]]:
    """The hparam the report gets one file per value of, and its values."""
    hp = split_of({h.get("flow_representation") for h in hparams}, all("flowpic_dim" in h for h in hparams))
    return hp, (sorted({h[hp] for h in hparams}) if hp else [])


def planned_analysis_files(hparams: Sequence[Mapping[str, Any]], compare_by: str | None = None,
                           baseline: Any = None, paper: str | None = None) -> list[str]:
    """The analysis files a campaign of runs with these hparams gets (relative to its folder)."""
    split, values = report_split(hparams)
    chosen = choose_factor(hparams, split, compare_by, baseline)
    return analysis_file_names(split, values, chosen[0] if chosen else None, paper)


@cache
def published_tables() -> dict[str, frozenset[tuple[str, str]]]:
    """Each published table a config can name under ``report.paper`` -> the (method, dataset) pairs it has cells of.
    Read with the csv module: planning checks the name without importing pandas."""
    tables: dict[str, set[tuple[str, str]]] = {}
    with resources.files("tcbench.reporting").joinpath(PUBLISHED).open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            tables.setdefault(row["reference"], set()).add((row["method"], row["dataset"]))
    return {name: frozenset(pairs) for name, pairs in sorted(tables.items())}


def check_report_settings(report: Mapping[str, Any], axes: Sequence[tuple[str, Sequence[Any]]], method: str,
                          dataset: str) -> Any:
    """``report.compare_by`` names a grid axis with 2+ values (not a split or seed), ``report.baseline`` one of its
    values, ``report.paper`` a published table with cells of this method and dataset. Raises ValueError naming the
    key and the valid values; returns the baseline as the axis holds it (``--config`` may give ``'32'`` for 32)."""
    varying = {name: list(values) for name, values in axes if len(values) > 1 and not is_replicate(name)}
    compare_by, baseline = report.get("compare_by"), report.get("baseline")
    if compare_by is not None and compare_by not in varying:
        raise ValueError(f"report.compare_by: {compare_by!r} is not a grid axis with 2+ values; valid values: {list(varying)}")
    if baseline is not None:
        if compare_by is None:
            raise ValueError(f"report.baseline: {baseline!r} needs report.compare_by (the axis it is a value of); "
                             f"valid values of compare_by: {list(varying)}")
        same = [v for v in varying[compare_by] if v == baseline or str(v) == str(baseline)]
        if same:
            baseline = same[0]
        else:
            raise ValueError(f"report.baseline: {baseline!r} is not a value of grid.{compare_by}; valid values: {varying[compare_by]}")
    paper = report.get("paper")
    if paper is not None:
        tables = published_tables()
        fitting = [name for name, pairs in tables.items() if (method, dataset) in pairs]
        if paper not in tables:
            raise ValueError(f"report.paper: {paper!r} is not a published table; valid values: {fitting or list(tables)}")
        if (method, dataset) not in tables[paper]:
            have = ", ".join(sorted(f"{m} on {d}" for m, d in tables[paper]))
            raise ValueError(f"report.paper: {paper} has results of {have}, not of {method} on {dataset}; valid values: "
                             f"{fitting or 'none for this method and dataset'}")
    return baseline
