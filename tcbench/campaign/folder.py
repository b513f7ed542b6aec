"""A campaign id names one grid: ``results/campaigns/<id>/`` never mixes the outputs of two grids.

The folder records the runs it was made from (``campaign.json``: the run keys and the settings that made them). A
campaign planned under an id whose folder holds another set of runs is refused before anything runs, with the
differences and the two ways on: a new ``campaign_id``, or ``replace_campaign: true``, which moves the old folder
aside (``<id>.replaced-<UTC time>``; nothing is deleted, and its runs stay in ``results/runs`` for reuse). Folders
written before the record existed are read through their merge report or runsinfo files.
"""

from __future__ import annotations

import datetime
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tcbench.atomic import atomic_write_text

MANIFEST = "campaign.json"
#: A campaign's page, in its folder: the last step of a campaign writes it.
REPORT_PAGE = "report.html"


def campaign_folder(results_dir: str | os.PathLike[str], campaign_id: str) -> Path:
    """Where a campaign's own outputs go (its manifest, summaries, plots, page): ``<results_dir>/campaigns/<id>``.
    Its runs live beside it, under ``<results_dir>/runs``, shared with every campaign that selects them."""
    return Path(results_dir) / "campaigns" / campaign_id


#: Config keys that instruct one invocation and are not part of the campaign (the report page leaves them out, so
#: giving them never reruns a step).
INSTRUCTIONS = frozenset({"replace_campaign", "rerun_other_code", "start_project"})


def lasting_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The campaign's settings without the one-invocation instructions."""
    return {k: v for k, v in config.items() if k not in INSTRUCTIONS}


#: Config keys that label, place or report a campaign: they never change its runs, so they are not recorded.
NOT_RECORDED = INSTRUCTIONS | {"campaign_id", "experiment", "results_dir", "datasets_dir", "resources", "report",
                               "plugins"}


class CampaignFolderError(ValueError):
    """The campaign folder holds the outputs of another grid."""


def manifest(config: Mapping[str, Any], run_keys: Sequence[str], code: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What a campaign folder records about the runs it is made from: its settings, the identity of the plugin code
    its runs execute (``code``: ``tcbench.runs.provenance.code_identity``, absent for tcbench's own code) and the
    run keys."""
    settings = {k: v for k, v in config.items() if k not in NOT_RECORDED}
    if code:
        settings["code"] = dict(sorted(code.items()))
    return {"campaign_id": config["campaign_id"], "settings": settings, "run_keys": sorted(run_keys)}


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
    if changed and all(c.startswith("code.") for c in changed):  # the same grid, made by edited plugin code
        return (f"campaign_id {record['campaign_id']}: its plugin code changed since its results were made ({what}); "
                "the affected runs are planned again and the campaign's summaries rebuilt from them (the earlier runs "
                "stay in results/runs)")
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


# ---------------------------------------------------------------------------------------------- the project folder
# Relative paths of a config (results_dir, datasets_dir, .py plugins) resolve against one folder, the project, for
# Snakemake and every `tcbench campaign` command alike, wherever the command starts: otherwise a command started from
# another folder plans the whole campaign (dataset, every run) again there, or reports a finished one as pending.

#: The environment variable through which Snakemake's main process hands its project folder to the jobs it spawns.
PROJECT_ENV = "TCBENCH_PROJECT"
#: The config key that starts a new project in a folder that is not one (planning refuses it otherwise).
START_PROJECT = "start_project"
#: How to set it for one command.
ASK = f"snakemake: --config {START_PROJECT}=true; tcbench campaign: in the --configfile"


class ProjectError(ValueError):
    """Planning would create a results tree or a dataset in a folder that is not a tcbench project."""


@dataclass(frozen=True)
class Project:
    """The folder a campaign command works in. ``moved_from`` is the folder it started in when that folder was not a
    project (the command then works in the project holding the Snakefile)."""

    folder: Path
    moved_from: Path | None = None

    def note(self) -> str | None:
        """The line that says the command works elsewhere than where it started, or None."""
        if self.moved_from is None:
            return None
        return (f"note: {self.moved_from} is not a tcbench project: working in the project {self.folder} (relative "
                f"paths of the config resolve there); to start a project in {self.moved_from} instead, set "
                f"{START_PROJECT}: true ({ASK})")


def _relative(value: Any, default: str) -> Path | None:
    """A config path that lies in the project (relative), or None when it is absolute (it is placed explicitly)."""
    path = Path(value if isinstance(value, str) and value else default)
    return None if path.is_absolute() else path


def project_sign(folder: Path, config_files: Sequence[str | os.PathLike[str]], config: Mapping[str, Any]) -> str | None:
    """Why ``folder`` is a tcbench project, or None: it holds the Snakefile, the campaign's config file (in the folder
    or below its config/), or results or datasets of this config (``<results_dir>/runs`` or ``campaigns``, a
    prepared dataset under ``<datasets_dir>``). A ``.snakemake/`` alone is no sign: a mistaken run leaves one."""
    folder = folder.resolve()
    if (folder / "Snakefile").is_file():
        return "it holds the Snakefile"
    for given in config_files:
        path = Path(given).resolve()
        if path.is_file() and (path.parent == folder or folder / "config" in path.parents):
            return f"it holds the config {path}"
    results = _relative(config.get("results_dir"), "results")
    if results is not None and any((folder / results / part).is_dir() for part in ("runs", "campaigns")):
        return f"it holds the results tree {results}"
    datasets = _relative(config.get("datasets_dir"), "resources/datasets")
    if datasets is not None and (folder / datasets).is_dir() and any((folder / datasets).glob("*/dataset.json")):
        return f"it holds datasets in {datasets}"
    return None


def _asked(config: Mapping[str, Any]) -> bool:
    value = config.get(START_PROJECT)
    return value is True or (isinstance(value, str) and value.lower() == "true")


def config_project(config_files: Sequence[str | os.PathLike[str]]) -> Path | None:
    """The project a campaign config belongs to: the folder above its ``config/`` folder (``proj/config/x.yaml``,
    ``proj/config/campaigns/x.yaml``), else the folder holding it; None without a config file."""
    for given in config_files:
        path = Path(given).absolute()
        if not path.is_file():
            continue
        for parent in path.parents:
            if parent.name == "config":
                return parent.parent
        return path.parent
    return None


def choose_project(start: Path, named: bool, snakefile_dir: Path, config_files: Sequence[str | os.PathLike[str]],
                   config: Mapping[str, Any]) -> Project:
    """The project a command works in: the folder named with ``--directory`` (``named``); else the folder it starts
    in when that is a project (or ``start_project`` asks for one there); else the project of its config file
    (config_project); else the project holding the Snakefile. A named folder that is not a project is checked by
    ``check_project`` once the config is complete."""
    start = start.absolute()
    if named or project_sign(start, config_files, config) or _asked(config):
        return Project(start)
    return Project(config_project(config_files) or snakefile_dir.absolute(), moved_from=start)


def check_project(folder: Path, config_files: Sequence[str | os.PathLike[str]], config: Mapping[str, Any]) -> None:
    """Refuse (ProjectError, one line) to create a results tree or dataset in ``folder`` when it is not a project:
    no sign of one (project_sign), not empty (a named empty folder is a new project), not asked for with
    ``start_project``, and the config places results or datasets in it (relative paths)."""
    if project_sign(folder, config_files, config) or _asked(config):
        return
    placed = [f"{key} {path}" for key, default in (("results_dir", "results"), ("datasets_dir", "resources/datasets"))
              if (path := _relative(config.get(key), default)) is not None]
    if not placed:
        return
    others = sorted(p.name for p in folder.iterdir() if p.name != ".snakemake") if folder.is_dir() else []
    if not others:
        return
    shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
    raise ProjectError(
        f"{folder.absolute()} is not a tcbench project (it holds {shown}, but no Snakefile, campaign config, results "
        f"tree or dataset): planning would create {' and '.join(placed)} in it; work in a project or an empty "
        f"folder, or set {START_PROJECT}: true to start a project here ({ASK})")


def relocate_snakemake_log(start: Path, project: Path, logfile_handlers: dict[Any, str]) -> None:
    """Move the log Snakemake opened in ``start/.snakemake/log`` (it does so before reading the Snakefile) into the
    project's, so a command started elsewhere leaves nothing there. Renamed on the same file system only (the open
    handler keeps writing to the moved file); elsewhere it stays where it is. Empty folders it leaves are removed."""
    logdir = start / ".snakemake" / "log"
    target = project / ".snakemake" / "log"
    for handler, logfile in list(logfile_handlers.items()):
        path = Path(logfile)
        if path.parent != logdir:
            continue
        try:
            target.mkdir(parents=True, exist_ok=True)
            os.rename(path, target / path.name)
        except OSError:
            continue
        if hasattr(handler, "baseFilename"):
            handler.baseFilename = str(target / path.name)
        logfile_handlers[handler] = str(target / path.name)
    for folder in (logdir, logdir.parent):
        try:
            folder.rmdir()
        except OSError:
            break
