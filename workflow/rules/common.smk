# Helpers shared by the rules: the run table derived from the config (the same grid the CLI builds), paths, and
# accessors that turn a run_key wildcard into that run's parameters.

import os
from pathlib import Path

from tcbench.campaign.config import check_config
from tcbench.campaign.grid import campaign_runs, dataset_paths
from tcbench.tracking.aim_repo import default_template_path

check_config(config)

RUNS = {spec.run_key: spec for spec in campaign_runs(config)}
DATA = dataset_paths(config)
RESULTS = Path(config["results_dir"])
CAMPAIGN_DIR = RESULTS / "campaigns" / config["campaign_id"]
LOGS = RESULTS / "logs"
MERGE_REPORT = CAMPAIGN_DIR / "aim_merge.json"
AIM_TEMPLATE = default_template_path(RESULTS)
BLOCK_DURATION = float(config["training"]["flowpic_block_duration"])


wildcard_constraints:
    run_key="[0-9a-f]{16}",
    dim="32|64|1500",


def run_param(name):
    """Input/params function: the value of `name` for the run of the job's run_key wildcard."""
    return lambda wildcards: RUNS[wildcards.run_key].params[name]


def run_flowpics(wildcards):
    return str(DATA.flowpics(RUNS[wildcards.run_key].params["flowpic_dim"], BLOCK_DURATION))


def marker_paths():
    """Markers of every run of the campaign, in grid order (position + 1 = campaign_exp_idx)."""
    return [str(RESULTS / "runs" / key / "marker.json") for key in RUNS]


def summary_files():
    dims = sorted(set(config["grid"]["flowpic_dim"]))
    out = CAMPAIGN_DIR / "campaign_summary"
    return [str(out / f"{kind}_flowpic_dim_{d}.{ext}") for d in dims for kind, ext in (("runsinfo", "parquet"), ("summary", "csv"))]


def print_campaign_summary():
    """Print the summary tables at the end of a successful `snakemake` invocation."""
    from tcbench.reporting.console import print_summary_files

    existing = [Path(p) for p in summary_files() if p.endswith(".csv") and Path(p).exists()]
    if existing:
        print(f"campaign {config['campaign_id']}: {len(RUNS)} runs, summaries in {CAMPAIGN_DIR / 'campaign_summary'}")
        print_summary_files(existing, precision=config["report"]["precision"])
