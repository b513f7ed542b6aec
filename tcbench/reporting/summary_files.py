"""The names of a campaign's summary files, known at planning time (the workflow's outputs) and when they are
written; no pandas or scipy here, so planning a campaign does not import them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def split_of(representations: set[Any], has_dim: bool) -> str | None:
    """The hparam the report gets one file per value of (§8.3 step 6): ``max_n_pkts`` for packet-series runs,
    else ``flowpic_dim``; None when the runs have no flowpic dim (one file for all)."""
    if representations == {"pktseries"}:
        return "max_n_pkts"
    return "flowpic_dim" if has_dim else None


def _format_value(value: object) -> str:
    # Hparams missing in some runs turn an int column into floats; file names must still say `_32`, not `_32.0`.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def summary_file_names(hp: str | None, values: Sequence[Any]) -> list[str]:
    """``runsinfo_<hp>_<v>.parquet`` and ``summary_<hp>_<v>.csv`` per value (``runsinfo.parquet`` and
    ``summary.csv`` when nothing splits the report)."""
    suffixes = [f"_{hp}_{_format_value(v)}" for v in values] if hp else [""]
    return [f"{kind}{suffix}.{ext}" for suffix in suffixes for kind, ext in (("runsinfo", "parquet"), ("summary", "csv"))]


def planned_summary_files(hparams: Sequence[Mapping[str, Any]]) -> list[str]:
    """The summary files a campaign of runs with these hparams gets (what ``write_campaign_summary`` writes)."""
    hp = split_of({h.get("flow_representation") for h in hparams}, all("flowpic_dim" in h for h in hparams))
    return summary_file_names(hp, sorted({h[hp] for h in hparams}) if hp else [])
