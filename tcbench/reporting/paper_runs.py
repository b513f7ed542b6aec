"""The runs behind the paper page: per campaign of a paper plan, its long table, or why it has none yet.

Why a module of its own: the page, its tables and its findings all read the same thing (a published table's runs,
pooled over the campaigns the paper config lists under it), and a campaign without results must never fail the
page, only show as pending with its reason: skipped (its dataset is not imported: the import command), not started,
or not finished (k of n runs). Everything is read from the results folder: each campaign's ``campaign.json`` (its
run keys and settings), the runs' markers and its ``campaign_summary/runsinfo*.parquet``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from tcbench.campaign.folder import MANIFEST, campaign_folder
from tcbench.reporting.runs_table import CONTEXT_COLUMN

#: The column the page adds to every run row: the method of the campaign that made it (tables mix methods).
METHOD_COLUMN = "method"


@dataclass
class CampaignRuns:
    """One campaign of the plan: its runs (``long``: one row per run and test context) or why there are none."""

    campaign_id: str
    long: pd.DataFrame | None = None
    pending: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def data(self) -> str:
        """The campaign's data in words: the stand-in generator's version and seed, or the imported dataset."""
        dataset = self.settings.get("dataset") or {}
        if dataset.get("source") == "synthetic":
            syn = dataset.get("synthetic") or {}
            from tcbench.data.synthetic import GENERATOR_VERSION

            return (f"synthetic stand-in of {dataset.get('name')} (generator version "
                    f"{syn.get('generator_version', GENERATOR_VERSION)}, seed {syn.get('seed')}, scale {syn.get('scale')})")
        if dataset:
            minpkts = f", min_pkts {dataset['min_pkts']}" if dataset.get("min_pkts") else ""
            return f"imported real captures of {dataset.get('name')}{minpkts}"
        return ""

    @property
    def stand_in(self) -> bool | None:
        dataset = self.settings.get("dataset") or {}
        return None if not dataset else dataset.get("source") == "synthetic"


@dataclass
class PaperRuns:
    """The paper plan (published table -> campaign ids) with each campaign's runs."""

    name: str
    tables: dict[str, list[str]]
    campaigns: dict[str, CampaignRuns]
    reduce: dict[str, int] = field(default_factory=dict)

    def long(self, table: str) -> pd.DataFrame:
        """The runs of every finished campaign listed under ``table``, a run shared by two campaigns once."""
        frames = [self.campaigns[c].long for c in self.tables.get(table, []) if self.campaigns[c].long is not None]
        if not frames:
            return pd.DataFrame()
        long = pd.concat(frames, ignore_index=True)
        return long.drop_duplicates(subset=["run_key", CONTEXT_COLUMN]).reset_index(drop=True)

    def pending(self, table: str) -> list[str]:
        """Why campaigns of ``table`` have no results yet (one line each); not in the plan at all is one too."""
        if table not in self.tables:
            return [f"{table} is not in this paper config"]
        return [f"{c}: {self.campaigns[c].pending}" for c in self.tables[table] if self.campaigns[c].pending]

    def stand_in(self) -> bool:
        return any(c.stand_in for c in self.campaigns.values())

    def data_lines(self) -> list[str]:
        """Each distinct data the campaigns ran (or will run) on, in words."""
        return list(dict.fromkeys(c.data for c in self.campaigns.values() if c.data))


def _campaign_runs(campaign_id: str, results_dir: Path, skipped: str | None) -> CampaignRuns:
    folder = campaign_folder(results_dir, campaign_id)
    if skipped is not None:
        return CampaignRuns(campaign_id, pending=f"skipped: {skipped}")
    manifest = folder / MANIFEST
    if not manifest.exists():
        return CampaignRuns(campaign_id, pending="not run yet")
    record = json.loads(manifest.read_text())
    keys, settings = record.get("run_keys", []), record.get("settings", {})
    done = sum((results_dir / "runs" / key / "marker.json").exists() for key in keys)
    files = sorted((folder / "campaign_summary").glob("runsinfo*.parquet"))
    if done < len(keys) or not files:
        why = f"not finished: {done} of {len(keys)} runs done" if done < len(keys) else "runs done, summaries not written yet"
        return CampaignRuns(campaign_id, pending=why, settings=settings)
    long = pd.concat([pd.read_parquet(p) for p in files], ignore_index=True)
    long[METHOD_COLUMN] = settings.get("method")
    return CampaignRuns(campaign_id, long=long, settings=settings)


def load_paper_runs(plan: Mapping[str, Any], results_dir: str | Path) -> PaperRuns:
    """``plan``: ``{"paper": name, "tables": {table: [campaign ids]}, "skipped": {campaign id: reason}, "reduce":
    {...}}`` (:func:`tcbench.campaign.paper.plan_record`); the campaigns' results are read from ``results_dir``."""
    results_dir = Path(results_dir)
    skipped: Mapping[str, str] = plan.get("skipped") or {}
    tables = {str(t): [str(c) for c in ids] for t, ids in plan["tables"].items()}
    ids: Sequence[str] = list(dict.fromkeys(c for cs in tables.values() for c in cs))
    campaigns = {c: _campaign_runs(c, results_dir, skipped.get(c)) for c in ids}
    return PaperRuns(str(plan.get("paper") or "paper"), tables, campaigns, dict(plan.get("reduce") or {}))
