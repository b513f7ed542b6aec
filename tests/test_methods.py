"""The method contract and registry: the declarations agree with the config schema file, every result-relevant
parameter of every method is in the run key and no label is, plugins come in by file, module and entry point, and
nothing outside tcbench/methods branches on a method's name."""

from __future__ import annotations

import copy
import io
import subprocess
import sys
import textwrap
import tokenize
from pathlib import Path
from typing import Any

import pytest
import yaml
from test_workflow import ROOT, TINY_CONFIG

from tcbench import plugins
from tcbench.campaign.compose import complete_config
from tcbench.campaign.config import ConfigError
from tcbench.campaign.grid import campaign_runs, method_settings
from tcbench.methods import get_method, registry
from tcbench.methods.params import LABELS, Param

SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
# Every method defined in the tcbench.methods package (a new in-tree method is checked without editing this file).
BUILT_IN = tuple(m.name for m in registry.methods() if m.origin.startswith("tcbench.methods."))


def _config(method: str, **sections: Any) -> dict[str, Any]:
    """A tiny campaign of ``method``: every grid axis (optional ones too) with its declared default as only value,
    so the first run is the only run."""
    declared = get_method(method)
    defaults = {p.name: p.default for p in declared.settings}
    grid = {axis.name: [axis.default] for axis in declared.grid_axes(defaults)}
    config = {**copy.deepcopy(TINY_CONFIG), "method": method, "grid": grid, **sections}
    return complete_config(config)


@pytest.fixture()
def isolated_registry(monkeypatch: pytest.MonkeyPatch):
    """Plugins registered by a test disappear after it (methods, loaded files, the variable jobs inherit)."""
    state = registry.REGISTRY.snapshot()
    monkeypatch.setattr(registry, "_INSTANCES", dict(registry._INSTANCES))
    monkeypatch.setattr(plugins, "_LOADED", set(plugins._LOADED))
    monkeypatch.delenv(plugins.PLUGINS_ENV, raising=False)
    yield
    registry.REGISTRY.restore(state)


# ------------------------------------------------------------------------------------- declarations vs the schema
def test_the_schema_file_is_what_the_declarations_give():
    """config.schema.yaml is written by a command, never by hand: byte for byte what it would write now."""
    from tcbench.campaign.schema_file import render

    assert SCHEMA.read_text() == render(), "run: python -m tcbench.campaign.schema_file"


@pytest.mark.parametrize(("path", "value"), [
    (("training", "epochs", "default"), 49),
    (("simclr", "temperature", "exclusiveMinimum"), None),
    (("xgboost", "flow_representation", "enum"), ["pktseries"]),
])
def test_an_edit_of_the_schema_file_by_hand_is_caught(path, value):
    """The byte check can fail: a default, a bound or a list of names edited in the file only is written back from
    the declarations."""
    from tcbench.campaign.schema_file import render

    edited = yaml.safe_load(SCHEMA.read_text())
    section, key, field = path
    edited["properties"][section]["properties"][key][field] = value
    assert yaml.safe_load(render()) != edited


def test_a_declaration_change_reaches_the_schema(monkeypatch):
    """A changed declaration changes the written schema (the file then fails the byte check until rewritten)."""
    import dataclasses

    from tcbench.campaign.schema_file import render
    from tcbench.methods import supervised

    before = yaml.safe_load(render())
    changed = dataclasses.replace(supervised.SupervisedCNN.param("epochs"), default=49)
    settings = tuple(changed if p.name == "epochs" else p for p in supervised.SupervisedCNN.settings)
    monkeypatch.setattr(supervised.SupervisedCNN, "settings", settings)
    from tcbench.contract import _param_index

    _param_index.cache_clear()
    try:
        after = yaml.safe_load(render())
    finally:
        monkeypatch.undo()
        _param_index.cache_clear()
    assert before["properties"]["training"]["properties"]["epochs"]["default"] == 50
    assert after["properties"]["training"]["properties"]["epochs"]["default"] == 49


# ------------------------------------------------------------------------------------------------ run identity
def _other(param: Param, value: Any) -> Any:
    """Another value the declaration accepts."""
    valid = param.valid_values()
    if param.kind is list:
        options = [[v] for v in valid or ["x", "y"]]
        return next(o for o in options if o != value)
    if valid is not None:
        return next(v for v in valid if v != value)
    if param.kind is bool:
        return not value
    if param.kind is int:
        return value + 1
    bigger = value * 1.5 if value else 0.5
    return bigger if param.problem(bigger) is None else value / 2


@pytest.mark.parametrize("name", BUILT_IN)
def test_every_result_parameter_of_every_method_is_in_the_run_key(name):
    """Walk every declared parameter that changes a result: a new value through the config gives a new key."""
    config = _config(name)
    method = get_method(name)
    (base,) = campaign_runs(config)
    walked = []
    for param in method.identity_params(method_settings(config)):
        changed = copy.deepcopy(config)
        if param.name in changed["grid"]:
            changed["grid"][param.name] = [_other(param, changed["grid"][param.name][0])]
        else:
            section = changed[param.section or method.section]
            section[param.name] = _other(param, section[param.name])
            # A setting can select the axes (XGBoost's input representation): give the grid the ones it needs.
            axes = method.grid_axes(method_settings(changed))
            changed["grid"] = {a.name: changed["grid"].get(a.name, [a.default]) for a in axes
                               if a.name in changed["grid"] or a.name not in method.optional_axes}
        (run,) = campaign_runs(complete_config(changed))
        assert run.run_key != base.run_key, f"{name}: changing {param.name} kept the run key"
        walked.append(param.name)
    assert set(walked) == set(base.params) - {"method", "dataset", "splits"}


@pytest.mark.parametrize("name", BUILT_IN)
def test_labels_never_change_the_run_key(name):
    """What names or places a run (campaign id, AIM experiment, device, threads, folders, report settings) never
    enters its identity: a campaign that relabels a run reuses it."""
    config = _config(name)
    keys = [r.run_key for r in campaign_runs(config)]
    for patch in ({"campaign_id": "other"}, {"experiment": "another-experiment"}, {"results_dir": "elsewhere"},
                  {"resources": {"device": "cuda:1", "threads_per_run": 4}}, {"report": {"metrics": ["loss"]}}):
        relabelled = complete_config({**copy.deepcopy(config), **patch})
        assert [r.run_key for r in campaign_runs(relabelled)] == keys, patch
    method = get_method(name)
    declared = [p for p in method.params() if not p.result] + list(LABELS)
    assert all(p.name not in campaign_runs(config)[0].params for p in declared)


def test_settings_a_method_does_not_declare_never_change_its_keys():
    """Changing the CNN's epochs must not re-run XGBoost runs (they do not use it)."""
    config = _config("xgboost")
    changed = copy.deepcopy(config)
    changed["training"]["epochs"] = 3
    assert campaign_runs(complete_config(changed))[0].run_key == campaign_runs(config)[0].run_key


# ------------------------------------------------------------------------------------------------ name checks
def _compared_names(path: Path, names: set[str]) -> list[str]:
    """String literals naming a method right next to a comparison (==, !=, in, not in) in a Python source."""
    tokens = [t for t in tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
              if t.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT)]
    found = []
    for i, token in enumerate(tokens):
        if token.type == tokenize.STRING and token.string.strip("\"'") in names:
            around = {tokens[j].string for j in (i - 1, i + 1) if 0 <= j < len(tokens)}
            if around & {"==", "!=", "in"}:
                found.append(f"{path.relative_to(ROOT)}:{token.start[0]}")
    return found


def test_at_most_two_places_outside_the_methods_package_compare_a_method_name():
    names = set(BUILT_IN) | {"simclr-pretrain"}
    sources = [p for p in (ROOT / "tcbench").rglob("*.py") if "methods" not in p.relative_to(ROOT / "tcbench").parts]
    sources += [ROOT / "Snakefile", *(ROOT / "workflow" / "rules").glob("*.smk")]
    found = [hit for path in sources for hit in _compared_names(path, names)]
    assert len(found) <= 2, found


def test_the_name_check_finds_a_comparison(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text('if config["method"] == "xgboost":\n    pass\nif "simclr" in names:\n    pass\nx = "monolithic"\n')
    assert len(_compared_names_in(probe, {"xgboost", "simclr", "monolithic"})) == 2


def _compared_names_in(path: Path, names: set[str]) -> list[str]:
    global ROOT
    saved, ROOT = ROOT, path.parent  # relative_to inside the helper
    try:
        return _compared_names(path, names)
    finally:
        ROOT = saved


# --------------------------------------------------------------------------------------------------- plugins
PLUGIN = textwrap.dedent('''
    """A test plugin: a method that predicts the most frequent training class, with its own setting and axis."""
    import numpy as np

    from tcbench.methods import Method, Param, register
    from tcbench.methods.params import SEED, SPLIT_INDEX, TRAIN_VAL_SPLIT_RATIO, MAX_SAMPLES_PER_CLASS, TEST_LEFTOVER

    TIE_BREAK = Param("tie_break", str, "first", "Which class wins a tie.", choices=("first", "last"))
    REPEATS = Param("repeats", int, 1, "How often to vote.", minimum=1, tag="rep")


    @register
    class Majority(Method):
        name = "{name}"
        summary = "Predicts the most frequent training class."
        section = "majority"
        axes = (SPLIT_INDEX, SEED, REPEATS)
        settings = (TIE_BREAK, TRAIN_VAL_SPLIT_RATIO, MAX_SAMPLES_PER_CLASS, TEST_LEFTOVER)

        def flowpic_cache(self, params):
            return None

        def execute(self, run):
            labels = run.read_labels()
            split = run.split(labels)
            codes = labels.app.astype(np.int64)
            counts = np.bincount(codes[split.train], minlength=len(labels.classes))
            best = int(np.argmax(counts if run.params["tie_break"] == "first" else counts[::-1]))
            run.lap("train")
            for context, rows in split.tests.items():
                run.record(context, run.report(context, codes[rows], np.full(len(rows), best), labels.classes))
            return {{}}
''')


def _majority_config(plugin: Path, **majority: Any) -> dict[str, Any]:
    return {**copy.deepcopy(TINY_CONFIG), "plugins": [str(plugin)], "method": "majority",
            "grid": {"split_index": [0, 1], "seed": [1], "repeats": [1, 2]}, "majority": majority}


def test_a_plugin_file_brings_its_method_section_and_axis(tmp_path, isolated_registry):
    plugin = tmp_path / "majority.py"
    plugin.write_text(PLUGIN.format(name="majority"))
    config = complete_config(_majority_config(plugin))
    assert config["majority"] == {"tie_break": "first"}  # its own section, defaults from its declarations
    runs = campaign_runs(config)
    assert len(runs) == 4 and runs[0].params["tie_break"] == "first" and runs[0].params["repeats"] == 1
    assert get_method("majority").tags(runs[1].params)[-1] == "rep:2"
    # Its settings are validated like a built-in's, naming the key and the valid values.
    with pytest.raises(ConfigError, match=r"majority.tie_break: 'middle' is not valid; valid values: \['first', 'last'\]"):
        complete_config(_majority_config(plugin, tie_break="middle"))
    with pytest.raises(ConfigError, match=r"grid.repeats\[0\]: 0 is out of range; valid values: integers >= 1"):
        complete_config({**_majority_config(plugin), "grid": {"split_index": [0], "seed": [1], "repeats": [0]}})
    # A changed plugin setting re-plans exactly its runs.
    changed = complete_config(_majority_config(plugin, tie_break="last"))
    assert {r.run_key for r in campaign_runs(changed)}.isdisjoint(r.run_key for r in runs)


def test_a_plugin_method_is_a_run_command(tmp_path, tiny_dataset, isolated_registry):
    from click.testing import CliRunner

    from tcbench.cli.main import cli

    plugin = tmp_path / "majority.py"
    plugin.write_text(PLUGIN.format(name="majority"))
    result = CliRunner().invoke(cli, ["--plugin", str(plugin), "run", "majority", "--help"])
    assert result.exit_code == 0 and "--tie-break [first|last]" in result.output and "--repeats" in result.output
    result = CliRunner().invoke(cli, ["--plugin", str(plugin), "run", "majority", "--dataset-dir", str(tiny_dataset),
                                      "--samples-per-class", "5", "--results-dir", str(tmp_path / "results"),
                                      "--tie-break", "last"])
    assert result.exit_code == 0, result.output
    (marker,) = (tmp_path / "results" / "runs").glob("*/marker.json")
    assert '"tie_break": "last"' in marker.read_text()


@pytest.mark.parametrize(("content", "message"), [
    (None, "no such file"),
    ("raise RuntimeError('broken plugin')", "fails to import: RuntimeError: broken plugin"),
    (PLUGIN.format(name="monolithic"), "method name 'monolithic' is taken by tcbench.methods.supervised.SupervisedCNN"),
])
def test_a_bad_plugin_is_one_config_error(tmp_path, isolated_registry, content, message):
    plugin = tmp_path / "bad.py"
    if content is not None:
        plugin.write_text(content)
    with pytest.raises(ConfigError, match=message) as info:
        complete_config(_majority_config(plugin))
    assert str(info.value).startswith("invalid configuration: plugins: ") or "is taken" in str(info.value)
    assert "\n" not in str(info.value)


def test_an_installed_package_registers_methods_through_the_entry_point_group(tmp_path):
    """A package installed with a `tcbench.methods` entry point: its method is known without being named anywhere."""
    site = tmp_path / "site"
    (site / "acme_tc-1.0.dist-info").mkdir(parents=True)
    (site / "acme_tc.py").write_text(PLUGIN.format(name="acme-majority").replace("@register\n", ""))
    (site / "acme_tc-1.0.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-tc\nVersion: 1.0\n")
    (site / "acme_tc-1.0.dist-info" / "entry_points.txt").write_text("[tcbench.methods]\nmajority = acme_tc:Majority\n")
    code = ("from tcbench.methods import get_method, method_names; m = get_method('acme-majority'); "
            "print(method_names()[-1], m.origin, [p.name for p in m.settings][0])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={"PYTHONPATH": str(site), "PATH": ""}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["acme-majority", "acme_tc", "tie_break"]
