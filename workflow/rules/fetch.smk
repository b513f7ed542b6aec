# Fetch first: the campaign's dataset is imported, not there yet, and dataset.fetch is true. Download its raw files
# (a local rule: never on a compute node), import them, then run this same snakemake command again, which plans the
# campaign on the imported data (a run's key holds the data's sha256: no training job can be named before).
# Wiring only: tcbench.campaign.fetch_first and `tcbench datasets fetch / import`.

import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from tcbench.campaign.config import ConfigError, check_paths
from tcbench.campaign.fetch_first import announcement, fetch_options, rerun_command
from tcbench.campaign.jobs import use_running_python
from tcbench.data.fetch.plan import raw_paths
from tcbench.data.registry import get_dataset
from tcbench.data.sources import dataset_paths

use_running_python()

FETCH_DATA = dataset_paths(config)
FETCH_NAME = config["dataset"]["name"]
RAW_DIR = FETCH_DATA.root / "raw"
RAW_FILES = [str(p) for p in raw_paths(FETCH_NAME, RAW_DIR)]
FETCH_LOGS = Path(config["results_dir"]) / "logs" / "datasets" / FETCH_DATA.root.name
# What the import writes: the parquet, its identity, and each filtered variant with its index splits.
IMPORTED = {"parquet": str(FETCH_DATA.root / f"{FETCH_NAME}.parquet"), "info": str(FETCH_DATA.root / "dataset.json")}
for _min_pkts in get_dataset(FETCH_NAME).variants:
    _variant = type(FETCH_DATA)(FETCH_DATA.root, FETCH_NAME, _min_pkts)
    IMPORTED[f"minpkts{_min_pkts}"] = str(_variant.parquet)
    IMPORTED[f"minpkts{_min_pkts}_splits"] = str(_variant.index_splits)

if not (workflow.remote_exec or workflow.subprocess_exec):
    try:
        check_paths(config, {"datasets_dir": True})  # the raw files and the import go there
        RERUN = rerun_command(start=_START)
    except (ConfigError, ValueError) as exc:
        raise WorkflowError(str(exc)) from None
    print(announcement(config, FETCH_DATA.root), file=sys.stderr)
else:
    RERUN = ""


localrules:
    fetch_raw,
    campaign_on_fetched_data,


rule fetch_raw:
    output:
        RAW_FILES,
    params:
        name=FETCH_NAME,
        raw_dir=lambda wildcards, output: os.path.dirname(output[0]),  # <datasets_dir>/<name>/raw
        datasets_dir=lambda wildcards, output: os.path.dirname(os.path.dirname(os.path.dirname(output[0]))),
        options=fetch_options(config),
    conda:
        "../envs/tcbench.yaml"
    log:
        str(FETCH_LOGS / "fetch.log"),
    shell:
        # The one-line error (unreachable file, where to put a copy, the --raw command) also on the terminal.
        "tcbench datasets fetch {params.name} --raw-dir {params.raw_dir:q} --datasets-dir {params.datasets_dir:q} "
        "{params.options} --no-progress > {log} 2>&1 || {{ tail -n 1 {log} >&2; exit 1; }}"


rule import_fetched:
    input:
        RAW_FILES,
    output:
        **IMPORTED,
    params:
        name=FETCH_NAME,
        out=lambda wildcards, output: os.path.dirname(output.info),
    conda:
        "../envs/tcbench.yaml"
    log:
        str(FETCH_LOGS / "import.log"),
    benchmark:
        str(FETCH_LOGS / "import.benchmark.tsv")
    shell:
        "tcbench datasets import {params.name} $(printf -- '--raw %s ' {input:q}) --output-dir {params.out:q} "
        "--no-progress > {log} 2>&1 || {{ tail -n 1 {log} >&2; exit 1; }}"


# The campaign itself: the same snakemake command, now that the data exists (its output on the terminal and the log).
rule campaign_on_fetched_data:
    input:
        IMPORTED["info"],
    output:
        touch(str(FETCH_LOGS / "campaign.done")),
    params:
        command=RERUN,
    conda:
        "../envs/tcbench.yaml"
    log:
        str(FETCH_LOGS / "campaign.log"),
    shell:
        "( {params.command} ) 2>&1 | tee {log}"
