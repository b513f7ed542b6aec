"""The campaign grid, shared by the Snakefile and the CLI so both plan the same runs.

A campaign is the cartesian product of its method's grid axes (in the method's declared order, the last varying
fastest), each point merged over the method's settings from the config and turned into a run's identity
(``tcbench.runs.identity``). Labels of the campaign (its id, the grid position ``campaign_exp_idx``, the AIM
experiment) are applied when the campaign's repo is merged, never to the run itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tcbench.contract import Method
from tcbench.methods.registry import get_method
from tcbench.runs.identity import run_key, run_params


@dataclass(frozen=True)
class RunSpec:
    """One grid point: its content key, 1-based position in the campaign and every parameter of the run."""

    run_key: str
    campaign_exp_idx: int
    params: dict[str, Any]


def campaign_method(config: dict[str, Any]) -> Method:
    return get_method(config["method"])


def method_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The campaign-wide value of each of the method's settings, from the config section each is declared in."""
    method = campaign_method(config)
    return {p.name: config[p.section or method.section][p.name] for p in method.settings}


def grid_axes(config: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """(axis, values) in the method's product order; an optional axis only when the grid names it."""
    method = campaign_method(config)
    grid = config["grid"]
    names = [a.name for a in method.grid_axes(method_settings(config)) if a.name in grid or a.name not in method.optional_axes]
    missing = [n for n in names if n not in grid]
    if missing:
        raise ValueError(f"grid: missing axis {missing} for method {method.name!r}; axes: {names}")
    return [(name, list(grid[name])) for name in names]


def campaign_runs(config: dict[str, Any]) -> list[RunSpec]:
    """Every run of the campaign in the original's order, with 1-based campaign_exp_idx."""
    from tcbench.data.sources import dataset_spec

    method = campaign_method(config)
    axes = grid_axes(config)
    names = [name for name, _ in axes]
    dataset, settings = dataset_spec(config), method_settings(config)
    runs = []
    seen: dict[str, int] = {}
    for idx, values in enumerate(itertools.product(*(v for _, v in axes)), start=1):
        point = dict(zip(names, values))
        params = run_params(method, dataset, config["splits"], {**settings, **point})
        key = run_key(params)
        if key in seen:
            raise ValueError(f"grid point {point} repeats run {seen[key]}: remove duplicate values from grid")
        seen[key] = idx
        runs.append(RunSpec(run_key=key, campaign_exp_idx=idx, params=params))
    return runs


def pre_steps(runs: list[RunSpec]) -> dict[str, dict[str, Any]]:
    """The pre-steps (SimCLR pre-trainings) the runs need, by key: each shared by every run that starts from it."""
    out: dict[str, dict[str, Any]] = {}
    for spec in runs:
        pre = get_method(spec.params["method"]).pre_step_params(spec.params)
        if pre is not None:
            out.setdefault(run_key(pre), pre)
    return out


def campaign_code(runs: Iterable[RunSpec]) -> dict[str, str]:
    """The identity of the plugin code a campaign's runs execute (their version or code hash, by component)."""
    from tcbench.runs.provenance import code_identity

    found: dict[str, str] = {}
    for spec in runs:
        found.update(code_identity(spec.params))
    return found


def experiment_name(config: dict[str, Any], params: dict[str, Any]) -> str:
    """The AIM experiment a campaign's merged runs go in: the configured one, else the method's default for the run."""
    return str(config.get("experiment") or campaign_method(config).experiment_name(params))
