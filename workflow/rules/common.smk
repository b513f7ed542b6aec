# Helpers shared by the rules: the run table derived from the config (the same grid the CLI builds), paths, and
# accessors that turn a run_key wildcard into what that run needs. Everything method-specific comes from the
# method's declarations (tcbench.methods): inputs, pre-step, GPU use, test contexts.
#
# A config is one campaign, or a paper config (`campaigns:`, tcbench.campaign.paper) that joins several: PLAN holds
# every campaign prepared like a single one. Runs and pre-steps are keyed by their content key, so a run that several
# campaigns select is one job; each campaign keeps its own outputs under results/campaigns/<campaign_id>/.

import inspect
import json
import os
import shlex
import sys
from pathlib import Path
from types import SimpleNamespace

from snakemake.exceptions import WorkflowError

try:
    from snakemake.common import FUNC_OVERWRITE_PARAMS_ATTR as _PARAMS_ATTR
except ImportError:  # a Snakemake without it: per_job (below) only sets an attribute nothing reads
    _PARAMS_ATTR = "_overwrite_params"

from tcbench.campaign.folder import (MANIFEST, REPORT_PAGE, CampaignFolderError, campaign_folder, check_campaign_folder,
                                     lasting_settings, manifest)
from tcbench.campaign.grid import campaign_code, campaign_method, campaign_runs, method_settings, pre_steps
from tcbench.campaign.jobs import use_running_python
from tcbench.campaign.reuse import inspect_finished
from tcbench.campaign.status import release_finished_records
from tcbench.data.sources import dataset_paths, source_of
from tcbench.data.registry import get_dataset
from tcbench.campaign.report_plan import (confusion_file_names, planned_analysis_files, planned_summary_files,
                                          report_split)
from tcbench.features.flowpic import VALID_DIMS
from tcbench.methods.registry import get_method
from tcbench.runs.gpu import check_cuda_visible
from tcbench.runs.identity import canonical_json, run_key
from tcbench.tracking.aim_repo import default_template_path

# Jobs run the tcbench of the Python that runs Snakemake, whatever PATH holds (tcbench.campaign.jobs).
use_running_python()

# The config was validated, completed and checked by the Snakefile (PLAN, tcbench.campaign.paper) before this file
# is included. What every campaign shares (results and datasets folders, device, threads) is the first one's: a
# paper config sets it for all of them.
SHARED = PLAN.campaigns[0]
RESULTS = Path(SHARED["results_dir"])
LOGS = RESULTS / "logs"
AIM_TEMPLATE = default_template_path(RESULTS)
DEVICE = SHARED["resources"]["device"]
THREADS = SHARED["resources"]["threads_per_run"]
ON_CUDA = DEVICE.startswith("cuda")
# The AIM experiment is a campaign label, applied when the campaign's repo is merged (default: each run's own).
PRE_STEP_KIND = "pretrain"


def _rule_suffix(name):
    """A part of a step name from a campaign id or dataset folder (names are identifiers)."""
    return "".join(c if c.isalnum() else "_" for c in name)


def _data_inputs(method, params, data):
    """The flowpic cache a run (or pre-step) reads, when its method says it reads one."""
    cache = method.flowpic_cache(params)
    return {"flowpics": str(data.flowpics(*cache))} if cache is not None else {}


def plan_campaign(cfg, index):
    """Everything the rules need of one campaign: its runs, pre-steps, dataset files and output files."""
    c = SimpleNamespace(config=cfg, id=cfg["campaign_id"])
    c.rule = "" if len(PLAN.campaigns) == 1 else f"_{_rule_suffix(c.id)}"
    c.sub = None if len(PLAN.campaigns) == 1 else c.id  # the campaign's subcategory in `snakemake --report`
    c.method = campaign_method(cfg)
    c.runs = {spec.run_key: spec for spec in campaign_runs(cfg)}
    c.pre_steps = pre_steps(list(c.runs.values()))
    c.data = dataset_paths(cfg)
    c.dataset = get_dataset(cfg["dataset"]["name"])
    c.dir = campaign_folder(RESULTS, c.id)
    c.logs = LOGS / "campaigns" / c.id
    c.merge_report = c.dir / "aim_merge.json"
    c.splits_file = str(c.data.splits_file(cfg["splits"]["n_splits"], cfg["splits"]["samples_per_class"]))
    c.experiment_option = f"--experiment {shlex.quote(cfg['experiment'])}" if cfg.get("experiment") else ""
    c.record = manifest(cfg, list(c.runs), campaign_code(c.runs.values()))
    c.manifest = str(c.dir / MANIFEST)
    # Markers of every run of the campaign, in grid order (position + 1 = campaign_exp_idx).
    c.markers = [str(RESULTS / "runs" / key / "marker.json") for key in c.runs]
    # The runs' hparams as the report steps will see them: the summary, analysis and figure names derive from them.
    c.hparams = [c.method.hparams(spec.params) for spec in c.runs.values()]
    # One runsinfo/summary pair per value of the hparam the original splits its report by (flowpic_dim, or
    # max_n_pkts for packet-series runs).
    c.summary_files = [str(c.dir / "campaign_summary" / name) for name in planned_summary_files(c.hparams)]
    c.runsinfo = [f for f in c.summary_files if f.endswith(".parquet")]
    c.summary_csv = [f for f in c.summary_files if f.endswith(".csv")]
    settings = cfg["report"]
    c.analysis_files = [str(c.dir / name) for name in planned_analysis_files(
        c.hparams, settings["compare_by"], settings["baseline"], settings["paper"])]
    c.analysis_options = " ".join(
        [f"--{name.replace('_', '-')} {shlex.quote(str(settings[name]))}" for name in ("compare_by", "baseline", "paper")
         if settings[name] is not None]
        + [f"--method {c.method.name}", "--stand-in" if source_of(cfg).stand_in else "--real-data"])
    contexts = c.method.test_contexts(c.dataset, method_settings(cfg))
    c.confusion_plots = [str(c.dir / "plots" / name) for name in confusion_file_names(contexts, *report_split(c.hparams))]
    c.summary_tables = [str(c.dir / "plots" / f"{Path(f).stem}.html") for f in c.summary_csv]
    c.accuracy_plot = str(c.dir / "plots" / "accuracy.png")
    c.report_page = str(c.dir / REPORT_PAGE)
    return c


CAMPAIGNS = [plan_campaign(cfg, i) for i, cfg in enumerate(PLAN.campaigns)]


wildcard_constraints:
    run_key="[0-9a-f]{16}",
    pretrain_key="[0-9a-f]{16}",
    dim="|".join(str(dim) for dim in VALID_DIMS),


# Every distinct run and pre-step of the plan (a run several campaigns select is one job), with what its job reads
# and asks a scheduler for. Computed once: planning 10 000 runs would otherwise call a function 10 000 times per rule.
# Each job gets its run's parameters once, as the canonical JSON the grid built (`tcbench run job`).
RUNS = {}
PRE_STEPS = {}
RUN_INPUTS = {}
PRE_STEP_INPUTS = {}
RUN_GPUS = {}
PRE_STEP_GPUS = {}
RUN_ARGS = {}
PRE_STEP_ARGS = {}
for _c in CAMPAIGNS:
    # The splits file stands for the whole dataset: the step that draws it reads the parquet and its info (one job
    # writes both), and an imported dataset's splits come with its import. Each input is a lookup and a stat per job
    # at planning, so a run lists only what is its own: splits, flowpic cache, pre-step.
    _dataset_inputs = {"splits": _c.splits_file}
    _dataset_option = f" --dataset-dir {shlex.quote(str(_c.data.root))}"
    for _key, _spec in _c.runs.items():
        if _key in RUNS:
            continue
        RUNS[_key] = _spec
        # The job's arguments: the run's canonical parameters (exactly what its key is the hash of) and its dataset.
        RUN_ARGS[_key] = shlex.quote(canonical_json(_spec.params)) + _dataset_option
        _inputs = {**_dataset_inputs, **_data_inputs(_c.method, _spec.params, _c.data)}
        _pre = _c.method.pre_step_params(_spec.params)
        if _pre is not None:
            _inputs["pre_step"] = str(RESULTS / PRE_STEP_KIND / run_key(_pre) / "marker.json")
        RUN_INPUTS[_key] = _inputs
        # GPUs a job takes (Snakemake's `gpu` resource): one on cuda when the method trains on a GPU.
        RUN_GPUS[_key] = int(ON_CUDA and _c.method.uses_gpu)
    _step = _c.method.pre_step() if _c.method.pre_step else None
    for _key, _params in _c.pre_steps.items():
        if _key in PRE_STEPS:
            continue
        PRE_STEPS[_key] = _params
        PRE_STEP_ARGS[_key] = shlex.quote(canonical_json(_params)) + _dataset_option
        PRE_STEP_INPUTS[_key] = {**_dataset_inputs, **_data_inputs(_step, _params, _c.data)}
        PRE_STEP_GPUS[_key] = int(ON_CUDA and _step.uses_gpu)


def per_job(func):
    """A function of a job's wildcards (input, params, resources), its parameters read once: Snakemake otherwise
    calls inspect.signature on it two or three times per job it plans (thousands of jobs in a paper plan). The
    attribute is Snakemake's own (snakemake.common.overwrite_function_params, for its helpers); where a Snakemake
    ignores it, nothing changes but the time."""
    setattr(func, _PARAMS_ATTR, inspect.signature(func).parameters)
    return func


def job_lookup(table, wildcard, per_attempt=False):
    """The function of a job's wildcards that Snakemake calls for an input, params or resource: the entry of
    ``table`` (computed once per run or pre-step, above) under the job's ``wildcard``; a resource asked per attempt
    (memory, time limit) grows with it, so `--retries` gives a failed job more (attempt 2, 3, ...). The table lives
    in the function's closure, so the Snakefile can drop the planning's global names."""
    if per_attempt:
        def lookup(wildcards, attempt):
            return table[getattr(wildcards, wildcard)] * attempt
    else:
        def lookup(wildcards):
            return table[getattr(wildcards, wildcard)]
    return per_job(lookup)


def job_value(table, wildcard):
    """One value for every job (the usual case) as that value (a function costs Snakemake a call per job), else
    :func:`job_lookup`."""
    values = set(table.values())
    return next(iter(values)) if len(values) == 1 else job_lookup(table, wildcard)


# What each job reads, is handed and asks a scheduler for (memory and time limit as its method asks for the run's
# parameters).
RUN_RESOURCES = {key: get_method(spec.params["method"]).resources(spec.params) for key, spec in RUNS.items()}
PRE_STEP_RESOURCES = {key: get_method(params["method"]).resources(params) for key, params in PRE_STEPS.items()}
run_inputs = job_lookup(RUN_INPUTS, "run_key")
pre_step_inputs = job_lookup(PRE_STEP_INPUTS, "pretrain_key")
run_args = job_lookup(RUN_ARGS, "run_key")
pre_step_args = job_lookup(PRE_STEP_ARGS, "pretrain_key")
# A job's GPUs, as Snakemake's `gpu` resource, only where a job of the plan takes one: a resource left out costs
# nothing per job, and counts as 0 for a scheduler.
RUN_GPU = {"gpu": job_value(RUN_GPUS, "run_key")} if any(RUN_GPUS.values()) else {}
PRE_STEP_GPU = {"gpu": job_value(PRE_STEP_GPUS, "pretrain_key")} if any(PRE_STEP_GPUS.values()) else {}
# What every job of the plan shares, written into the command once rather than formatted per job: the AIM template
# repo (the first run that needs it creates it, tcbench.tracking.aim_repo.ensure_template_repo) and the device.
JOB_OPTIONS = (f"--aim-template {shlex.quote(str(AIM_TEMPLATE))} --device {shlex.quote(DEVICE)}"
               .replace("{", "{{").replace("}", "}}"))
run_memory_mb = job_lookup({key: r.memory_mb for key, r in RUN_RESOURCES.items()}, "run_key", per_attempt=True)
run_minutes = job_lookup({key: r.minutes for key, r in RUN_RESOURCES.items()}, "run_key", per_attempt=True)
pre_step_memory_mb = job_lookup({key: r.memory_mb for key, r in PRE_STEP_RESOURCES.items()}, "pretrain_key",
                                per_attempt=True)
pre_step_minutes = job_lookup({key: r.minutes for key, r in PRE_STEP_RESOURCES.items()}, "pretrain_key",
                              per_attempt=True)


# resources.device: cuda where this machine sees no GPU: a local run is refused before any job; a dry run, or jobs
# sent to a cluster's GPU nodes, only get a warning (each job checks its own node before any work).
if (any(RUN_GPUS.values()) or any(PRE_STEP_GPUS.values())) and not workflow.remote_exec:
    try:
        check_cuda_visible(DEVICE, option="resources.device:")
    except ValueError as exc:
        if workflow.local_exec and not workflow.output_settings.dryrun:
            raise WorkflowError(f"{exc} (jobs run on this machine)") from None
        print(f"warning: {exc}; fine when the jobs run on GPU nodes", file=sys.stderr)


# The datasets the plan reads, each prepared once: (folder -> a campaign's paths and config).
DATASETS = {}
SPLITS = {}
for _c in CAMPAIGNS:
    DATASETS.setdefault(str(_c.data.root), _c)
    if _c.dataset.draws_train_splits:
        SPLITS.setdefault(_c.splits_file, _c)


def _data_rule(base, folder):
    """The name of a dataset step (the plain one when the plan reads one dataset)."""
    return base if len(DATASETS) == 1 else f"{base}_{_rule_suffix(Path(folder).name)}"


def _splits_rule(splits_file):
    """The name of the step that draws a splits file (the plain one when the plan draws one set)."""
    path = Path(splits_file)
    return "train_splits" if len(SPLITS) == 1 else f"train_splits_{_rule_suffix(f'{path.parent.parent.name}_{path.stem}')}"


# A campaign id names one grid: a folder holding another grid's outputs is refused before anything runs (or moved
# aside with replace_campaign: true); campaign.json records this grid's runs (tcbench.campaign.folder).
for _c in CAMPAIGNS:
    try:
        _said = check_campaign_folder(_c.dir, _c.record, _c.config["replace_campaign"], workflow.output_settings.dryrun)
    except CampaignFolderError as exc:
        raise WorkflowError(str(exc)) from None
    if _said:
        print(_said)


# A finished run is identified by its folder (its key), whatever Snakemake recorded about the job that made it:
# release Snakemake's records of finished markers, runs' and pre-steps' (each checked as its method writes it), so
# neither --rerun-incomplete (a kill right after the marker was written) nor a changed job command or label (a code
# upgrade, another campaign's experiment name) retrains it.
release_finished_records({str(RESULTS / kind / key / "marker.json"): get_method(params["method"]).tracked
                          for kind, table in (("runs", {k: spec.params for k, spec in RUNS.items()}),
                                              (PRE_STEP_KIND, PRE_STEPS))
                          for key, params in table.items()})


# A finished run is reused only when it is complete, and never silently when other code made it
# (tcbench.campaign.reuse): incomplete runs are trained again; runs of other code are named with each reason, and
# trained again with rerun_other_code: true. Their markers are set aside before the DAG is built (a dry run only
# says so). Jobs under a cluster executor re-read this file: they skip it.
if not workflow.remote_exec:
    _by_dataset = {}  # dataset name -> (its definition, marker -> params, the manifests of its campaigns)
    for _c in CAMPAIGNS:
        _group = _by_dataset.setdefault(_c.dataset.name, (_c.dataset, {}, []))
        _group[1].update({str(RESULTS / "runs" / key / "marker.json"): spec.params for key, spec in _c.runs.items()})
        _group[1].update({str(RESULTS / PRE_STEP_KIND / key / "marker.json"): p for key, p in _c.pre_steps.items()})
        _group[2].append(Path(_c.manifest))
    for _dataset, _group, _manifests in _by_dataset.values():
        _finished = inspect_finished(list(_group.items()), _dataset)
        for _line in _finished.messages(SHARED["rerun_other_code"], "add `--config rerun_other_code=true` to this command",
                                        dry_run=workflow.output_settings.dryrun):
            print(_line, file=sys.stderr)
        if not workflow.output_settings.dryrun:
            if _finished.set_aside(SHARED["rerun_other_code"], _manifests[0]):
                for _other in _manifests[1:]:
                    if _other.exists():
                        _other.touch()


def analysis_caption(path):
    return "../report/paper.rst" if Path(path).stem.startswith("paper") else "../report/comparison.rst"


def print_campaign_summary():
    """Print the summary tables at the end of a successful `snakemake` invocation."""
    from tcbench.reporting.console import print_summary_files

    for c in CAMPAIGNS:
        existing = [Path(p) for p in c.summary_csv if Path(p).exists()]
        if existing:
            print(f"campaign {c.id}: {len(c.runs)} runs, summaries in {c.dir / 'campaign_summary'}")
            print_summary_files(existing, precision=c.config["report"]["precision"])
        page = c.dir / "report.html"
        if page.exists():
            print(f"campaign report page (opens from disk): {page}")
