# tcbench campaign workflow: dataset -> flowpics -> one training job per grid point -> merged AIM repo -> summaries
# -> analysis (paired comparisons, the paper side by side) -> the campaign's report page.
# Plan with `snakemake -n`, run with `snakemake --cores N` (or `--profile profiles/local`).
# Wiring only: the logic lives in the tcbench package and workflow/rules/common.smk.

# The names Snakemake gives this file; the names it adds go once the rules are defined (the end of this file).
_SNAKEMAKE_NAMES = frozenset(globals())

import logging
import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from tcbench.campaign.config import ConfigError, check_paths, reparse_command_line
from tcbench.campaign.folder import (PROJECT_ENV, Project, ProjectError, check_project, choose_project,
                                     config_project, relocate_snakemake_log)
from tcbench.campaign.paper import is_paper_config, prepare_any
from tcbench.runs.faults import CampaignStorageGuard, footprint_warning

min_version("9.0")


# The project folder: relative paths of the config (results_dir, datasets_dir, .py plugins) resolve against it, as
# for every `tcbench campaign` command. It is the folder given with -d / --directory; else the folder Snakemake starts
# in when that is a tcbench project (it holds the Snakefile, the config, or results or datasets of this config), or
# when `--config start_project=true` asks for one there; else the project of the --configfile (the folder above
# its config/ folder, or the folder holding it); else the project holding this Snakefile. So `snakemake -s
# proj/Snakefile` from another folder plans (and writes .snakemake/) in proj, not a second campaign there.
_START = Path.cwd()
_CONFIG_FILES = list(workflow.overwrite_configfiles) or [_START / "config" / "config.yaml"]
# Jobs that Snakemake spawns (`run:` rules, cluster jobs) re-read this file from the folder Snakemake started in: they
# take the project chosen by the main process (TCBENCH_PROJECT in their environment), never a choice of their own.
_SPAWNED = workflow.remote_exec or workflow.subprocess_exec
if _SPAWNED and os.environ.get(PROJECT_ENV):
    _CHOSEN = Path(os.environ[PROJECT_ENV])
    PROJECT = Project(_CHOSEN, moved_from=None if _CHOSEN == _START.absolute() else _START)
else:
    PROJECT = choose_project(_START, workflow.overwrite_workdir is not None, Path(workflow.basedir), _CONFIG_FILES, config)
os.environ[PROJECT_ENV] = str(PROJECT.folder)
if PROJECT.moved_from is not None:

    workdir: str(PROJECT.folder)

    if not _SPAWNED:
        relocate_snakemake_log(_START, PROJECT.folder, workflow.logger_manager.logfile_handlers)
        print(PROJECT.note(), file=sys.stderr)


# `--configfile my.yaml` replaces the default config rather than being merged into it: a campaign file must not
# inherit grid axes or settings of the quickstart campaign it never mentions (omitted keys take schema defaults).
# An empty --configfile stays empty (and fails validation) rather than silently running the quickstart campaign.
# `--config key=value` alone overrides keys of the default config (Snakemake re-applies it after loading the file).
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


# Before anything is planned: schema, defaults, relations between keys (tcbench.campaign.config.prepare_config). A bad
# config stops here with one message naming the key and the valid values; as a WorkflowError, Snakemake prints just
# that message, not a traceback into tcbench.
try:
    reparse_command_line(config, workflow.config_settings.config)
    check_paths(config)  # a folder that is a file, or a read-only results_dir: one line per path, before anything
    # One campaign, or a paper config joining several (tcbench.campaign.paper): PLAN.campaigns, each prepared alike.
    # Its campaign files are looked up in the project folder, then in the paper config's project and the Snakefile's.
    PLAN = prepare_any(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml",
                       [Path.cwd(), *([config_project(_CONFIG_FILES)] if config_project(_CONFIG_FILES) else []),
                        Path(workflow.basedir)])
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None


# A new results tree or dataset only in a project, an empty folder, or where start_project asks for one.
if not _SPAWNED:
    try:
        check_project(Path.cwd(), _CONFIG_FILES, config)
    except ProjectError as exc:
        raise WorkflowError(str(exc)) from None


# The landing page of `snakemake --report`: the campaign in words (id, method, dataset, grid, what each output holds).
report: "workflow/report/workflow.rst"


# One campaign with dataset.fetch: true and its imported dataset not there yet: fetch and import it, then run this
# command again on it (workflow/rules/fetch.smk); otherwise the campaigns themselves (a paper config skips a
# campaign whose data is missing: PLAN.skipped).
from tcbench.data.sources import dataset_paths as _dataset_paths, source_of as _source_of

FETCH_FIRST = not is_paper_config(config) and _source_of(config).fetch_first(config, _dataset_paths(config))
if FETCH_FIRST:

    include: "workflow/rules/fetch.smk"

else:

    include: "workflow/rules/common.smk"
    include: "workflow/rules/data.smk"
    include: "workflow/rules/train.smk"
    include: "workflow/rules/report.smk"

    # A paper config also gets the paper page (results/paper/report.html): every published table and its findings.
    if is_paper_config(config):

        include: "workflow/rules/paper.smk"


# Storage, before the first job (in Snakemake's own process only: cluster jobs and spawned jobs re-read this file).
# The dataset folder must be writable when the plan writes there; a campaign that will not fit in results_dir's free
# space is warned about; while jobs run, the storage guard ends the campaign within seconds of its first failed write
# and names the cause and the folder on the terminal (a job's own log is on the full disk).
if not _SPAWNED and not FETCH_FIRST:
    for _skipped in PLAN.skipped:
        print(f"skipped campaign {_skipped.campaign_id} ({_skipped.file}): {_skipped.reason}", file=sys.stderr)
    # Cost before compute: a dry run prints the distinct runs per table and in total and the projected wall time for
    # its --cores (tcbench.campaign.cost).
    if workflow.output_settings.dryrun:
        from tcbench.campaign.cost import project

        _projection = project(PLAN.campaigns, PLAN.tables, int(workflow.resource_settings.cores or os.cpu_count() or 1),
                              planned={c.id: {k: spec.params for k, spec in c.runs.items()} for c in CAMPAIGNS})
        print("\n".join(_projection.lines()), file=sys.stderr)
    _flowpics = {inputs["flowpics"] for inputs in (*RUN_INPUTS.values(), *PRE_STEP_INPUTS.values()) if "flowpics" in inputs}
    _dataset_files = {*(str(c.data.parquet) for c in DATASETS.values()), *SPLITS, *_flowpics}
    try:
        check_paths(config, {"datasets_dir": not all(os.path.exists(f) for f in _dataset_files)})
    except ConfigError as exc:
        raise WorkflowError(str(exc)) from None
    _run_dirs = [RESULTS / "runs" / key for key in RUNS] + [RESULTS / PRE_STEP_KIND / key for key in PRE_STEPS]
    _to_train = sum(not (d / "marker.json").exists() for d in _run_dirs)
    _warning = footprint_warning(RESULTS, _run_dirs, _to_train,
                                 merge=bool(_to_train) or not all(c.merge_report.exists() for c in CAMPAIGNS))
    if _warning:
        print(_warning, file=sys.stderr)
    if not workflow.output_settings.dryrun:
        STORAGE_GUARD = CampaignStorageGuard({"results_dir": RESULTS,
                                              **({"datasets_dir": Path(next(iter(DATASETS)))} if len(DATASETS) == 1 else
                                                 {f"datasets_dir ({Path(r).name})": Path(r) for r in DATASETS}),
                                              "the project's .snakemake": Path(".snakemake")})
        logging.getLogger("snakemake.logging").addHandler(STORAGE_GUARD.start())


if FETCH_FIRST:

    localrules:
        all,


    # The fetch, the import, then the campaign on the imported data (workflow/rules/fetch.smk).
    rule all:
        input:
            rules.campaign_on_fetched_data.output,
        default_target: True

else:

    # Cheap steps that only read the runs' results stay on the submitting node under a cluster executor (each
    # campaign's report steps say so themselves: `localrule: True`).
    localrules:
        all,


    rule all:
        input:
            merged=[str(c.merge_report) for c in CAMPAIGNS],
            summaries=[f for c in CAMPAIGNS for f in c.summary_files],
            plots=[f for c in CAMPAIGNS for f in (c.accuracy_plot, *c.confusion_plots, *c.summary_tables)],
            analysis=[f for c in CAMPAIGNS for f in c.analysis_files],
            report_page=[c.report_page for c in CAMPAIGNS],
            paper_page=PAPER_OUTPUTS if is_paper_config(config) else [],
        default_target: True


    onsuccess:
        print_campaign_summary()


# Snakemake copies every global name of this file into the namespace of each string it formats for a job (its shell
# command: three times per job in a dry run; snakemake/jobs.py format_wildcards), so each name costs time per job: the
# ~230 names of the planning (imports, helpers, loop variables, a function per rule) are dropped here (100 names
# cost 0.3-0.9 s in a 2 186-job paper dry run on the 2-core VM). The input, params and resource functions of the jobs
# hold their tables in their closures (job_lookup in workflow/rules/common.smk); only the names that onsuccess reads
# stay, with the options that the train command adds (Snakemake evaluates a rule's shell expression again when the
# job runs). A new job-time function or shell expression that reads a global of this workflow must add that name
# here (else: NameError when the job is planned or run).
_JOB_TIME_NAMES = {"CAMPAIGNS", "print_campaign_summary", "JOB_OPTIONS"}
for _name in [n for n in globals() if n not in _SNAKEMAKE_NAMES and n not in _JOB_TIME_NAMES]:
    del globals()[_name]
del _name
