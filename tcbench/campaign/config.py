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

from tcbench.data.registry import INDEX_SPLITS, get_dataset
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


def _explain(error: Any, root: dict[str, Any] | None = None) -> list[str]:
    """Lines for one schema violation, each: where, what is wrong with the value, and what would be valid (a
    conditional ``required`` of the top level is explained with the top level's properties)."""
    where = _key_path(error.absolute_path)
    schema, value, validator = error.schema, error.instance, error.validator
    if validator == "required" and "properties" not in schema and root is not None and not error.absolute_path:
        schema = {**schema, "properties": root.get("properties", {})}
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


_SCHEMAS: dict[tuple[Any, ...], dict[str, Any]] = {}


def load_schema(schema_path: str | Path) -> dict[str, Any]:
    """The schema file completed from the registries (plugin methods' sections and axes, valid names). Kept per file
    version and registry contents: a paper config prepares a dozen campaigns against the same schema (read only)."""
    from tcbench.augment import augmentation_names
    from tcbench.methods.registry import method_names
    from tcbench.methods.schema import campaign_schema

    path = Path(schema_path)
    key = (str(path.resolve()), path.stat().st_mtime_ns, tuple(method_names(include_steps=True)),
           tuple(augmentation_names()))
    if key not in _SCHEMAS:
        _SCHEMAS[key] = campaign_schema(parse_yaml(path.read_text()))
    return _SCHEMAS[key]


def validate_config(config: dict[str, Any], schema: dict[str, Any], schema_path: str | Path) -> None:
    """Check ``config`` against the JSON schema and raise one ConfigError listing every violation readably.

    Snakemake's own ``validate`` prints the whole schema for each error; this names the key and the valid values.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path)))
    lines = list(dict.fromkeys(line for error in _one_per_key(errors) for line in _explain(error, schema)))
    if lines:
        raise ConfigError(f"invalid configuration ({len(lines)} problem(s)); see {schema_path}:\n  " + "\n  ".join(lines))


def fill_defaults(instance: dict[str, Any], schema: dict[str, Any]) -> None:
    """Set every default the schema declares for a key the config leaves out, in nested sections too (what
    Snakemake's ``validate(set_default=True)`` does; the schema here is built in memory, which it cannot take)."""
    import copy

    for key, sub in schema.get("properties", {}).items():
        if key not in instance and "default" in sub:
            instance[key] = copy.deepcopy(sub["default"])
        if isinstance(instance.get(key), dict) and sub.get("type") == "object":
            fill_defaults(instance[key], sub)


def load_config_plugins(config: dict[str, Any], project_dir: Path) -> None:
    """Import the plugin modules a config names (their methods and augmentations must be known before the schema
    is built) and export them to the processes the workflow starts. A relative file path is looked up in the
    working directory, then in ``project_dir`` (the folder of the Snakefile)."""
    from tcbench.plugins import PluginError, export_plugins, load_plugins

    plugins = config.get("plugins") or []
    if not isinstance(plugins, list) or not all(isinstance(p, str) for p in plugins):
        raise ConfigError(f"invalid configuration: plugins: {plugins!r} is not a list of module paths; valid values: "
                          "a list of dotted module names or .py file paths")
    try:
        loaded = load_plugins(plugins, [project_dir])
    except PluginError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None
    export_plugins(loaded)


def reparse_command_line(config: dict[str, Any], given: dict[str, Any]) -> None:
    """Values given with ``snakemake --config key=value`` as YAML reads them.

    Snakemake parses a top-level value as int, float or ``True``/``False`` (so ``replace_campaign=true`` arrives as
    the string ``'true'``; a top-level ``true``/``false`` is read as the boolean), but reads a mapping or list with
    YAML's BaseLoader, so
    ``--config "grid={'flowpic_dim': [32]}"`` arrives as ``{'flowpic_dim': ['32']}``. Each string leaf of what
    was given is read again with ``yaml.safe_load`` in ``config`` (where Snakemake merged it), so the schema sees
    the numbers and booleans the user typed.
    """
    import yaml

    def again(value: Any) -> Any:
        if isinstance(value, str):
            try:
                return yaml.safe_load(value)
            except yaml.YAMLError:
                return value
        if isinstance(value, list):
            return [again(v) for v in value]
        if isinstance(value, dict):
            return {k: again(v) for k, v in value.items()}
        return value

    def merge(target: dict[str, Any], typed: dict[str, Any]) -> None:
        for key, value in typed.items():
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                merge(target[key], value)
            else:
                target[key] = value

    typed = {k: again(v) for k, v in given.items() if isinstance(v, (dict, list))}
    typed.update({k: v.lower() == "true" for k, v in given.items()
                  if isinstance(v, str) and v.lower() in ("true", "false")})
    merge(config, typed)


def parse_yaml(text: str) -> Any:
    """YAML text as Python data, as ``yaml.safe_load`` reads it, with libyaml's parser where PyYAML was built with it:
    about 10x faster (a paper plan reads 18 YAML files before its first job). A text libyaml rejects is read again
    by the Python parser, whose errors say more (a tab that cannot start a token, the token expected)."""
    import yaml

    try:
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return yaml.safe_load(text)


def load_config_file(path: str | Path) -> dict[str, Any]:
    """A campaign config file as a mapping; ConfigError naming the file (and the line and column of a YAML syntax
    error) otherwise."""
    import yaml

    path = Path(path)
    try:
        data = parse_yaml(path.read_text(encoding="utf-8"))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError(f"{path}: YAML syntax error{where}: {exc.problem or exc}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the config: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a campaign config is a YAML mapping (campaign_id: ..., dataset: ..., grid: ...), "
                          f"got {type(data).__name__}")
    return data


def prepare_config(config: dict[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Everything the Snakefile and the CLI do to a config before planning, in one place so both report the same
    message: plugins first (they extend the schema), readable schema errors, then Snakemake's validation (which
    fills in the defaults), then the checks between keys. Raises ConfigError; returns ``config``, completed in place."""
    load_config_plugins(config, Path(schema_path).resolve().parents[2])
    schema = load_schema(schema_path)
    validate_config(config, schema, schema_path)
    fill_defaults(config, schema)
    try:
        check_config(config)
    except (ConfigError, ValueError) as exc:
        raise ConfigError(f"invalid configuration: {str(exc).removeprefix('invalid configuration: ')}") from None
    return config


def check_dataset_source(config: dict[str, Any]) -> None:
    """The source provides this dataset, its variant exists, and a dataset the workflow does not build exists
    before anything is planned (its source says how to get it), unless the workflow is to fetch it first
    (``dataset.fetch: true``)."""
    from tcbench.data.sources import dataset_paths, source_of, synthetic_datasets

    source, name = source_of(config), config["dataset"]["name"]
    if source.stand_in and name not in synthetic_datasets():
        raise ConfigError(f"dataset.source: {source.name!r} exists only for {', '.join(synthetic_datasets())}; "
                          f"{name} must be imported (tcbench datasets import {name} --raw ...); valid values: ['imported']")
    if get_dataset(name).variants:
        check_dataset_variant(config)
    paths = dataset_paths(config)
    problem = source.missing(config, paths)
    if problem is not None and not source.fetch_first(config, paths):  # fetch: true: the workflow fetches it first
        raise ConfigError(problem)


def check_dataset_variant(config: dict[str, Any]) -> None:
    """A dataset with filtered variants (mirage19, mirage22, utmobilenet21): imported only, a variant it has, its
    index splits, no cap on samples per class."""
    dataset = config["dataset"]
    definition = get_dataset(dataset["name"])
    name = definition.name
    if dataset["min_pkts"] not in definition.variants:
        raise ConfigError(f"dataset.min_pkts: {dataset['min_pkts']} is not a variant of {name}; valid values: {list(definition.variants)}")
    bad = [s for s in config["grid"]["split_index"] if s not in range(INDEX_SPLITS)]
    if bad:
        raise ConfigError(f"grid.split_index: {bad} not available for {name}; valid values: {list(range(INDEX_SPLITS))}")
    if config["training"]["max_samples_per_class"] != -1:
        raise ConfigError(f"training.max_samples_per_class: only -1 for {name} (its train/val/test splits are fixed)")


def check_split_sizes(config: dict[str, Any]) -> None:
    """ucdavis-icdm19's train splits are drawn without overlap from its pretraining partition: the smallest class
    must hold n_splits x samples_per_class flows, or the splits job fails after the dataset was built."""
    from tcbench.data.sources import source_of

    n_splits, per_class = config["splits"]["n_splits"], config["splits"]["samples_per_class"]
    source = source_of(config)
    counts, origin = source.pretraining_counts(config)
    smallest = min(counts, key=counts.get)
    if counts[smallest] < n_splits * per_class:
        raise ConfigError(
            f"splits.samples_per_class: {n_splits} splits x {per_class} samples_per_class need {n_splits * per_class} "
            f"pretraining flows per class, but {origin} gives only {counts[smallest]} for {smallest}; valid values: "
            f"1..{counts[smallest] // n_splits} with splits.n_splits={n_splits}"
            + (" (or raise the scale)" if source.built_by_workflow else "")
        )


def check_grid(config: dict[str, Any]) -> None:
    """The grid names exactly the axes the method varies (its fixed axes may be given with their one value)."""
    from tcbench.campaign.grid import campaign_method, grid_axes

    method = campaign_method(config)
    hint = method.axes_hint(config)
    try:
        axes = dict(grid_axes(config))
    except ValueError as exc:
        raise ConfigError(f"{exc}{hint}") from None
    grid = config["grid"]
    for axis, allowed in method.fixed_axes.items():
        if axis in grid and any(value not in allowed for value in grid[axis]):
            raise ConfigError(f"grid.{axis}: {grid[axis]} but method {method.name} does not vary {axis}; "
                              f"valid values: {list(allowed)}")
    unused = [axis for axis in grid if axis not in axes and axis not in method.fixed_axes]
    if unused:
        raise ConfigError(f"grid: axis {unused} is not used by method {method.name!r}; its axes: {list(axes)}{hint}")


def check_config(config: dict[str, Any]) -> None:
    """Relations between keys of a config the schema accepted and completed with its defaults."""
    from tcbench.campaign.grid import campaign_method

    dataset = get_dataset(config["dataset"]["name"])
    check_dataset_source(config)
    check_grid(config)
    if dataset.draws_train_splits:
        n_splits = config["splits"]["n_splits"]
        valid_splits = list(range(n_splits)) + [LARGER_TRAINSET_SPLIT]
        bad = [s for s in config["grid"]["split_index"] if s not in valid_splits]
        if bad:
            raise ConfigError(f"grid.split_index: {bad} not available with splits.n_splits={n_splits}; valid values: {valid_splits}")
        check_split_sizes(config)
    campaign_method(config).check_config(config, dataset)
    check_report(config)


def check_report(config: dict[str, Any]) -> None:
    """The report settings name an axis, value and published table this campaign has (before anything runs)."""
    from tcbench.campaign.grid import campaign_method, grid_axes
    from tcbench.campaign.report_plan import check_report_settings

    report = config["report"]
    report["baseline"] = check_report_settings(report, grid_axes(config), campaign_method(config).name, config["dataset"]["name"])


# ------------------------------------------------------------------------------------------ where a campaign writes
#: The config's folders and their defaults (relative ones lie in the project folder, tcbench.campaign.folder).
PATH_KEYS = {"results_dir": "results", "datasets_dir": "resources/datasets"}


def path_problem(key: str, value: str, writes: bool = True) -> str | None:
    """One line when ``value`` (the folder of config key ``key``) is a file, or, when the campaign ``writes`` there,
    on a read-only file system or not writable: before planning, not as a traceback from the first job."""
    import os

    path = Path(value)
    probe = path
    while not probe.exists() and probe != probe.parent:  # the folder, or the nearest part of it that exists
        probe = probe.parent
    shown = path.absolute()
    if not probe.is_dir():
        where = "" if probe == path else f" ({probe.absolute()} is a file)"
        return f"{key}: {shown} is a file, not a folder{where}; set {key} to a folder, or move the file away"
    if not writes:
        return None
    try:
        read_only = bool(os.statvfs(probe).f_flag & os.ST_RDONLY)
    except OSError:
        read_only = False
    if read_only:
        return f"{key}: {shown} is on a read-only file system ({probe.absolute()}); set {key} to a writable folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{key}: {shown} is not writable (no write permission on {probe.absolute()}); set {key} to a folder you can write"
    return None


def check_paths(config: dict[str, Any], writes: dict[str, bool] | None = None) -> None:
    """Every folder of the config that is a file, or (for the keys ``writes`` marks, by default results_dir) not
    writable or read-only: a ConfigError of one line per path, naming the key and the path. Values that are not
    strings are left to the schema."""
    writes = {"results_dir": True, **(writes or {})}
    lines = [line for key, default in PATH_KEYS.items() if isinstance(value := config.get(key, default), str)
             and (line := path_problem(key, value, writes.get(key, False))) is not None]
    if lines:
        raise ConfigError("\n".join(lines))
