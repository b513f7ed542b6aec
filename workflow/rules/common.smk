# Helpers shared by the rules: the run table derived from the config (the same grid the CLI builds), paths, and
# accessors that turn a run_key wildcard into what that run needs. Everything method-specific comes from the
# method's declarations (tcbench.methods): inputs, pre-step, GPU use, test contexts.

import json
import os
import shlex
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from tcbench.campaign.folder import (MANIFEST, CampaignFolderError, check_campaign_folder, digest, lasting_settings,
                                     manifest, write_manifest)
from tcbench.campaign.grid import campaign_code, campaign_method, campaign_runs, method_settings, pre_steps
from tcbench.campaign.jobs import use_running_python
from tcbench.campaign.reuse import inspect_finished
from tcbench.campaign.status import release_finished_records
from tcbench.data.sources import dataset_paths, source_of
from tcbench.data.registry import get_dataset
from tcbench.campaign.report_plan import (confusion_file_names, planned_analysis_files, planned_summary_files,
                                          report_split)
from tcbench.features.flowpic import VALID_DIMS
from tcbench.runs.gpu import check_cuda_visible
from tcbench.runs.identity import canonical_json, run_key
from tcbench.tracking.aim_repo import default_template_path

# Jobs run the tcbench of the Python that runs Snakemake, whatever PATH holds (tcbench.campaign.jobs).
use_running_python()

# The config was validated, completed and checked by the Snakefile (prepare_config) before this file is included.
METHOD = campaign_method(config)
RUNS = {spec.run_key: spec for spec in campaign_runs(config)}
# Shared pre-steps (SimCLR pre-trainings), each needed by every run (finetune seed, settings) that starts from it.
PRE_STEP = METHOD.pre_step() if METHOD.pre_step else None
PRE_STEPS = pre_steps(list(RUNS.values()))
DATA = dataset_paths(config)
DATASET = get_dataset(config["dataset"]["name"])
RESULTS = Path(config["results_dir"])
CAMPAIGN_DIR = RESULTS / "campaigns" / config["campaign_id"]
LOGS = RESULTS / "logs"
CAMPAIGN_LOGS = LOGS / "campaigns" / config["campaign_id"]
DATASET_LOGS = LOGS / "datasets" / DATA.root.name
MERGE_REPORT = CAMPAIGN_DIR / "aim_merge.json"
AIM_TEMPLATE = default_template_path(RESULTS)
SPLITS_FILE = str(DATA.splits_file(config["splits"]["n_splits"], config["splits"]["samples_per_class"]))
PRE_STEP_KIND = PRE_STEP.results_kind if PRE_STEP else "pretrain"
# The AIM experiment is a campaign label, applied when the campaign's repo is merged (default: each run's own).
EXPERIMENT_OPTION = f"--experiment {shlex.quote(config['experiment'])}" if config.get("experiment") else ""


wildcard_constraints:
    run_key="[0-9a-f]{16}",
    pretrain_key="[0-9a-f]{16}",
    dim="|".join(str(dim) for dim in VALID_DIMS),


def _data_inputs(method, params):
    """The flowpic cache a run (or pre-step) reads, when its method says it reads one."""
    cache = method.flowpic_cache(params)
    return {"flowpics": str(DATA.flowpics(*cache))} if cache is not None else {}


def _run_inputs(params):
    extra = _data_inputs(METHOD, params)
    pre = METHOD.pre_step_params(params)
    if pre is not None:
        extra["pre_step"] = str(RESULTS / PRE_STEP_KIND / run_key(pre) / "marker.json")
    return extra


# Computed once for the whole campaign: planning 10 000 runs would otherwise call a function 10 000 times per rule.
# Each job gets its run's parameters once, as the canonical JSON the grid built (`tcbench run job`).
RUN_JSON = {key: canonical_json(spec.params) for key, spec in RUNS.items()}
RUN_INPUTS = {key: _run_inputs(spec.params) for key, spec in RUNS.items()}
PRE_STEP_JSON = {key: canonical_json(params) for key, params in PRE_STEPS.items()}
PRE_STEP_INPUTS = {key: _data_inputs(PRE_STEP, params) for key, params in PRE_STEPS.items()}


def run_inputs(wildcards):
    return RUN_INPUTS[wildcards.run_key]


def pre_step_inputs(wildcards):
    return PRE_STEP_INPUTS[wildcards.pretrain_key]


# What a scheduler gives each job (memory, time limit), as its method asks for the run's parameters.
RUN_RESOURCES = {key: METHOD.resources(spec.params) for key, spec in RUNS.items()}
RUN_MEMORY_MB = {key: r.memory_mb for key, r in RUN_RESOURCES.items()}
RUN_MINUTES = {key: r.minutes for key, r in RUN_RESOURCES.items()}
PRE_STEP_RESOURCES = {key: PRE_STEP.resources(params) for key, params in PRE_STEPS.items()}
PRE_STEP_MEMORY_MB = {key: r.memory_mb for key, r in PRE_STEP_RESOURCES.items()}
PRE_STEP_MINUTES = {key: r.minutes for key, r in PRE_STEP_RESOURCES.items()}

# GPUs a job takes (Snakemake's `gpu` resource): one when the campaign runs on cuda and the method trains on a GPU.
ON_CUDA = config["resources"]["device"].startswith("cuda")
GPUS_PER_RUN = int(ON_CUDA and METHOD.uses_gpu)
GPUS_PER_PRE_STEP = int(ON_CUDA and PRE_STEP is not None and PRE_STEP.uses_gpu)
# resources.device: cuda where this machine sees no GPU: a local run is refused before any job; a dry run, or jobs
# sent to a cluster's GPU nodes, only get a warning (each job checks its own node before any work).
if (GPUS_PER_RUN or GPUS_PER_PRE_STEP) and not workflow.remote_exec:
    try:
        check_cuda_visible(config["resources"]["device"], option="resources.device:")
    except ValueError as exc:
        if workflow.local_exec and not workflow.output_settings.dryrun:
            raise WorkflowError(f"{exc} (jobs run on this machine)") from None
        print(f"warning: {exc}; fine when the jobs run on GPU nodes", file=sys.stderr)


# A campaign id names one grid: a folder holding another grid's outputs is refused before anything runs (or moved
# aside with replace_campaign: true); campaign.json records this grid's runs (tcbench.campaign.folder).
CAMPAIGN_RECORD = manifest(config, list(RUNS), campaign_code(RUNS.values()))
try:
    _said = check_campaign_folder(CAMPAIGN_DIR, CAMPAIGN_RECORD, config["replace_campaign"], workflow.output_settings.dryrun)
except CampaignFolderError as exc:
    raise WorkflowError(str(exc)) from None
if _said:
    print(_said)
CAMPAIGN_MANIFEST = str(CAMPAIGN_DIR / MANIFEST)


# Markers of every run of the campaign, in grid order (position + 1 = campaign_exp_idx).
MARKERS = [str(RESULTS / "runs" / key / "marker.json") for key in RUNS]


def marker_paths():
    return MARKERS


# A finished run is identified by its folder (its key), whatever Snakemake recorded about the job that made it:
# release Snakemake's records of finished markers, so neither --rerun-incomplete (a kill right after the marker was
# written) nor a changed job command or label (a code upgrade, another campaign's experiment name) retrains it.
release_finished_records(marker_paths() + [str(RESULTS / PRE_STEP_KIND / key / "marker.json") for key in PRE_STEPS])


# A finished run is reused only when it is complete, and never silently when other code made it
# (tcbench.campaign.reuse): incomplete runs are trained again; runs of other code are named with each reason, and
# trained again with rerun_other_code: true. Their markers are set aside before the DAG is built (a dry run only
# says so). Jobs under a cluster executor re-read this file: they skip it.
if not workflow.remote_exec:
    _finished = inspect_finished(
        [*zip(MARKERS, (spec.params for spec in RUNS.values())),
         *((str(RESULTS / PRE_STEP_KIND / key / "marker.json"), params) for key, params in PRE_STEPS.items())],
        DATASET)
    for _line in _finished.messages(config["rerun_other_code"], "add `--config rerun_other_code=true` to this command",
                                    dry_run=workflow.output_settings.dryrun):
        print(_line, file=sys.stderr)
    if not workflow.output_settings.dryrun:
        _finished.set_aside(config["rerun_other_code"], Path(CAMPAIGN_MANIFEST))


# The runs' hparams as the report steps will see them: the summary, analysis and figure names derive from them.
RUN_HPARAMS = [METHOD.hparams(spec.params) for spec in RUNS.values()]
# One runsinfo/summary pair per value of the hparam the original splits its report by (flowpic_dim, or max_n_pkts
# for packet-series runs).
SUMMARY_FILES = [str(CAMPAIGN_DIR / "campaign_summary" / name) for name in planned_summary_files(RUN_HPARAMS)]


def summary_files():
    return SUMMARY_FILES


def runsinfo_files():
    return [f for f in SUMMARY_FILES if f.endswith(".parquet")]


def summary_csv_files():
    return [f for f in SUMMARY_FILES if f.endswith(".csv")]


# The analysis (paired comparisons, critical-difference diagrams, the paper side by side) a campaign's report gets:
# what `tcbench campaign analyze` writes for these runs and the config's `report:` settings.
REPORT = config["report"]
ANALYSIS_FILES = [str(CAMPAIGN_DIR / name) for name in planned_analysis_files(
    RUN_HPARAMS, REPORT["compare_by"], REPORT["baseline"], REPORT["paper"])]
ANALYSIS_OPTIONS = " ".join(
    [f"--{name.replace('_', '-')} {shlex.quote(str(REPORT[name]))}" for name in ("compare_by", "baseline", "paper") if REPORT[name] is not None]
    + [f"--method {METHOD.name}", "--stand-in" if source_of(config).stand_in else "--real-data"])


def analysis_files(kind):
    """The planned analysis files of one kind: "csv" tables or "png" figures."""
    return [f for f in ANALYSIS_FILES if f.endswith(f".{kind}")]


def analysis_caption(path):
    return "../report/paper.rst" if Path(path).stem.startswith("paper") else "../report/comparison.rst"


def confusion_plot_files():
    """One averaged confusion matrix per test context and value of the report's split hparam (flowpic dim)."""
    contexts = METHOD.test_contexts(DATASET, method_settings(config))
    return [str(CAMPAIGN_DIR / "plots" / name) for name in confusion_file_names(contexts, *report_split(RUN_HPARAMS))]


def summary_table_files():
    """The summary CSVs rendered as HTML tables for `snakemake --report` (which shows HTML inline, not CSV)."""
    return [str(CAMPAIGN_DIR / "plots" / f"{Path(f).stem}.html") for f in summary_csv_files()]


def print_campaign_summary():
    """Print the summary tables at the end of a successful `snakemake` invocation."""
    from tcbench.reporting.console import print_summary_files

    existing = [Path(p) for p in summary_csv_files() if Path(p).exists()]
    if existing:
        print(f"campaign {config['campaign_id']}: {len(RUNS)} runs, summaries in {CAMPAIGN_DIR / 'campaign_summary'}")
        print_summary_files(existing, precision=config["report"]["precision"])
    page = CAMPAIGN_DIR / "report.html"
    if page.exists():
        print(f"campaign report page (opens from disk): {page}")
