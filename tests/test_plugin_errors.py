"""Plugin errors land on the right side: a bug in a method's code keeps its traceback (on stderr and in the run's
log) with a last line naming the method's file and line, while a mistake in the user's input stays one line; a
plugin's declaration mistakes (a default outside its own valid values, a parameter declared twice, a built-in's
name) are one-line errors when it is loaded, naming the plugin's file, line and ``Param``; `methods list` names a
plugin by its file; and the commands that cannot find a method say how to load a plugin.

Every command runs in its own process through the console entry point (as a user or a Snakemake job runs it), so
the plugins never enter this process's registries.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_workflow import ROOT, TINY_CONFIG

from tcbench.campaign.compose import complete_config
from tcbench.campaign.config import ConfigError
from tcbench.plugins import PLUGINS_ENV

ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}", "COLUMNS": "200"}
ENV.pop(PLUGINS_ENV, None)


def tcbench(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    code = f"import sys\nfrom tcbench.cli.main import main\nsys.argv = ['tcbench', *{list(args)!r}]\nmain()\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, cwd=cwd, timeout=300)


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """The process failed with exit 2 and one ``error:`` line, no traceback; returns that line."""
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-3000:]
    return lines[0]


def line_of(path: Path, fragment: str) -> int:
    return next(n for n, text in enumerate(path.read_text().splitlines(), 1) if fragment in text)


# --------------------------------------------------------------------------------------------------- bugs
METHOD = textwrap.dedent('''
    """A test plugin method that fails in its own code, in one of several ways (the `fault` setting)."""
    import numpy as np

    from tcbench.methods import Method, Param, register
    from tcbench.methods.params import SEED, SPLIT_INDEX, TRAIN_VAL_SPLIT_RATIO, MAX_SAMPLES_PER_CLASS, TEST_LEFTOVER

    FAULT = Param("fault", str, "numpy", "How to fail.", choices=("numpy", "own", "none"))


    def helper(rows):
        raise ValueError(f"helper got {len(rows)} rows")  # own-raise


    @register
    class Broken(Method):
        name = "broken"
        summary = "Fails in its code."
        section = "broken"
        axes = (SPLIT_INDEX, SEED)
        settings = (FAULT, TRAIN_VAL_SPLIT_RATIO, MAX_SAMPLES_PER_CLASS, TEST_LEFTOVER)

        def flowpic_cache(self, params):
            return None

        def execute(self, run):
            labels = run.read_labels()
            split = run.split(labels)
            if run.params["fault"] == "numpy":
                np.zeros(len(split.train)).reshape(7, -1, 3)  # numpy-bug
            if run.params["fault"] == "own":
                helper(split.train)
            return {}
''')


@pytest.fixture()
def broken_method(tmp_path: Path) -> Path:
    plugin = tmp_path / "broken_method.py"
    plugin.write_text(METHOD)
    return plugin


@pytest.mark.parametrize("fault,fragment,message", [
    ("numpy", "# numpy-bug", "error: ValueError: cannot reshape array"),
    ("own", "# own-raise", "error: ValueError: helper got"),
], ids=["numpy-valueerror", "plugin-valueerror"])
def test_a_valueerror_in_a_methods_code_keeps_its_traceback(tiny_dataset, tmp_path, broken_method, fault, fragment,
                                                            message):
    """A ValueError raised by numpy inside a plugin's execute, or by the plugin's own code, is a bug: exit 1, the
    traceback on stderr and in the run's log, and a last line naming the plugin's file and line. The same plugin
    asking tcbench for a split the splits file does not hold (the user's --split-index) gets a ValueError from
    tcbench's reader: the user's mistake, one line and exit 2, and no traceback in the run's log."""
    results = tmp_path / "results"
    args = ["--plugin", str(broken_method), "run", "broken", "--dataset-dir", str(tiny_dataset), "--samples-per-class",
            "5", "--fault", fault]
    proc = tcbench(*args, "--results-dir", str(results))
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "Traceback" in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    where = f"{broken_method}:{line_of(broken_method, fragment)}"
    assert last.startswith(message) and where in last and "method broken" in last, last
    (log,) = results.glob("runs/*/artifacts/log.txt")
    text = log.read_text()
    assert "failed, no marker written" in text and "Traceback" in text and f'"{broken_method}", line ' in text, text
    assert not list(results.rglob("marker.json"))

    mistake = tmp_path / "mistake"
    line = one_error_line(tcbench(*args, "--results-dir", str(mistake), "--split-index", "9"))
    assert "split_index 9 does not exist" in line, line
    (log,) = mistake.glob("runs/*/artifacts/log.txt")
    assert "split_index 9 does not exist" in log.read_text() and "Traceback" not in log.read_text()


# ------------------------------------------------------------------------------------------- declarations
DECLARED = textwrap.dedent('''
    from tcbench.methods import Method, Param, register
    from tcbench.methods.params import SEED, SPLIT_INDEX

    {params}


    @register
    class Declared(Method):
        name = "{name}"
        summary = "Declares its parameters."
        section = "declared"
        axes = {axes}
        settings = {settings}

        def execute(self, run):
            return {{}}
''')


@pytest.mark.parametrize("params,axes,settings,variable,expected", [
    ('SCALING = Param("scaling", str, "sqrt", "How to scale.", choices=("none", "log"))',
     "(SPLIT_INDEX, SEED)", "(SCALING,)", "SCALING",
     "Param SCALING ('scaling') of method 'declared': its default 'sqrt' is not valid; valid values: ['none', 'log']"),
    ('DEPTH = Param("depth", int, 0, "Tree depth.", minimum=1)',
     "(SPLIT_INDEX, SEED, DEPTH)", "()", "DEPTH",
     "Param DEPTH ('depth') of method 'declared': its default 0 is out of range; valid values: an integer >= 1"),
    ('RATE = Param("rate", float, "fast", "Learning rate.", exclusive_minimum=0)',
     "(SPLIT_INDEX, SEED)", "(RATE,)", "RATE", "its default 'fast' is not a number"),
    ('OTHER_SEED = Param("seed", int, 1, "Another seed.")',
     "(SPLIT_INDEX, SEED)", "(OTHER_SEED,)", "class Declared",
     "method declared: parameter 'seed' is declared twice, differently, in axes and settings"),
    ('TWICE = Param("twice", int, 1, "Listed twice.")',
     "(SPLIT_INDEX, SEED)", "(TWICE, TWICE)", "class Declared", "parameter 'twice' is listed twice in settings"),
    ('THREADS = Param("threads", int, 4, "Threads of my library.")',
     "(SPLIT_INDEX, SEED)", "(THREADS,)", "THREADS",
     "Param THREADS ('threads') of method 'declared': the name 'threads' is tcbench's own"),
], ids=["default-outside-choices", "default-out-of-bounds", "default-of-another-kind", "declared-twice-differently",
        "listed-twice", "reserved-name"])
def test_declaration_mistakes_are_one_line_errors_at_registration(tmp_path, params, axes, settings, variable, expected):
    """Loading the plugin fails (before any `methods show`, dry run or job) with one line naming the plugin's file,
    the line of the Param's declaration (or of the class) and the Param; a config naming it gets the same line."""
    plugin = tmp_path / "declared.py"
    plugin.write_text(DECLARED.format(params=params, name="declared", axes=axes, settings=settings))
    declaration = variable if variable.startswith("class ") else f"{variable} ="
    where = f"error: plugins: {plugin}:{line_of(plugin, declaration)}: "
    for command in (["methods", "list"], ["methods", "show", "declared"]):
        line = one_error_line(tcbench("--plugin", str(plugin), *command))
        assert line.startswith(where) and expected in line, line
    with pytest.raises(ConfigError) as info:  # nothing is registered: the registration fails
        complete_config({**copy.deepcopy(TINY_CONFIG), "plugins": [str(plugin)], "method": "declared"})
    assert str(info.value).startswith(f"invalid configuration: {where.removeprefix('error: ')}"), str(info.value)


def test_a_parameter_read_under_a_wrong_name_fails_at_registration(tmp_path):
    """A typo in a string key (``run.params["sead"]``) is found when the plugin registers, naming the file and the
    line of the read and the declared names: before planning, not in the middle of a campaign."""
    plugin = tmp_path / "typo.py"
    text = DECLARED.format(params="", name="declared", axes="(SPLIT_INDEX, SEED)", settings="()")
    plugin.write_text(text.replace("        return {}", "        seed = run.params[\"sead\"]\n        return {}"))
    line = one_error_line(tcbench("--plugin", str(plugin), "methods", "list"))
    assert line == (f"error: plugins: {plugin}:{line_of(plugin, 'sead')}: method 'declared' reads parameter 'sead', "
                    "which it does not declare; its parameters: ['seed', 'split_index']"), line


def test_a_plugin_taking_a_builtin_name_is_told_to_rename(tmp_path):
    """A plugin method named `xgboost`: one line naming the plugin's file and the line of its `name`, telling the
    plugin (never the built-in) to rename; the same from a config and from the jobs' environment variable."""
    plugin = tmp_path / "mine.py"
    plugin.write_text(DECLARED.format(params="", name="xgboost", axes="(SPLIT_INDEX, SEED)", settings="()"))
    expected = (f"error: plugins: {plugin}:{line_of(plugin, 'name = ')}: method name 'xgboost' is taken by "
                "tcbench.methods.xgboost_baseline.XGBoostBaseline (built in); rename the plugin's method (class "
                "Declared: name = 'xgboost')")
    assert one_error_line(tcbench("--plugin", str(plugin), "methods", "list")) == expected
    with pytest.raises(ConfigError) as info:
        complete_config({**copy.deepcopy(TINY_CONFIG), "plugins": [str(plugin)], "method": "xgboost"})
    assert str(info.value) == "invalid configuration: " + expected.removeprefix("error: ")
    from_env = subprocess.run([sys.executable, "-c", "from tcbench.methods import methods; methods()"], text=True,
                              capture_output=True, env={**ENV, PLUGINS_ENV: str(plugin)}, timeout=300)
    assert from_env.returncode != 0 and "rename the plugin's method" in from_env.stderr
    assert "XGBoostBaseline must use another" not in from_env.stderr


AUGMENTATION = textwrap.dedent('''
    from tcbench.augment import register_augmentation
    from tcbench.augment.base import ImageAugmentation


    @register_augmentation
    class MyRotate(ImageAugmentation):
        name = "rotate"

        def draw(self, rng, copies, n, last_time=None):
            return {}

        def transform(self, images, params, dim):
            return images
''')


def test_an_augmentation_plugin_taking_a_builtin_name_is_told_to_rename(tmp_path):
    plugin = tmp_path / "myrotate.py"
    plugin.write_text(AUGMENTATION)
    line = one_error_line(tcbench("--plugin", str(plugin), "methods", "list"))
    assert line == (f"error: plugins: {plugin}:{line_of(plugin, 'name = ')}: augmentation name 'rotate' is taken by "
                    "tcbench.augment.original.Rotate (built in); rename the plugin's augmentation (class MyRotate: "
                    "name = 'rotate')")


# ------------------------------------------------------------------------------------------------ finding
def test_methods_list_names_a_plugin_by_its_file():
    proc = tcbench("--plugin", "examples/custom-method/knn_method.py", "methods", "list")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = [line for line in proc.stdout.splitlines() if line.strip().startswith("knn ")]
    assert "examples/custom-method/knn_method.py" in row and "tcbench_plugin_" not in proc.stdout


@pytest.mark.parametrize("command", [["run", "knn", "--help"], ["methods", "show", "knn"]])
def test_an_unknown_method_says_how_to_load_a_plugin(command):
    line = one_error_line(tcbench(*command))
    assert "'knn'" in line or "run knn" in line
    assert f"tcbench --plugin path/to/module.py {' '.join(command)}" in line and "TCBENCH_PLUGINS" in line, line
