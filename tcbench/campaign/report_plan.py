"""What a campaign's report consists of, known at planning time (the workflow's outputs) and when it is written:
the summary and analysis file names, which hparams are replicates, which factor the comparisons compare. No pandas
or scipy here, so planning a campaign does not import them."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from typing import Any

from tcbench.contract import Method, Param
from tcbench.methods.registry import get_method, method_names

#: The published results shipped with the package (tcbench.reporting.paper reads them with pandas).
PUBLISHED = "published/imc23.csv"


#: Identifiers that are unique per run, never factors of an experiment.
RUN_ID_COLUMNS: frozenset[str] = frozenset({"hash", "run_key", "run_hash"})
#: Labels a campaign puts on its runs: never a condition.
CAMPAIGN_LABELS: frozenset[str] = frozenset({"campaign_id", "campaign_exp_idx"})


def declared_params() -> dict[str, Param]:
    """Every registered method's parameters by hparam name (the names reports see), plugins included."""
    out: dict[str, Param] = {}
    for name in method_names(include_steps=True):
        for param in get_method(name).params():
            out.setdefault(param.hparam_name, param)
    return out


def is_replicate(name: str) -> bool:
    """An hparam that only replicates an experiment (a seed, a split of the data, the position in the grid, as the
    methods declare them) or identifies a run: grouping by it would split every group into single runs, and runs
    that share the others are pairs."""
    if name in RUN_ID_COLUMNS or name == "campaign_exp_idx":
        return True
    param = declared_params().get(name)
    return param is not None and param.replicate


def varying_conditions(hparams: Sequence[Mapping[str, Any]]) -> list[str]:
    """The hparams whose value differs between runs, replicates and labels left out, in first-seen order."""
    names = list(dict.fromkeys(name for h in hparams for name in h))
    return [n for n in names if not is_replicate(n) and n not in CAMPAIGN_LABELS
            and len({repr(h.get(n)) for h in hparams}) > 1]


def choose_factor(hparams: Sequence[Mapping[str, Any]], split: str | None, compare_by: str | None = None,
                  baseline: Any = None) -> tuple[str, Any] | None:
    """(the hparam the comparisons compare, its baseline value): the configured ones, else the first varying
    parameter whose declared baseline the runs hold (each augmentation against ``noaug``), else the first varying
    condition other than the report's file split against its first value (sorted), else the file split; None when
    nothing varies."""
    varying = varying_conditions(hparams)
    declared = declared_params()
    with_baseline = [c for c in varying if c in declared and declared[c].baseline is not None
                     and any(h.get(c) == declared[c].baseline for h in hparams)]
    if compare_by is None:
        if with_baseline:
            compare_by = with_baseline[0]
        else:
            others = [c for c in varying if c != split] or [c for c in varying if c == split]
            if not others:
                return None
            compare_by = others[0]
    if baseline is None:
        values = sorted({h.get(compare_by) for h in hparams if compare_by in h}, key=repr)
        declared_baseline = declared[compare_by].baseline if compare_by in declared else None
        baseline = declared_baseline if declared_baseline in values else (values[0] if values else None)
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


def runs_method(hparams: Sequence[Mapping[str, Any]]) -> Method | None:
    """The registered method that made runs with these hparams (reports of AIM repos know the runs by their hparams
    only): of the methods whose grid axes the runs all hold, the one sharing most parameters with them."""
    if not hparams:
        return None
    names = set.intersection(*(set(h) for h in hparams))
    fitting = []
    for name in method_names():
        method = get_method(name)
        if {p.hparam_name for p in method.axes} <= names:
            fitting.append((len({p.hparam_name for p in method.params()} & names), method))
    return max(fitting, key=lambda pair: pair[0])[1] if fitting else None


def split_of(hparams: Sequence[Mapping[str, Any]]) -> str | None:
    """The hparam the report gets one file per value of (the original's files per flowpic dim, or per packet count
    for XGBoost on packet series), as the runs' method declares it (:meth:`Method.report_split`); None when it
    declares none or the runs lack it (one file for all)."""
    if not hparams:
        return None
    method = runs_method(hparams)
    if method is None:  # runs of no registered method: the first parameter declared to split reports they all hold
        declared = [name for name, param in declared_params().items() if param.splits_report]
        return next((name for name in declared if all(name in h for h in hparams)), None)
    settings = {p.name: hparams[0][p.hparam_name] for p in method.params() if p.hparam_name in hparams[0]}
    name = method.report_split(settings)
    hp = method.param(name).hparam_name if name else None
    return hp if hp and all(hp in h for h in hparams) else None


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
    hp = split_of(hparams)
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
