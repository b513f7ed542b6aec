"""Checks of a campaign config that a JSON schema cannot express, run before any job is planned.

The schema (workflow/schemas/config.schema.yaml) rejects unknown keys, wrong types and unknown names; these
checks cover relations between keys, so that e.g. a split index beyond n_splits fails at planning time with the
valid values instead of inside a job after the dataset was generated.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tcbench.data.splits import LARGER_TRAINSET_SPLIT


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key and the valid values."""


def _key_path(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "<top level>"


def _explain(error: Any) -> str:
    """One line per schema violation: where, what, and what would be valid."""
    where = _key_path(error.absolute_path)
    schema = error.schema
    if error.validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(error.instance) - set(allowed))
        return f"{where}: unknown key(s) {unknown}; valid keys: {allowed}"
    if error.validator == "enum":
        hint = f" ({schema['description'].strip()})" if "description" in schema else ""
        return f"{where}: {error.instance!r} is not valid; valid values: {schema['enum']}{hint}"
    return f"{where}: {error.message}"


def validate_config(config: dict[str, Any], schema_path: str | Path) -> None:
    """Check ``config`` against the JSON schema and raise one ConfigError listing every violation readably.

    Snakemake's own ``validate`` prints the whole schema for each error; this names the key and the valid values.
    """
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    if errors:
        lines = "\n  ".join(_explain(e) for e in errors)
        raise ConfigError(f"invalid configuration ({len(errors)} problem(s)); see {schema_path}:\n  {lines}")


def check_imported(config: dict[str, Any]) -> None:
    """An imported dataset must exist before anything is planned: say how to import it."""
    from tcbench.campaign.grid import dataset_paths
    from tcbench.data.dataset_info import DATASET_INFO

    paths = dataset_paths(config)
    needed = [paths.parquet, paths.root / DATASET_INFO] + ([paths.index_splits] if paths.variant else [])
    missing = [p for p in needed if not p.exists()]
    if missing:
        name = config["dataset"]["name"]
        raise ConfigError(
            f"dataset: {name} (source imported) is not in {paths.root} ({', '.join(str(p.relative_to(paths.root)) for p in missing)} missing); "
            f"import it first: tcbench datasets import {name} --raw <the authors' archives> --datasets-dir "
            f"{config['datasets_dir']}" + ("  (or set dataset.source: synthetic)" if name == "ucdavis-icdm19" else "")
        )


# Filtered variants of the datasets other than ucdavis-icdm19, and their number of index splits.
MIN_PKTS_VARIANTS = {"mirage19": (10,), "mirage22": (10, 1000), "utmobilenet21": (10,)}
INDEX_SPLITS = 5


def check_other_dataset(config: dict[str, Any]) -> None:
    """mirage19, mirage22, utmobilenet21: imported only, a variant they have, their 5 index splits, no SimCLR."""
    dataset = config["dataset"]
    name = dataset["name"]
    if dataset["source"] != "imported":
        raise ConfigError(f"dataset.source: {dataset['source']!r} exists only for ucdavis-icdm19; {name} must be imported "
                          f"(tcbench datasets import {name} --raw ...); valid values: ['imported']")
    if dataset["min_pkts"] not in MIN_PKTS_VARIANTS[name]:
        raise ConfigError(f"dataset.min_pkts: {dataset['min_pkts']} is not a variant of {name}; valid values: {list(MIN_PKTS_VARIANTS[name])}")
    if config["method"] == "simclr":
        raise ConfigError(f"method: simclr finetunes on ucdavis-icdm19's human and script partitions; {name} has none; "
                          "valid methods: ['monolithic', 'xgboost']")
    bad = [s for s in config["grid"]["split_index"] if s not in range(INDEX_SPLITS)]
    if bad:
        raise ConfigError(f"grid.split_index: {bad} not available for {name}; valid values: {list(range(INDEX_SPLITS))}")
    if config["training"]["max_samples_per_class"] != -1:
        raise ConfigError(f"training.max_samples_per_class: only -1 for {name} (its train/val/test splits are fixed)")


def check_config(config: dict[str, Any]) -> None:
    from tcbench.campaign.grid import UCDAVIS, grid_axes

    if config["dataset"]["name"] != UCDAVIS:
        check_other_dataset(config)
    if config["dataset"]["source"] == "imported":
        check_imported(config)

    try:
        axes = dict(grid_axes(config))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    grid = config["grid"]
    if config["method"] == "xgboost":
        if any(aug != "noaug" for aug in grid.get("aug_name", ["noaug"])):
            raise ConfigError(f"grid.aug_name: {grid['aug_name']} but method xgboost takes no augmentation; valid values: ['noaug']")
    else:
        unused = [axis for axis in grid if axis not in axes]
        if unused:
            raise ConfigError(f"grid: axis {unused} is not used by method {config['method']!r}; its axes: {list(axes)}")
    n_splits = config["splits"]["n_splits"]
    per_class = config["splits"]["samples_per_class"]
    valid_splits = list(range(n_splits)) + [LARGER_TRAINSET_SPLIT]
    bad = [s for s in config["grid"]["split_index"] if s not in valid_splits]
    if bad and config["dataset"]["name"] == UCDAVIS:
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
    if config["method"] == "simclr":
        from tcbench.data import ucdavis

        train_samples = config["simclr"]["ft_train_samples"]
        finetune = {p: ucdavis.CLASS_COUNTS[p] for p in (ucdavis.PARTITION_HUMAN, ucdavis.PARTITION_SCRIPT)}
        smallest = min(min(counts.values()) for counts in finetune.values())
        if train_samples >= smallest:
            raise ConfigError(
                f"simclr.ft_train_samples: {train_samples} training flows per class leave no test flow in the smallest "
                f"finetune class ({smallest} flows); valid values: 1..{smallest - 1}"
            )
