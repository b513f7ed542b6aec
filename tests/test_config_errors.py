"""A bad campaign config stops before any job with one message naming the key and what would be valid.

Most cases call `complete_config` (the same `prepare_config` the Snakefile runs) and take milliseconds; a handful
run the real Snakemake, planned and not, and the CLI commands, to show the message reaches the user as is and
nothing is built.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_workflow import TINY_CONFIG, snakemake

from tcbench.campaign.compose import complete_config
from tcbench.campaign.config import ConfigError

DELETE = object()  # a patch value: remove the key
SIMCLR_GRID = {"split_index": [0], "contrastive_learning_seed": [1], "finetune_seed": [1], "flowpic_dim": [32],
               "projection_layer_dim": [30]}
XGBOOST_GRID = {"split_index": [0], "seed": [1], "max_n_pkts": [10]}
AUGMENTATIONS = "['noaug', 'rotate', 'horizontalflip', 'colorjitter', 'packetloss', 'changertt', 'timeshift']"
DATASETS = "['ucdavis-icdm19', 'mirage19', 'mirage22', 'utmobilenet21']"
NO_DATASETS_DIR = "/nonexistent/tcbench-datasets"


def patched(patch: dict[str, Any]) -> dict[str, Any]:
    """TINY_CONFIG with each dotted key of ``patch`` set (or removed, for DELETE); missing sections are created."""
    config = copy.deepcopy(TINY_CONFIG)
    for dotted, value in patch.items():
        *parents, last = dotted.split(".")
        node = config
        for key in parents:
            node = node.setdefault(key, {})
        if value is DELETE:
            del node[last]
        else:
            node[last] = value
    return config


def problems(message: str) -> list[str]:
    """The problem lines of a ConfigError: after the schema header, or the one line of a check between keys."""
    first, *rest = message.splitlines()
    if first.startswith("invalid configuration (") and first.endswith(":"):
        return [line.strip() for line in rest]
    return [message.removeprefix("invalid configuration: ")]


def config_error(config: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        complete_config(config)
    return str(info.value)


# (patch, key the message starts with, text naming what is valid): one bad key each.
CASES = {
    # unknown names
    "unknown augmentation": ({"grid.aug_name": ["mixup"]}, "grid.aug_name[0]", f"'mixup' is not valid; valid values: {AUGMENTATIONS}"),
    "unsupported flowpic dim": ({"grid.flowpic_dim": [48]}, "grid.flowpic_dim[0]", "48 is not valid; valid values: [32, 64, 1500]"),
    "unknown dataset": ({"dataset.name": "mirage2019"}, "dataset.name", f"'mirage2019' is not valid; valid values: {DATASETS}"),
    "unknown dataset source": ({"dataset.source": "download"}, "dataset.source", "valid values: ['synthetic', 'imported']"),
    "unknown method": ({"method": "cnn"}, "method", "'cnn' is not valid; valid values: ['monolithic', 'xgboost', 'simclr']"),
    "invalid device": ({"resources.device": "gpu"}, "resources.device",
                       "valid values: strings matching ^(cpu|cuda(:[0-9]+)?)$ (torch device of the training jobs: cpu, cuda or cuda:N.)"),
    "unknown report metric": ({"report.metrics": ["auc"]}, "report.metrics[0]",
                              "'auc' is not valid; valid values: ['acc', 'f1', 'precision', 'recall', 'loss']"),
    "unknown xgboost input": ({"xgboost.flow_representation": "raw"}, "xgboost.flow_representation",
                              "valid values: ['pktseries', 'flowpic']"),
    "campaign_id with a space": ({"campaign_id": "my campaign"}, "campaign_id",
                                 "'my campaign' is not valid; valid values: strings matching ^[A-Za-z0-9][A-Za-z0-9._-]*$"),
    # out of range
    "negative seed": ({"grid.seed": [-3]}, "grid.seed[0]", "-3 is out of range; valid values: integers >= 0"),
    "negative synthetic seed": ({"dataset.synthetic.seed": -1}, "dataset.synthetic.seed", "valid values: integers >= 0"),
    "split index below -1": ({"grid.split_index": [-2]}, "grid.split_index[0]",
                             "-2 is out of range; valid values: integers >= -1 (Train split (0..n_splits-1), or -1"),
    "zero epochs": ({"training.epochs": 0}, "training.epochs", "0 is out of range; valid values: integers >= 1"),
    "negative batch size": ({"training.batch_size": -1}, "training.batch_size", "valid values: integers >= 1"),
    "zero learning rate": ({"training.learning_rate": 0}, "training.learning_rate", "0 is out of range; valid values: numbers > 0"),
    "zero threads per run": ({"resources.threads_per_run": 0}, "resources.threads_per_run", "valid values: integers >= 1"),
    "zero n_splits": ({"splits.n_splits": 0}, "splits.n_splits", "valid values: integers >= 1"),
    "synthetic scale above 1": ({"dataset.synthetic.scale": 2}, "dataset.synthetic.scale", "valid values: numbers > 0 and <= 1"),
    "train/val ratio of 1": ({"training.train_val_split_ratio": 1.0}, "training.train_val_split_ratio",
                             "valid values: numbers > 0 and < 1"),
    # wrong types
    "string for an integer": ({"training.epochs": "50"}, "training.epochs", "'50' is a string; valid values: integers >= 1"),
    "float for an integer": ({"training.epochs": 2.5}, "training.epochs", "2.5 is a number; valid values: integers >= 1"),
    "list for a scalar": ({"training.epochs": [3]}, "training.epochs", "[3] is a list; valid values: integers >= 1"),
    "YAML 1e-3 is a string": ({"training.learning_rate": "1e-3"}, "training.learning_rate", "'1e-3' is a string; valid values: numbers > 0"),
    "boolean for an integer": ({"grid.seed": [True]}, "grid.seed[0]", "True is a boolean; valid values: integers >= 0"),
    "string for a boolean": ({"training.with_dropout": "no"}, "training.with_dropout", "'no' is a string; valid values: true or false"),
    "string for a dim": ({"grid.flowpic_dim": ["32"]}, "grid.flowpic_dim[0]", "'32' is a string; valid values: [32, 64, 1500]"),
    "scalar for a grid axis": ({"grid.flowpic_dim": 32}, "grid.flowpic_dim",
                               "32 is an integer; valid values: a non-empty list of distinct values from [32, 64, 1500]"),
    "scalar for a metric list": ({"report.metrics": "acc"}, "report.metrics",
                                 "'acc' is a string; valid values: a non-empty list of distinct values from ['acc'"),
    "empty section": ({"splits": None}, "splits", "null is empty; valid values: a mapping with keys ['n_splits', 'samples_per_class']"),
    # empty or repeated lists
    "empty grid axis": ({"grid.seed": []}, "grid.seed", "[] is empty; valid values: a non-empty list of distinct integers >= 0"),
    "duplicate grid values": ({"grid.seed": [1, 2, 1]}, "grid.seed", "[1, 2, 1] repeats [1]; valid values: a non-empty list of distinct"),
    "duplicate metric": ({"report.metrics": ["acc", "acc"]}, "report.metrics", "repeats ['acc']; valid values: a non-empty list of distinct"),
    # missing and unknown keys
    "missing campaign_id": ({"campaign_id": DELETE}, "campaign_id", "missing (required); valid values: strings matching"),
    "missing grid": ({"grid": DELETE}, "grid", "missing (required); valid values: a mapping with keys ['aug_name'"),
    "missing dataset name": ({"dataset.name": DELETE}, "dataset.name", f"missing (required); valid values: {DATASETS}"),
    "missing grid axis": ({"grid.seed": DELETE}, "grid",
                          "missing axis ['seed'] for method 'monolithic'; axes: ['split_index', 'aug_name', 'flowpic_dim', 'seed']"),
    "misspelt top-level key": ({"trainig": {"epochs": 3}}, "<top level>",
                               "unknown key(s) ['trainig'] (did you mean 'training'?); valid keys: ['campaign_id', 'campaigns', 'dataset'"),
    "misspelt nested key": ({"training.epoch": 3}, "training", "unknown key(s) ['epoch'] (did you mean 'epochs'?); valid keys: ['aug_samples'"),
    # relations between keys (check_config)
    "split index beyond n_splits": ({"grid.split_index": [0, 5]}, "grid.split_index",
                                    "[5] not available with splits.n_splits=5; valid values: [0, 1, 2, 3, 4, -1]"),
    "samples per class beyond the scale": ({"splits.samples_per_class": 100}, "splits.samples_per_class",
                                           "gives only 30 for google-music; valid values: 1..6 with splits.n_splits=5"),
    "xgboost with an augmentation": ({"method": "xgboost", "grid": {**XGBOOST_GRID, "aug_name": ["rotate"]}}, "grid.aug_name",
                                     "['rotate'] but method xgboost does not vary aug_name; valid values: ['noaug']"),
    "xgboost with an unused axis": ({"method": "xgboost", "grid": {**XGBOOST_GRID, "flowpic_dim": [32, 64]}}, "grid",
                                    "axis ['flowpic_dim'] is not used by method 'xgboost'; its axes: ['split_index', 'seed', 'max_n_pkts'] "
                                    "(xgboost.flow_representation is 'pktseries'"),
    "simclr ft_train_samples too large": ({"method": "simclr", "grid": SIMCLR_GRID, "simclr.ft_train_samples": 15},
                                          "simclr.ft_train_samples", "valid values: 1..14"),
    "other dataset, synthetic": ({"dataset": {"name": "mirage19", "source": "synthetic"}}, "dataset.source",
                                 "'synthetic' exists only for ucdavis-icdm19; mirage19 must be imported (tcbench datasets import "
                                 "mirage19 --raw ...); valid values: ['imported']"),
    "other dataset, min_pkts it lacks": ({"dataset": {"name": "mirage19", "source": "imported", "min_pkts": 1000}},
                                         "dataset.min_pkts", "1000 is not a variant of mirage19; valid values: [10]"),
    "other dataset, split -1": ({"dataset": {"name": "mirage19", "source": "imported"}, "grid.split_index": [-1]},
                                "grid.split_index", "[-1] not available for mirage19; valid values: [0, 1, 2, 3, 4]"),
    "imported dataset not there": ({"dataset.source": "imported", "datasets_dir": NO_DATASETS_DIR}, "dataset",
                                   f"is not in {NO_DATASETS_DIR}/ucdavis-icdm19 (ucdavis-icdm19.parquet, dataset.json missing); "
                                   f"import it first: tcbench datasets import ucdavis-icdm19 --raw <the authors' archives> --datasets-dir {NO_DATASETS_DIR}"),
}


@pytest.mark.parametrize(("patch", "key", "valid"), CASES.values(), ids=CASES.keys())
def test_bad_config_gives_one_line_naming_the_key_and_the_valid_values(patch, key, valid):
    lines = problems(config_error(patched(patch)))
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{key}: "), lines[0]
    assert valid in lines[0], lines[0]


def test_every_schema_problem_is_listed_at_once():
    """Fixing a config should not take one run per typo."""
    lines = problems(config_error(patched({"grid.aug_name": ["mixup"], "training.epochs": 0, "resources.device": "gpu"})))
    assert [line.split(":")[0] for line in lines] == ["grid.aug_name[0]", "resources.device", "training.epochs"]


def test_the_tiny_base_config_is_valid():
    """Each case above breaks exactly the key it patches, not the base."""
    assert complete_config(patched({}))["training"]["epochs"] == 3


# A schema error and a check between keys, each ended by the Snakefile before any job; run planned and for real.
END_TO_END = {
    "unknown augmentation": {"grid.aug_name": ["mixup"]},
    "string for an integer": {"training.epochs": "50"},
    "split index beyond n_splits": {"grid.split_index": [0, 5]},
    "other dataset, synthetic": {"dataset": {"name": "mirage19", "source": "synthetic"}},
}


def _write(tmp_path: Path, patch: dict[str, Any]) -> tuple[Path, str]:
    """The bad config file and its one problem line, as complete_config words it."""
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(patched(patch)))
    (line,) = problems(config_error(patched(patch)))
    return path, line


# `make test` runs a schema error and a check between keys; the other two cases (the same path) run in `make test-all`.
FAST_END_TO_END = ("unknown augmentation", "split index beyond n_splits")


@pytest.mark.parametrize("mode", [["-n"], ["--cores", "1"]], ids=["dry-run", "run"])
@pytest.mark.parametrize("patch", [pytest.param(patch, id=name, marks=() if name in FAST_END_TO_END else pytest.mark.slow)
                                   for name, patch in END_TO_END.items()])
def test_snakemake_stops_before_any_job_with_the_message_once(tmp_path, patch, mode):
    configfile, line = _write(tmp_path, patch)
    workdir = tmp_path / "work"
    proc = snakemake(workdir, *mode, configfile=configfile)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert output.count(line) == 1, output
    # Neither a traceback into tcbench nor Snakemake's validate printing the schema.
    assert "Traceback" not in output and "tcbench/campaign" not in output and "$schema" not in output, output
    assert not (workdir / "results").exists() and not (workdir / "resources").exists()


@pytest.mark.parametrize("command", [["augment-at-loading", "--dry-run"], ["status"]])
def test_campaign_cli_reports_the_same_message_with_exit_code_2(tmp_path, command):
    from click.testing import CliRunner

    from tcbench.cli.main import cli

    configfile, line = _write(tmp_path, END_TO_END["unknown augmentation"])
    result = CliRunner().invoke(cli, ["campaign", *command, "--configfile", str(configfile)])
    assert result.exit_code == 2, result.output
    assert result.output.count(line) == 1, result.output
