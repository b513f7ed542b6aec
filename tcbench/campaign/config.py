"""Everything checked in a campaign config before any job is planned (prepare_config: Snakefile and CLI alike).

The schema (workflow/schemas/config.schema.yaml) rejects unknown keys, wrong types, out-of-range values and
unknown names, each reported as one line `<key path>: <value> ...; valid values: ...`; the checks below cover
relations between keys, so that e.g. a split index beyond n_splits fails at planning time with the valid values
instead of inside a job after the dataset was generated.
"""

from __future__ import annotations

import difflib
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


def _child_path(where: str, key: str) -> str:
    return key if where == "<top level>" else f"{where}.{key}"


# YAML spellings of the Python types a config value can have, for "<value> is a string; valid values: ...".
_KINDS = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a mapping"}


def _kind(value: Any) -> str:
    return "empty" if value is None else _KINDS.get(type(value), type(value).__name__)


def _show(value: Any) -> str:
    """A value as the config spells it: YAML's null for an empty key (`training:`), else Python's repr."""
    return "null" if value is None else repr(value)


def _bounds(schema: dict[str, Any]) -> str:
    signs = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}
    return " and ".join(f"{sign} {schema[key]}" for key, sign in signs.items() if key in schema)


def _valid_items(schema: dict[str, Any]) -> str:
    """The valid elements of a list, in the plural: 'values from [32, 64]', 'integers >= 0'."""
    if "enum" in schema:
        return f"values from {schema['enum']}"
    nouns = {"integer": "integers", "number": "numbers", "boolean": "booleans (true, false)", "string": "strings"}
    noun = nouns.get(schema.get("type", ""), "values")
    bounds = _bounds(schema)
    return f"{noun} {bounds}" if bounds else noun


def _valid(schema: dict[str, Any]) -> str:
    """What a schema node accepts, readably: the enum, a range, a pattern, or the shape of a list or mapping."""
    kind = schema.get("type")
    if "enum" in schema:
        return str(schema["enum"])
    if kind in ("integer", "number"):
        return _valid_items(schema)
    if kind == "boolean":
        return "true or false"
    if kind == "string":
        return f"strings matching {schema['pattern']}" if "pattern" in schema else "a string"
    if kind == "array":
        size = "a non-empty list" if schema.get("minItems", 0) >= 1 else "a list"
        distinct = " distinct" if schema.get("uniqueItems") else ""
        return f"{size} of{distinct} {_valid_items(schema.get('items', {}))}"
    if kind == "object":
        return f"a mapping with keys {sorted(schema.get('properties', {}))}"
    return "see the schema"


def _hint(schema: dict[str, Any]) -> str:
    return f" ({' '.join(schema['description'].split())})" if "description" in schema else ""


def _explain(error: Any) -> list[str]:
    """Lines for one schema violation, each: where, what is wrong with the value, and what would be valid."""
    where = _key_path(error.absolute_path)
    schema, value, validator = error.schema, error.instance, error.validator
    if validator == "additionalProperties":
        allowed = sorted(schema.get("properties", {}))
        unknown = sorted(set(value) - set(allowed), key=str)
        guesses = [match for key in unknown for match in difflib.get_close_matches(key, allowed, n=1)]
        guess = f" (did you mean {', '.join(map(repr, guesses))}?)" if guesses else ""
        return [f"{where}: unknown key(s) {unknown}{guess}; valid keys: {allowed}"]
    if validator == "required":
        properties = schema.get("properties", {})
        return [f"{_child_path(where, key)}: missing (required); valid values: {_valid(properties.get(key, {}))}"
                f"{_hint(properties.get(key, {}))}" for key in schema["required"] if key not in value]
    valid = f"valid values: {_valid(schema)}{_hint(schema)}"
    what = {
        "type": f"is {_kind(value)}",
        "minItems": "is empty",
        "uniqueItems": f"repeats {_repeated(value)}",
        "minimum": "is out of range", "exclusiveMinimum": "is out of range",
        "maximum": "is out of range", "exclusiveMaximum": "is out of range",
    }.get(validator, "is not valid")
    return [f"{where}: {_show(value)} {what}; {valid}"]


def _repeated(values: Any) -> list[Any]:
    """The values a list holds more than once (no hashing: a wrong config may hold lists or mappings)."""
    seen: list[Any] = []
    repeated: list[Any] = []
    for value in values if isinstance(values, list) else []:
        (repeated if value in seen and value not in repeated else seen).append(value)
    return repeated


def _one_per_key(errors: list[Any]) -> list[Any]:
    """A wrong type also fails the enum or range of the same key: report only the type then, once per key."""
    typed = {tuple(e.absolute_path) for e in errors if e.validator == "type"}
    return [e for e in errors if e.validator == "type" or tuple(e.absolute_path) not in typed]


def validate_config(config: dict[str, Any], schema_path: str | Path) -> None:
    """Check ``config`` against the JSON schema and raise one ConfigError listing every violation readably.

    Snakemake's own ``validate`` prints the whole schema for each error; this names the key and the valid values.
    """
    import jsonschema
    import yaml

    schema = yaml.safe_load(Path(schema_path).read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    lines = list(dict.fromkeys(line for error in _one_per_key(errors) for line in _explain(error)))
    if lines:
        raise ConfigError(f"invalid configuration ({len(lines)} problem(s)); see {schema_path}:\n  " + "\n  ".join(lines))


def prepare_config(config: dict[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Everything the Snakefile and the CLI do to a config before planning, in one place so both report the same
    message: readable schema errors first, then Snakemake's validation (which fills in the defaults), then the
    checks between keys. Raises ConfigError; returns ``config``, completed in place."""
    from snakemake.utils import validate

    validate_config(config, schema_path)
    validate(config, str(schema_path), set_default=True)
    try:
        check_config(config)
    except ConfigError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None
    return config


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


def _representation(config: dict[str, Any]) -> str:
    """xgboost's last axis depends on its input: say which, since the default (pktseries) is easy to overlook."""
    if config["method"] != "xgboost":
        return ""
    return (f" (xgboost.flow_representation is {config['xgboost']['flow_representation']!r}: "
            "'pktseries' takes max_n_pkts, 'flowpic' takes flowpic_dim)")


def check_split_sizes(config: dict[str, Any]) -> None:
    """ucdavis-icdm19's train splits are drawn without overlap from its pretraining partition: the smallest class
    must hold n_splits x samples_per_class flows, or the splits job fails after the dataset was built."""
    from tcbench.data import ucdavis
    from tcbench.data.synthetic import synthetic_class_counts

    n_splits, per_class = config["splits"]["n_splits"], config["splits"]["samples_per_class"]
    if config["dataset"]["source"] == "synthetic":
        scale = config["dataset"]["synthetic"]["scale"]
        counts, origin = synthetic_class_counts(scale)[ucdavis.PARTITION_PRETRAINING], f"dataset.synthetic.scale={scale}"
    else:
        counts, origin = ucdavis.CLASS_COUNTS[ucdavis.PARTITION_PRETRAINING], "the imported ucdavis-icdm19"
    smallest = min(counts, key=counts.get)
    if counts[smallest] < n_splits * per_class:
        raise ConfigError(
            f"splits.samples_per_class: {n_splits} splits x {per_class} samples_per_class need {n_splits * per_class} "
            f"pretraining flows per class, but {origin} gives only {counts[smallest]} for {smallest}; valid values: "
            f"1..{counts[smallest] // n_splits} with splits.n_splits={n_splits}"
            + (" (or raise the scale)" if config["dataset"]["source"] == "synthetic" else "")
        )


def check_config(config: dict[str, Any]) -> None:
    """Relations between keys of a config the schema accepted and completed with its defaults."""
    from tcbench.campaign.grid import UCDAVIS, grid_axes

    if config["dataset"]["name"] != UCDAVIS:
        check_other_dataset(config)
    if config["dataset"]["source"] == "imported":
        check_imported(config)

    try:
        axes = dict(grid_axes(config))
    except ValueError as exc:
        raise ConfigError(f"{exc}{_representation(config)}") from None
    grid = config["grid"]
    if config["method"] == "xgboost" and any(aug != "noaug" for aug in grid.get("aug_name", ["noaug"])):
        raise ConfigError(f"grid.aug_name: {grid['aug_name']} but method xgboost takes no augmentation; valid values: ['noaug']")
    # xgboost accepts the original's forced `aug_name: [noaug]` axis; any other unused axis would be silently ignored.
    unused = [axis for axis in grid if axis not in axes and not (config["method"] == "xgboost" and axis == "aug_name")]
    if unused:
        raise ConfigError(f"grid: axis {unused} is not used by method {config['method']!r}; its axes: {list(axes)}"
                          f"{_representation(config)}")
    n_splits = config["splits"]["n_splits"]
    valid_splits = list(range(n_splits)) + [LARGER_TRAINSET_SPLIT]
    bad = [s for s in config["grid"]["split_index"] if s not in valid_splits]
    if bad and config["dataset"]["name"] == UCDAVIS:
        raise ConfigError(f"grid.split_index: {bad} not available with splits.n_splits={n_splits}; valid values: {valid_splits}")
    if config["dataset"]["name"] == UCDAVIS:
        check_split_sizes(config)
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
