"""The `tcbench run ...` arguments of a grid point: how a Snakemake job turns a run's parameters into a command.

One function for every method keeps the job rule generic (`tcbench run {params.args}`), and quoting with shlex
avoids the original's string-joined options, which dropped 0 values and split values with spaces.
"""

from __future__ import annotations

import shlex
from typing import Any

# Parameters that are not command-line options of the run (identity of the data, or the method itself).
_NOT_OPTIONS = {"method", "dataset", "splits"}
# Booleans that are on/off flag pairs of the run command.
_FLAGS = {"with_dropout": ("--with-dropout", "--no-dropout"), "test_leftover": ("--test-leftover", "--no-test-leftover"),
          "suppress_val_augmentation": ("--suppress-val-augmentation", "--no-suppress-val-augmentation")}
# Parameter names that differ from their option names (the original's option names).
_RENAMED = {"flow_representation": "--input-repr", "max_n_pkts": "--pktseries-len",
            "contrastive_learning_seed": "--cl-seed", "finetune_seed": "--ft-seed", "augmentations": "--cl-aug-names",
            "projection_layer_dim": "--cl-projection-layer-dim", "temperature": "--cl-temperature"}
# The `tcbench run` command of each method (and of the SimCLR pre-training step).
_COMMANDS = {"monolithic": ["augment-at-loading", "--method", "monolithic"],
             "xgboost": ["augment-at-loading", "--method", "xgboost"],
             "simclr": ["contralearn-and-finetune"], "simclr-pretrain": ["contralearn-pretrain"]}


def run_arguments(params: dict[str, Any]) -> str:
    """`<command> --option value ...` for ``params`` as built by the campaign grid (or ``pretrain_params``)."""
    args = [*_COMMANDS[params["method"]],
            "--n-splits", str(params["splits"]["n_splits"]), "--samples-per-class", str(params["splits"]["samples_per_class"])]
    if params["dataset"]["name"] != "ucdavis-icdm19":
        args += ["--dataset", params["dataset"]["name"], "--dataset-minpkts", str(params["dataset"]["min_pkts"])]
    for name, value in params.items():
        if name in _NOT_OPTIONS:
            continue
        if name in _FLAGS:
            args.append(_FLAGS[name][0] if value else _FLAGS[name][1])
        else:
            text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
            args += [_RENAMED.get(name, "--" + name.replace("_", "-")), text]
    return shlex.join(args)
