"""The config schema's method parts, derived from the parameter declarations.

``workflow/schemas/config.schema.yaml`` documents every key of a campaign config for people and for Snakemake's
``validate``. Its method sections (``training``, ``xgboost``, ``simclr``), grid axes and name lists (methods,
augmentations, datasets) must say what the declarations say: :func:`schema_differences` lists every disagreement (a
test asserts there is none), and :func:`campaign_schema` completes the file's schema at planning time with what
plugins declare (their sections, axes and names), so a plugin method's settings are validated, defaulted and
reported exactly like a built-in's.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from tcbench.methods.contract import Method
from tcbench.methods.params import Param, _KINDS

# Schema keywords compared between the file and the declarations (descriptions are free text).
COMPARED = ("type", "default", "enum", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minItems",
            "uniqueItems")


def _value_schema(param: Param) -> dict[str, Any]:
    """The schema of one value (a setting, or one item of a grid axis)."""
    out: dict[str, Any] = {"type": _KINDS[param.kind][0]}
    valid = param.valid_values()
    if param.kind is list:
        item: dict[str, Any] = {"type": "string"}
        if valid is not None:
            item["enum"] = list(valid)
        out.update(minItems=1, items=item)
        if param.unique:
            out["uniqueItems"] = True
        return out
    if valid is not None:
        out["enum"] = list(valid)
    for attr, key in (("minimum", "minimum"), ("maximum", "maximum"), ("exclusive_minimum", "exclusiveMinimum"),
                      ("exclusive_maximum", "exclusiveMaximum")):
        if getattr(param, attr) is not None:
            out[key] = getattr(param, attr)
    return out


def setting_schema(param: Param) -> dict[str, Any]:
    return {**_value_schema(param), "default": param.default, "description": param.help}


def axis_schema(param: Param) -> dict[str, Any]:
    """A grid axis: a non-empty list of distinct values, each valid for the parameter."""
    return {"type": "array", "minItems": 1, "uniqueItems": True, "items": _value_schema(param), "description": param.help}


def _settings(method: Method) -> Iterable[tuple[str, Param]]:
    for param in method.settings:
        if param.result or param.section:
            yield param.section or method.section, param


def _campaign_methods() -> list[Method]:
    from tcbench.methods.registry import methods

    return methods()


def campaign_schema(base: dict[str, Any]) -> dict[str, Any]:
    """``base`` (the schema file) completed from the registries: the valid method, dataset and augmentation names,
    and the sections and grid axes of plugin methods the file does not describe."""
    from tcbench.data.registry import DATASET_NAMES

    schema = copy.deepcopy(base)
    props = schema["properties"]
    registered = _campaign_methods()
    props["method"]["enum"] = [m.name for m in registered]
    props["dataset"]["properties"]["name"]["enum"] = list(DATASET_NAMES)
    grid = props["grid"]["properties"]
    for method in registered:
        for axis in (*method.axes, *(method.param(a) for a in method.optional_axes)):
            node = grid.setdefault(axis.name, axis_schema(axis))
            if axis.choices_from is not None:  # names that plugins can extend (augmentations)
                node["items"]["enum"] = list(axis.valid_values() or ())
        for section, param in _settings(method):
            block = props.setdefault(section, {"type": "object", "additionalProperties": False, "default": {},
                                               "description": f"Settings of method {method.name}.", "properties": {}})
            node = block["properties"].setdefault(param.name, setting_schema(param))
            if param.choices_from is not None:
                target = node["items"] if param.kind is list else node
                target["enum"] = list(param.valid_values() or ())
    return schema


def _compare(where: str, found: dict[str, Any] | None, expected: dict[str, Any]) -> list[str]:
    if found is None:
        return [f"{where}: missing from the schema file (declared: {expected})"]
    out = []
    for key in COMPARED:
        if found.get(key) != expected.get(key):
            out.append(f"{where}.{key}: the schema file says {found.get(key)!r}, the declaration {expected.get(key)!r}")
    if "items" in expected:
        out += _compare(f"{where}.items", found.get("items"), expected["items"])
    return out


def schema_differences(base: dict[str, Any], built_in: Iterable[Method]) -> list[str]:
    """Every place where the schema file and the declarations of ``built_in`` methods disagree (names, types,
    defaults, valid values, bounds), plus the name lists of the registries."""
    from tcbench.augment import augmentation_names
    from tcbench.data.registry import DATASET_NAMES

    props = base["properties"]
    methods = list(built_in)
    out = []
    if props["method"].get("enum") != [m.name for m in methods]:
        out.append(f"method.enum: the schema file says {props['method'].get('enum')}, the registry {[m.name for m in methods]}")
    if props["dataset"]["properties"]["name"].get("enum") != list(DATASET_NAMES):
        out.append(f"dataset.name.enum: the schema file says {props['dataset']['properties']['name'].get('enum')}, "
                   f"the dataset registry {list(DATASET_NAMES)}")
    if props["grid"]["properties"]["aug_name"]["items"].get("enum") != list(augmentation_names()):
        out.append(f"grid.aug_name.items.enum: the schema file disagrees with the augmentation registry {augmentation_names()}")
    grid = props["grid"]["properties"]
    for method in methods:
        for axis in (*method.axes, *(method.param(a) for a in method.optional_axes)):
            out += _compare(f"grid.{axis.name}", grid.get(axis.name), axis_schema(axis))
        for section, param in _settings(method):
            found = props.get(section, {}).get("properties", {}).get(param.name)
            out += _compare(f"{section}.{param.name}", found, setting_schema(param))
    return list(dict.fromkeys(out))
