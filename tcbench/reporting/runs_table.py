"""The "long table" of a campaign: one row per (run, test context), built from run markers.

The original report (``aimrepo report``, step 3, in docs/original-behaviour.md) read the AIM repository; here the
run markers are the source of truth, which holds the same numbers (last value of each (metric, context)) without
opening AIM. The column layout matches the original's ``runsinfo_*.parquet`` files with the ``hparams.`` prefix
already removed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

#: Columns that describe a run but are not hyper-parameters; they come first in the long table.
RUN_COLUMNS: tuple[str, ...] = ("hash", "run_key", "experiment", "creation_time", "end_time")
#: Name of the column holding the test context of a row (original name).
CONTEXT_COLUMN = "test_split_name"
#: Prefix that selects the evaluation contexts reported in summaries (the original report's ``--contexts``
#: default, docs/original-behaviour.md).
TEST_CONTEXT_PREFIX = "test"
#: Labels added by a campaign to every run (docs/original-behaviour.md, Hyper-parameters recorded per run).
CAMPAIGN_LABELS: tuple[str, ...] = ("campaign_id", "campaign_exp_idx")


def _scalar(value: Any) -> Any:
    """Make an hparam value usable as a group key and storable in parquet.

    SimCLR stores lists (e.g. ``augmentations``); lists are unhashable for ``groupby`` and a column mixing
    lists and scalars cannot be written by pyarrow, so containers become their ``str()`` (what the original's
    flattened AIM dataframe showed too).
    """
    if isinstance(value, (list, tuple, set, dict)):
        return str(list(value) if isinstance(value, (tuple, set)) else value)
    return value


def hparam_columns(markers: Sequence[Mapping[str, Any]], labels: Sequence[Mapping[str, Any]] | None = None) -> list[str]:
    """Union of the hparam names over all runs, in first-seen order, campaign labels last.

    Runs of different methods store different hparams (docs/original-behaviour.md, Hyper-parameters recorded per
    run), so a campaign mixing them needs the union; the first-seen order keeps the original insertion order of the
    markers, which is the order users know.
    """
    names: dict[str, None] = {}
    for marker in markers:
        for key in marker.get("hparams", {}) or {}:
            names.setdefault(key, None)
    for label in labels or ():
        for key in label:
            if key not in RUN_COLUMNS:  # a label of a run column (experiment) replaces it, it is no hparam
                names.setdefault(key, None)
    return list(names)


def test_contexts(marker: Mapping[str, Any], contexts: Sequence[str] | None = None) -> list[str]:
    """Sorted evaluation contexts of one run (those starting with ``test``, or the ones asked for)."""
    available = (marker.get("metrics") or {}).keys()
    if contexts is None:
        return sorted(c for c in available if c.startswith(TEST_CONTEXT_PREFIX))
    wanted = set(contexts)
    return sorted(c for c in available if c in wanted)


def _as_float(value: Any) -> float:
    return math.nan if value is None else float(value)


def runs_long_table(
    markers: Sequence[Mapping[str, Any]],
    labels: Sequence[Mapping[str, Any]] | None = None,
    *,
    contexts: Sequence[str] | None = None,
) -> pd.DataFrame:
    """One row per (run, test context) with run metadata, hparams, the context's metrics and the run duration.

    ``labels[i]`` (optional) holds the campaign labels of ``markers[i]`` (``campaign_id``, ``campaign_exp_idx``,
    and ``experiment``, which replaces the run's own AIM experiment); they override hparams of the same name because
    a run's marker is written before the campaign labels it.
    A run only contributes rows for the contexts it actually evaluated: a run of another dataset has no
    ``test-human`` and should not appear as an all-NaN row there. A metric missing in a context is NaN.
    Rows are ordered by campaign (id, experiment index) when labelled, else by input order, then by context.
    """
    if labels is not None and len(labels) != len(markers):
        raise ValueError(f"got {len(labels)} label sets for {len(markers)} markers")
    hp_names = hparam_columns(markers, labels)

    rows: list[dict[str, Any]] = []
    metric_names: dict[str, None] = {}
    for i, marker in enumerate(markers):
        hparams = dict(marker.get("hparams") or {})
        run_labels: dict[str, Any] = {}
        if labels is not None:
            run_labels = {k: v for k, v in labels[i].items() if k in RUN_COLUMNS}
            hparams.update({k: v for k, v in labels[i].items() if k not in RUN_COLUMNS})
        base: dict[str, Any] = {
            "hash": (marker.get("aim") or {}).get("run_hash"),
            "run_key": marker.get("run_key"),
            "experiment": marker.get("experiment"),
            "creation_time": _as_float(marker.get("creation_time")),
            "end_time": _as_float(marker.get("end_time")),
            **run_labels,
        }
        base.update({name: _scalar(hparams.get(name, math.nan)) for name in hp_names})
        for ctx in test_contexts(marker, contexts):
            ctx_metrics = marker["metrics"][ctx] or {}
            metric_names.update(dict.fromkeys(ctx_metrics))
            rows.append({**base, CONTEXT_COLUMN: ctx, "_order": i, **ctx_metrics})

    metrics = sorted(metric_names)
    columns = [*RUN_COLUMNS, *hp_names, CONTEXT_COLUMN, *metrics]
    df = pd.DataFrame(rows, columns=[*columns, "_order"])
    for name in metrics:
        df[name] = df[name].astype(float)
    df["run_duration"] = df["end_time"] - df["creation_time"]

    sort_keys = [c for c in CAMPAIGN_LABELS if c in df.columns and df[c].notna().all()]
    df = df.sort_values([*sort_keys, "_order", CONTEXT_COLUMN], kind="mergesort")
    return df.drop(columns="_order").reset_index(drop=True)


def hparams_of(long: pd.DataFrame) -> list[str]:
    """Hparam columns of a long table built by :func:`runs_long_table` (between run metadata and context)."""
    cols = list(long.columns)
    start = cols.index("end_time") + 1 if "end_time" in cols else 0
    stop = cols.index(CONTEXT_COLUMN) if CONTEXT_COLUMN in cols else len(cols)
    return cols[start:stop]


def metrics_of(long: pd.DataFrame) -> list[str]:
    """Metric columns of a long table built by :func:`runs_long_table` (between context and run duration)."""
    cols = list(long.columns)
    start = cols.index(CONTEXT_COLUMN) + 1 if CONTEXT_COLUMN in cols else 0
    return [c for c in cols[start:] if c != "run_duration"]


#: Settings that change results without being hparams of the original (the data a run trained on beyond its name,
#: the split settings): runs that differ in them are grouped by these columns, never pooled into one group.
SETTING_COLUMNS: tuple[str, ...] = ("dataset_identity", "split_settings")


def _flat_text(value: Any) -> str:
    if isinstance(value, Mapping):
        return " ".join(f"{k}={_flat_text(v)}" for k, v in sorted(value.items()))
    return str(value)


def setting_values(marker: Mapping[str, Any]) -> dict[str, str]:
    """A run's data identity (name, source, generator settings or content sha256, variant) and split settings,
    as short readable values."""
    params = marker.get("params") or {}
    dataset = dict(params.get("dataset") or {})
    if "sha256" in dataset:
        dataset["sha256"] = str(dataset["sha256"])[:12]
    dataset.pop("flows", None)
    return {"dataset_identity": _flat_text(dataset), "split_settings": _flat_text(params.get("splits") or {})}


def setting_labels(markers: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, str]], list[str]]:
    """Per run, the setting columns whose value differs between the runs (empty dicts when none does), and one
    note per such column saying that the summary groups by it."""
    values = [setting_values(m) for m in markers]
    labels: list[dict[str, str]] = [{} for _ in markers]
    notes = []
    for column in SETTING_COLUMNS:
        distinct = sorted({v[column] for v in values})
        if len(distinct) > 1:
            for label, value in zip(labels, values):
                label[column] = value[column]
            notes.append(f"note: the runs differ in {column} ({len(distinct)} values: {'; '.join(distinct)}): "
                         f"grouped by {column}, never pooled")
    return labels, notes


def run_hparams(long: pd.DataFrame) -> list[dict[str, Any]]:
    """One hparams dict per run of the long table (the planner's view of the same runs)."""
    names = [c for c in hparams_of(long) if c in long.columns]
    runs = long.drop_duplicates("run_key") if "run_key" in long.columns else long
    return [{k: v for k, v in row.items() if not (isinstance(v, float) and pd.isna(v))}
            for row in runs[names].to_dict("records")]
