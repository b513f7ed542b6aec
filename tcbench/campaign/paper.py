"""A config that joins several campaigns into one plan: the whole paper in one DAG (``config/paper.yaml``).

Why: the paper is eleven-plus campaigns whose runs overlap (table 4 and figure 11 share 210 runs, tables 5 and 6
share pre-trainings); one DAG trains each distinct run once (runs are content-addressed) and prices the whole at
dry-run. Each campaign stays declared once, in its own file under ``config/campaigns/``: the paper config only
names them, per published table (or figure), and sets what the campaigns share (where results and datasets go,
the device and threads, the one-invocation instructions). Each campaign keeps its own outputs
(``results/campaigns/<campaign_id>/``) and report, and the per-table lists tell a paper page which campaigns (and so
which summaries and comparisons) each published table comes from.

A campaign whose imported dataset is not there yet does not fail the plan: it is listed as skipped with the
command that imports the dataset, and joins once it is imported.

A reduced paper (``reduce: {splits: 2, seeds: 1}``, e.g. through ``--config``) keeps the first values of each
campaign's replicate axes (the split, every seed): the same tables and figures from fewer runs, each of which is a
run of the full paper (same run key, reused when the full paper runs). A reduced campaign is another grid, so it
gets its own id (``<campaign_id>-reduced-<splits>x<seeds>``) and folder.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcbench.campaign.config import ConfigError, load_config_file, prepare_config, validate_config

#: The key that makes a config a paper (multi-campaign) config.
CAMPAIGNS_KEY = "campaigns"
#: Keys a paper config may set; every one but ``campaigns`` and ``paper`` is handed to each of its campaigns.
SHARED_KEYS = ("results_dir", "datasets_dir", "resources", "plugins", "rerun_other_code", "start_project",
               "replace_campaign")
#: The key of a reduced paper: how many values of the split axis and of each seed axis every campaign keeps.
REDUCE_KEY = "reduce"
PAPER_KEYS = (CAMPAIGNS_KEY, "paper", REDUCE_KEY, *SHARED_KEYS)
#: The replicate axis ``reduce.splits`` counts; every other replicate axis (the seeds) counts under ``reduce.seeds``.
SPLIT_AXIS = "split_index"


def is_paper_config(config: dict[str, Any]) -> bool:
    return CAMPAIGNS_KEY in config


@dataclass
class Skipped:
    """A campaign left out of the plan, and why (with the command that would let it join)."""

    file: str
    campaign_id: str
    reason: str


@dataclass
class PaperPlan:
    """The campaigns of a paper config, prepared like single campaign configs, and those skipped."""

    name: str
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # the config file of each prepared campaign
    tables: dict[str, list[str]] = field(default_factory=dict)  # published table -> campaign ids (skipped ones too)
    skipped: list[Skipped] = field(default_factory=list)
    reduce: dict[str, int] = field(default_factory=dict)  # a reduced paper: values kept per split / seed axis


def check_paper_keys(config: dict[str, Any]) -> None:
    """Only the shared keys beside ``campaigns``: a grid or method here would silently apply to nothing."""
    unknown = sorted(k for k in config if k not in PAPER_KEYS)
    if unknown:
        raise ConfigError(f"invalid configuration: {unknown} in a paper config (one with `campaigns:`); each campaign's "
                          f"own file declares its grid; valid keys: {list(PAPER_KEYS)}")


def reduce_campaign(campaign: dict[str, Any], reduce: dict[str, Any]) -> None:
    """Keep the first ``reduce.splits`` values of the split axis and the first ``reduce.seeds`` of every other
    replicate axis (as the methods declare them) of ``campaign``'s grid, and name the reduced grid by its own id."""
    from tcbench.campaign.report_plan import is_replicate

    if not reduce:
        return
    grid = campaign.get("grid") or {}
    for axis, values in grid.items():
        keep = reduce.get("splits") if axis == SPLIT_AXIS else reduce.get("seeds")
        if is_replicate(axis) and isinstance(values, list) and keep:
            grid[axis] = values[:int(keep)]
    if "campaign_id" in campaign:
        campaign["campaign_id"] = (f"{campaign['campaign_id']}-reduced-{reduce.get('splits') or 'all'}x"
                                   f"{reduce.get('seeds') or 'all'}")


def _missing_dataset(config: dict[str, Any]) -> str | None:
    """The import command of an imported dataset that is not there (None when it is, or the config is otherwise bad)."""
    from tcbench.data.sources import dataset_paths, source_of

    try:
        source = source_of(config)
        return None if source.built_by_workflow else source.missing(config, dataset_paths(config))
    except (KeyError, ValueError, TypeError):
        return None


def _find(name: str, bases: list[Path]) -> Path | None:
    if Path(name).is_absolute():
        return Path(name) if Path(name).is_file() else None
    return next((base / name for base in bases if (base / name).is_file()), None)


def load_paper(config: dict[str, Any], schema_path: str | Path, bases: list[Path] | None = None) -> PaperPlan:
    """Validate a paper config, then load and prepare each campaign file it names (relative to the project folder,
    else to the paper config's project or the Snakefile's: the first of ``bases`` that has it) with
    the shared keys applied. A file named under several tables is one campaign. Raises ConfigError naming the
    file for any problem but a missing imported dataset (that campaign is skipped)."""
    from tcbench.campaign.config import load_schema

    schema_path = Path(schema_path)
    bases = list(dict.fromkeys(bases or [Path(".")]))
    check_paper_keys(config)
    validate_config(config, load_schema(schema_path), schema_path)
    shared = {k: copy.deepcopy(config[k]) for k in SHARED_KEYS if k in config}
    plan = PaperPlan(name=str(config.get("paper") or "paper"), reduce=dict(config.get(REDUCE_KEY) or {}))
    seen: dict[str, str] = {}
    ids: dict[str, str] = {}
    for table, files in config[CAMPAIGNS_KEY].items():
        plan.tables[table] = []
        for name in files:
            if name in seen:
                plan.tables[table].append(seen[name])
                continue
            path = _find(name, bases)
            if path is None:
                raise ConfigError(f"campaigns.{table}: {name}: no such campaign config (looked in "
                                  f"{', '.join(str(b.absolute()) for b in bases)})")
            campaign = load_config_file(path)
            campaign.update(copy.deepcopy(shared))
            reduce_campaign(campaign, config.get(REDUCE_KEY) or {})
            cid = str(campaign.get("campaign_id", path.stem))
            if cid in ids and ids[cid] != name:
                raise ConfigError(f"campaigns.{table}: {name} repeats campaign_id {cid} of {ids[cid]}; valid values: "
                                  "a distinct campaign_id per campaign file")
            ids[cid] = name
            seen[name] = cid
            plan.tables[table].append(cid)
            try:
                prepare_config(campaign, schema_path)
                # A campaign with dataset.fetch: true plans even without its data (a single campaign fetches it
                # first); the paper skips it until the data is there, as any other missing dataset.
                missing = _missing_dataset(campaign)
            except ConfigError as exc:
                missing = _missing_dataset(campaign)
                if missing is None:
                    raise ConfigError(f"{name}: {exc}") from None
            if missing is not None:
                plan.skipped.append(Skipped(name, cid, missing))
                continue
            plan.campaigns.append(campaign)
            plan.files.append(name)
    if not plan.campaigns:
        raise ConfigError("campaigns: no campaign can be planned (every one is skipped: "
                          + "; ".join(f"{s.file}: {s.reason}" for s in plan.skipped) + ")")
    return plan


def single_plan(config: dict[str, Any], schema_path: str | Path) -> PaperPlan:
    """A single campaign config as a plan of one campaign (its table: ``report.paper``)."""
    prepare_config(config, schema_path)
    table = (config.get("report") or {}).get("paper") or config["campaign_id"]
    return PaperPlan(name=config["campaign_id"], campaigns=[config], files=[""], tables={table: [config["campaign_id"]]})


def prepare_any(config: dict[str, Any], schema_path: str | Path, bases: list[Path] | None = None) -> PaperPlan:
    """A paper config's plan, or a single campaign config as a plan of one (completed in place, as before)."""
    return load_paper(config, schema_path, bases) if is_paper_config(config) else single_plan(config, schema_path)


def plan_record(plan: PaperPlan) -> dict[str, Any]:
    """What the paper page needs of a plan (tcbench.reporting.paper_runs): its name, published table -> campaign
    ids, the skipped campaigns with why, and the reduction; the rest it reads from the results folder."""
    return {"paper": plan.name, "tables": plan.tables, "reduce": plan.reduce,
            "skipped": {s.campaign_id: s.reason for s in plan.skipped}}
