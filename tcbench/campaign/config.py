"""Checks of a campaign config that a JSON schema cannot express, run before any job is planned.

The schema (workflow/schemas/config.schema.yaml) rejects unknown keys, wrong types and unknown names; these
checks cover relations between keys, so that e.g. a split index beyond n_splits fails at planning time with the
valid values instead of inside a job after the dataset was generated.
"""

from __future__ import annotations

from typing import Any

from tcbench.data.splits import LARGER_TRAINSET_SPLIT


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key and the valid values."""


def check_config(config: dict[str, Any]) -> None:
    n_splits = config["splits"]["n_splits"]
    per_class = config["splits"]["samples_per_class"]
    valid_splits = list(range(n_splits)) + [LARGER_TRAINSET_SPLIT]
    bad = [s for s in config["grid"]["split_index"] if s not in valid_splits]
    if bad:
        raise ConfigError(f"grid.split_index: {bad} not available with splits.n_splits={n_splits}; valid values: {valid_splits}")
    if config["dataset"]["source"] == "synthetic":
        from tcbench.data.synthetic import synthetic_class_counts

        scale = config["dataset"]["synthetic"]["scale"]
        counts = synthetic_class_counts(scale)["pretraining"]
        smallest = min(counts, key=counts.get)
        if counts[smallest] < n_splits * per_class:
            raise ConfigError(
                f"splits: {n_splits} splits x {per_class} samples_per_class need {n_splits * per_class} pretraining flows "
                f"per class, but dataset.synthetic.scale={scale} gives only {counts[smallest]} for {smallest}; lower "
                f"splits.samples_per_class to at most {counts[smallest] // n_splits} or raise the scale"
            )
