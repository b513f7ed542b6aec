# tcbench campaign workflow: dataset -> flowpics -> one training job per grid point -> merged AIM repo -> summaries
# -> analysis (paired comparisons, the paper side by side) -> the campaign's report page.
# Plan with `snakemake -n`, run with `snakemake --cores N` (or `--profile profiles/local`).
# Wiring only: the logic lives in the tcbench package and workflow/rules/common.smk.

from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import min_version

from tcbench.campaign.config import ConfigError, prepare_config, reparse_command_line

min_version("9.0")


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
    prepare_config(config, Path(workflow.basedir) / "workflow" / "schemas" / "config.schema.yaml")
except ConfigError as exc:
    raise WorkflowError(str(exc)) from None


# The landing page of `snakemake --report`: the campaign in words (id, method, dataset, grid, what each output holds).
report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/report.smk"


# Cheap steps that only read the runs' results stay on the submitting node under a cluster executor.
localrules:
    all,
    campaign_manifest,
    aim_template,
    merge_campaign,
    campaign_summary,
    campaign_plots,
    campaign_analysis,
    campaign_report,


rule all:
    input:
        merged=MERGE_REPORT,
        summaries=summary_files(),
        plots=rules.campaign_plots.output,
        analysis=ANALYSIS_FILES,
        report_page=rules.campaign_report.output,
    default_target: True


onsuccess:
    print_campaign_summary()
