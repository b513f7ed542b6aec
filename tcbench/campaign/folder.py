"""A campaign id names one grid: ``results/campaigns/<id>/`` never mixes the outputs of two grids.

The folder records the runs it was made from (``campaign.json``: the run keys and the settings that made them). A
campaign planned under an id whose folder holds another set of runs is refused before anything runs, with the
differences and the two ways on: a new ``campaign_id``, or ``replace_campaign: true``, which moves the old folder
aside (``<id>.replaced-<UTC time>``; nothing is deleted, and its runs stay in ``results/runs`` for reuse). Folders
written before the record existed are read through their merge report or runsinfo files.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tcbench.atomic import atomic_write_text

MANIFEST = "campaign.json"


#: Config keys that instruct one invocation and are not part of the campaign (the report page leaves them out, so
#: giving them never reruns a step).
INSTRUCTIONS = frozenset({"replace_campaign"})


def lasting_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The campaign's settings without the one-invocation instructions."""
    return {k: v for k, v in config.items() if k not in INSTRUCTIONS}


#: Config keys that label, place or report a campaign: they never change its runs, so they are not recorded.
NOT_RECORDED = INSTRUCTIONS | {"campaign_id", "experiment", "results_dir", "datasets_dir", "resources", "report",
                               "plugins"}


class CampaignFolderError(ValueError):
    """The campaign folder holds the outputs of another grid."""


def manifest(config: Mapping[str, Any], run_keys: Sequence[str]) -> dict[str, Any]:
    """What a campaign folder records about the runs it is made from."""
    settings = {k: v for k, v in config.items() if k not in NOT_RECORDED}
    return {"campaign_id": config["campaign_id"], "settings": settings, "run_keys": sorted(run_keys)}


def digest(record: Mapping[str, Any]) -> str:
    """A short fingerprint of a record (the workflow rewrites campaign.json when it changes)."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()[:16]


def write_manifest(path: str | os.PathLike[str], record: Mapping[str, Any]) -> Path:
    return atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True, default=str) + "\n")


def recorded_runs(campaign_dir: Path) -> tuple[set[str], Mapping[str, Any] | None] | None:
    """(run keys, recorded settings or None) of the outputs in ``campaign_dir``; None when it holds none."""
    record = campaign_dir / MANIFEST
    if record.exists():
        data = json.loads(record.read_text())
        return set(data["run_keys"]), data.get("settings")
    merged = campaign_dir / "aim_merge.json"  # written by older versions too
    if merged.exists():
        return {run["run_key"] for run in json.loads(merged.read_text()).get("runs", []) if run.get("run_key")}, None
    runsinfo = sorted((campaign_dir / "campaign_summary").glob("runsinfo*.parquet"))
    if runsinfo:
        import pyarrow.parquet as pq

        return {str(k) for f in runsinfo for k in pq.read_table(f, columns=["run_key"]).column("run_key").to_pylist()}, None
    return None


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            out.update(_flat(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def differences(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[str]:
    """``key: old -> new`` for each recorded setting that differs."""
    if old is None:
        return []
    a, b = _flat(old), _flat(new)
    return [f"{key}: {a.get(key, '(unset)')} -> {b.get(key, '(unset)')}" for key in sorted(set(a) | set(b))
            if a.get(key) != b.get(key)]


def check_campaign_folder(campaign_dir: Path, record: Mapping[str, Any], replace: bool, dry_run: bool) -> str | None:
    """None when ``campaign_dir`` is free or holds these runs' outputs. Otherwise, with ``replace``, move it aside
    (only say so in a dry run) and return the line that says it; without, raise CampaignFolderError."""
    found = recorded_runs(campaign_dir) if campaign_dir.is_dir() else None
    if found is None:
        return None
    keys, settings = found
    planned = set(record["run_keys"])
    if keys == planned:
        return None
    changed = differences(settings, record["settings"])
    what = "; ".join(changed[:6]) + (f"; {len(changed) - 6} more" if len(changed) > 6 else "") if changed else (
        f"it holds {len(keys)} runs, {len(keys & planned)} of the {len(planned)} planned"
        + (" (the same settings: another tcbench results version)" if settings is not None else ""))
    if not replace:
        raise CampaignFolderError(
            f"campaign_id {record['campaign_id']}: {campaign_dir} holds the results of another grid ({what}); "
            f"use a new campaign_id, or --config replace_campaign=true to move that folder aside (its runs stay in "
            f"results/runs and are reused)")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = campaign_dir.with_name(f"{campaign_dir.name}.replaced-{stamp}")
    if dry_run:
        return f"replace_campaign: would move {campaign_dir} ({what}) to {aside}"
    campaign_dir.rename(aside)
    return f"replace_campaign: moved {campaign_dir} ({what}) to {aside}"
