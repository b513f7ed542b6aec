# Helpers shared by the rules: the run table derived from the config (the same grid the CLI builds), paths, and
# accessors that turn a run_key wildcard into that run's parameters.

import os
import shlex
from pathlib import Path

from tcbench.campaign.commands import run_arguments
from tcbench.campaign.grid import campaign_runs, dataset_paths, experiment_name, pretrain_params, run_key
from tcbench.campaign.status import forget_finished_incomplete
from tcbench.tracking.aim_repo import default_template_path

# The config was validated, completed and checked by the Snakefile (prepare_config) before this file is included.
RUNS = {spec.run_key: spec for spec in campaign_runs(config)}
# SimCLR pre-trainings, each shared by every finetune run (seed, settings) that starts from it.
PRETRAINS = {run_key(p): p for p in (pretrain_params(s.params) for s in RUNS.values() if s.params["method"] == "simclr")}
EXPERIMENT = experiment_name(config)
DATA = dataset_paths(config)
RESULTS = Path(config["results_dir"])
CAMPAIGN_DIR = RESULTS / "campaigns" / config["campaign_id"]
LOGS = RESULTS / "logs"
MERGE_REPORT = CAMPAIGN_DIR / "aim_merge.json"
AIM_TEMPLATE = default_template_path(RESULTS)
BLOCK_DURATION = float(config["training"]["flowpic_block_duration"])


wildcard_constraints:
    run_key="[0-9a-f]{16}",
    pretrain_key="[0-9a-f]{16}",
    dim="32|64|1500",


def split_file():
    """The splits a run reads: ucdavis-icdm19's drawn train splits, or the index splits of an imported dataset."""
    if DATA.variant:
        return str(DATA.index_splits)
    return str(DATA.train_splits(config["splits"]["n_splits"], config["splits"]["samples_per_class"]))


def pretrain_dir(params):
    return RESULTS / "pretrain" / run_key(pretrain_params(params))


def train_arguments(params):
    """Every hyper-parameter of the run as `tcbench run` options (see tcbench.campaign.commands)."""
    args = run_arguments(params)
    if params["method"] == "simclr":
        args = f"{args} --pretrain-dir {shlex.quote(str(pretrain_dir(params)))}"
    return args


# Computed once for the whole campaign: planning 10 000 runs would otherwise call a params function 10 000 times.
RUN_ARGUMENTS = {key: train_arguments(spec.params) for key, spec in RUNS.items()}


def pretrain_flowpics(wildcards):
    """The flowpic cache a pre-training reads: only when no view augmentation rebuilds flowpics from packets."""
    from tcbench.augment.views import needs_series

    params = PRETRAINS[wildcards.pretrain_key]
    if needs_series(params["augmentations"]):
        return []
    return [str(DATA.flowpics(params["flowpic_dim"], BLOCK_DURATION))]


# Memory a run gets from a scheduler (SLURM's --mem), by flowpic dim: measured peaks are 0.4-1 GB at 32/64 and
# about 2 GB at 1500 (benchmarks/RESULTS.md), with headroom; a retry gets a multiple of it.
MEMORY_MB_BY_DIM = {32: 2000, 64: 3000, 1500: 8000}
RUN_MEMORY_MB = {key: MEMORY_MB_BY_DIM.get(spec.params.get("flowpic_dim"), 2000) for key, spec in RUNS.items()}
# Time limit (minutes) a scheduler gives a run, by dim: CPU runs take under 1 min at 32/64 and up to an hour at 1500
# with the slowest augmentations; a retry gets a multiple of it.
MINUTES_BY_DIM = {32: 30, 64: 30, 1500: 240}
RUN_MINUTES = {key: MINUTES_BY_DIM.get(spec.params.get("flowpic_dim"), 30) for key, spec in RUNS.items()}


# GPUs a training job takes (Snakemake's `gpu` resource): one per CNN or SimCLR run on cuda, none for XGBoost.
GPUS_PER_RUN = int(config["resources"]["device"].startswith("cuda") and config["method"] != "xgboost")


def run_inputs(wildcards):
    """The flowpic cache a run reads (none for XGBoost on packet series) and the pre-training a SimCLR run
    finetunes from."""
    params = RUNS[wildcards.run_key].params
    extra = {}
    if params.get("flow_representation") != "pktseries":
        extra["flowpics"] = str(DATA.flowpics(params["flowpic_dim"], BLOCK_DURATION))
    if params["method"] == "simclr":
        extra["pretraining"] = str(pretrain_dir(params) / "marker.json")
    return extra


def marker_paths():
    """Markers of every run of the campaign, in grid order (position + 1 = campaign_exp_idx)."""
    return [str(RESULTS / "runs" / key / "marker.json") for key in RUNS]


# A run whose marker was written just before Snakemake was killed is finished, whatever Snakemake's records say:
# release those records so --rerun-incomplete does not train it again (tcbench.campaign.status).
forget_finished_incomplete(marker_paths())


def summary_files():
    """One runsinfo/summary pair per value of the split hparam (max_n_pkts for packet-series runs, as the original)."""
    pktseries = config["method"] == "xgboost" and config["xgboost"]["flow_representation"] == "pktseries"
    hparam = "max_n_pkts" if pktseries else "flowpic_dim"
    out = CAMPAIGN_DIR / "campaign_summary"
    return [str(out / f"{kind}_{hparam}_{v}.{ext}") for v in sorted(set(config["grid"][hparam]))
            for kind, ext in (("runsinfo", "parquet"), ("summary", "csv"))]


def confusion_plot_files():
    """One averaged confusion matrix per test context of the campaign's runs."""
    if DATA.variant:
        return [str(CAMPAIGN_DIR / "plots" / "confusion_test.png")]
    leftover = config["training"]["test_leftover"] and config["method"] != "simclr"
    contexts = ["test-human", "test-script"] + (["test-train-val-leftover"] if leftover else [])
    return [str(CAMPAIGN_DIR / "plots" / f"confusion_{c}.png") for c in contexts]


def summary_table_files():
    """The summary CSVs rendered as HTML tables for `snakemake --report` (which shows HTML inline, not CSV)."""
    return [str(CAMPAIGN_DIR / "plots" / f"{Path(f).stem}.html") for f in summary_files() if f.endswith(".csv")]


def print_campaign_summary():
    """Print the summary tables at the end of a successful `snakemake` invocation."""
    from tcbench.reporting.console import print_summary_files

    existing = [Path(p) for p in summary_files() if p.endswith(".csv") and Path(p).exists()]
    if existing:
        print(f"campaign {config['campaign_id']}: {len(RUNS)} runs, summaries in {CAMPAIGN_DIR / 'campaign_summary'}")
        print_summary_files(existing, precision=config["report"]["precision"])
