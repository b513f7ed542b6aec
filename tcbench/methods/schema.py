"""The config schema's method parts, derived from the parameter declarations.

``workflow/schemas/config.schema.yaml`` documents every key of a campaign config for people and for Snakemake's
``validate``. Its method sections (``training``, ``xgboost``, ``simclr``), grid axes and name lists (methods,
augmentations, datasets) are written from the declarations (:func:`generated_schema`, by
``python -m tcbench.campaign.schema_file``), and :func:`campaign_schema` completes the schema at planning time with
what plugins declare (their sections, axes and names), so a plugin method's settings are validated, defaulted and
reported exactly like a built-in's.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from tcbench.contract import _KINDS, Method, Param


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
    item = {**_value_schema(param), "description": param.help}  # errors about one value quote it
    return {"type": "array", "minItems": 1, "uniqueItems": True, "items": item, "description": param.help}


def _settings(method: Method) -> Iterable[tuple[str, Param]]:
    for param in method.settings:
        if param.result or param.section:
            yield param.section or method.section, param


def _campaign_methods() -> list[Method]:
    from tcbench.methods.registry import methods

    return methods()


def campaign_schema(base: dict[str, Any]) -> dict[str, Any]:
    """``base`` (the schema file) completed from the registries at planning time: the valid method, dataset and
    augmentation names with the plugins loaded, and the sections and grid axes of plugin methods."""
    return generated_schema(base, _campaign_methods())


def generated_schema(base: dict[str, Any], built_in: Iterable[Method]) -> dict[str, Any]:
    """The full schema: ``base`` (the hand-written keys: folders, dataset, splits, resources, report, and each
    method section's own description) with every method-derived node written from the declarations of
    ``built_in``: the method, dataset and augmentation name lists, the grid axes and every method setting. A node
    the declarations give replaces the base's; base nodes no declaration covers stay as written."""
    from tcbench.data.registry import DATASET_NAMES
    from tcbench.data.synthetic import GENERATOR_VERSION, GENERATOR_VERSIONS

    schema = copy.deepcopy(base)
    props = schema["properties"]
    methods = list(built_in)
    props["method"]["enum"] = [m.name for m in methods]
    props["dataset"]["properties"]["name"]["enum"] = list(DATASET_NAMES)
    version = props["dataset"]["properties"]["synthetic"]["properties"]["generator_version"]
    version.update(enum=list(GENERATOR_VERSIONS), default=GENERATOR_VERSION)
    grid = props["grid"].setdefault("properties", {})
    for method in methods:
        for axis in (*method.axes, *(method.param(a) for a in method.optional_axes)):
            grid[axis.name] = axis_schema(axis)
        for section, param in _settings(method):
            block = props.setdefault(section, {"type": "object", "additionalProperties": False, "default": {},
                                               "description": f"Settings of method {method.name}."})
            block.setdefault("properties", {})[param.name] = setting_schema(param)
    return schema
