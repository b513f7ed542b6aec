"""A run knows the code that made it: plugin code in the run key, in-tree code acknowledged per results version,
markers written only for complete runs, and planning that names finished runs made by other code."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_workflow import ROOT, planned_jobs, snakemake

from tcbench.runs import provenance

KNN = ROOT / "examples" / "custom-method" / "knn_method.py"


def test_code_hash_is_blind_to_comments_docstrings_and_formatting(tmp_path):
    original = 'def f(x):\n    """Doc."""\n    return x + 1\n'
    variants = {
        "comment": 'def f(x):\n    """Doc."""\n    # a comment\n    return x + 1  # another\n',
        "docstring": 'def f(x):\n    """Another doc, longer."""\n    return x + 1\n',
        "formatting": 'def f( x ):\n    """Doc."""\n    return (x +\n            1)\n',
    }
    base = tmp_path / "base.py"
    base.write_text(original)
    for name, text in variants.items():
        (tmp_path / f"{name}.py").write_text(text)
        assert provenance.code_hash(tmp_path / f"{name}.py") == provenance.code_hash(base), name
    (tmp_path / "changed.py").write_text(original.replace("x + 1", "x + 2"))
    assert provenance.code_hash(tmp_path / "changed.py") != provenance.code_hash(base)


def test_in_tree_result_code_is_acknowledged_for_this_results_version():
    """Changing tcbench's result code is a decision: bump tcbench.RESULTS_VERSION (the numbers change: every run key
    changes) or acknowledge the new code as making the same numbers."""
    problems = provenance.unacknowledged()
    assert not problems, (
        "tcbench's result code differs from the code acknowledged for RESULTS_VERSION "
        f"{provenance.RESULTS_VERSION}: {problems}. If results change, bump tcbench.RESULTS_VERSION; if they do "
        "not, run `python -m tcbench.runs.provenance acknowledge` and commit tcbench/runs/result_code.json")


def _plugin(tmp_path: Path, name: str, version: str | None = None, body_edit: tuple[str, str] | None = None) -> Path:
    """The example kNN plugin under another method name (one registry per test process), optionally versioned."""
    text = KNN.read_text().replace('name = "knn"', f'name = "{name}"')
    if version is not None:
        text = text.replace('    experiment = "knn-flowpic"', f'    experiment = "knn-flowpic"\n    version = "{version}"')
    if body_edit is not None:
        assert body_edit[0] in text
        text = text.replace(*body_edit)
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return path


def _knn_key(path: Path, name: str) -> str:
    from tcbench.methods.registry import get_method, load_plugins
    from tcbench.runs.identity import run_key, run_params

    load_plugins([str(path)])
    dataset = {"name": "ucdavis-icdm19", "synthetic": {"seed": 1}}
    return run_key(run_params(get_method(name), dataset, {"n_splits": 5, "samples_per_class": 100},
                              {"split_index": 0, "seed": 1, "flowpic_dim": 32, "n_neighbors": 5}))


def test_a_plugin_edit_changes_its_run_keys_and_a_comment_does_not(tmp_path):
    path = _plugin(tmp_path, "knn_prov_hash")
    key = _knn_key(path, "knn_prov_hash")
    path.write_text(path.read_text() + "\n# a note about the method\n")
    assert _knn_key(path, "knn_prov_hash") == key
    assert "weights=run.value(WEIGHTS)" in path.read_text()
    path.write_text(path.read_text().replace("weights=run.value(WEIGHTS)", 'weights="uniform"'))
    assert _knn_key(path, "knn_prov_hash") != key


def test_a_declared_version_keeps_the_key_and_planning_still_names_the_edit(tmp_path):
    path = _plugin(tmp_path, "knn_prov_version", version="1")
    key = _knn_key(path, "knn_prov_version")
    params = {"method": "knn_prov_version", "dataset": {"name": "ucdavis-icdm19"}, "n_neighbors": 5}
    recorded = {"components": {c.label: c.record() for c in provenance.run_components(params)},
                "shared": {"digest": provenance.digest(provenance.shared_files())},
                "libraries": provenance.library_versions()}
    now = provenance.CodeNow.current()
    assert now.changes(recorded, params) == []
    assert "weights=run.value(WEIGHTS)" in path.read_text()
    path.write_text(path.read_text().replace("weights=run.value(WEIGHTS)", 'weights="uniform"'))
    assert _knn_key(path, "knn_prov_version") == key
    reasons = now.changes(recorded, params)
    assert reasons == [f"method:knn_prov_version code changed (its declared version 1 was kept): {path.resolve()}"]
    recorded["libraries"] = {**recorded["libraries"], "torch": "0.0.1"}
    assert f"torch 0.0.1 -> {provenance.library_versions()['torch']}" in now.changes(recorded, params)


INCOMPLETE_PLUGIN = '''
from tcbench.methods import Method, register
from tcbench.methods.params import (FLOWPIC_DIM, MAX_SAMPLES_PER_CLASS, SEED, SPLIT_INDEX, TEST_LEFTOVER,
                                   TRAIN_VAL_SPLIT_RATIO)


@register
class ForgetsHuman(Method):
    name = "forgets_human"
    summary = "Predicts class 0 and never tests on the human partition."
    section = "forgets_human"
    axes = (SPLIT_INDEX, SEED, FLOWPIC_DIM)
    settings = (TEST_LEFTOVER, TRAIN_VAL_SPLIT_RATIO, MAX_SAMPLES_PER_CLASS)

    def execute(self, run):
        import numpy as np

        labels = run.read_labels()
        split = run.split(labels)
        codes = labels.app.astype(np.int64)
        run.start_tracking()
        for context, rows in split.tests.items():
            if context != "test-human":
                run.record(context, run.report(context, codes[rows], np.zeros(len(rows), np.int64), labels.classes))
        return {}
'''


def test_a_run_missing_a_declared_context_gets_no_marker_and_one_line(tmp_path, tiny_dataset):
    plugin = tmp_path / "forgets.py"
    plugin.write_text(INCOMPLETE_PLUGIN)
    results = tmp_path / "results"
    proc = subprocess.run([sys.executable, "-m", "tcbench", "--plugin", str(plugin), "run", "forgets_human",
                           "--dataset-dir", str(tiny_dataset), "--samples-per-class", "5", "--results-dir", str(results)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "recorded no test-human" in last and "no marker written" in last, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert not list(results.glob("runs/*/marker.json"))


@pytest.fixture(scope="module")
def finished(tiny_campaign: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's finished tiny campaign (conftest.tiny_campaign), copied, with its config also as prov.yaml."""
    from conftest import copy_campaign

    workdir = copy_campaign(tiny_campaign, tmp_path_factory.mktemp("prov"))
    shutil.copy(workdir / "tiny.yaml", workdir / "prov.yaml")
    return workdir


def _copy(finished: Path, tmp_path: Path) -> Path:
    """A copy of the finished campaign's folder to alter (the fixture stays as it ran)."""
    target = tmp_path / "copy"
    shutil.copytree(finished, target, ignore=shutil.ignore_patterns(".snakemake"))
    return target


def _edit_marker(path: Path, edit) -> None:
    """Change a marker as older code would have written it: its time stays, so no campaign output looks stale."""
    import os

    stat = path.stat()
    marker = json.loads(path.read_text())
    edit(marker)
    path.write_text(json.dumps(marker))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def test_markers_record_the_code_libraries_and_machine(finished):
    for path in (finished / "results" / "runs").glob("*/marker.json"):
        record = json.loads(path.read_text())["provenance"]
        assert record["components"]["method:monolithic"]["file"] == "tcbench/methods/supervised.py"
        assert record["components"]["augmentation:noaug"]["hash"] == provenance.code_hash(
            ROOT / "tcbench" / "augment" / "original.py")
        assert "tcbench/training/loop.py" in record["shared"]["files"]
        assert {"torch", "numpy", "scikit-learn"} <= set(record["libraries"])
        assert record["platform"]["cpu"] == provenance.cpu_model()
        assert record["platform"]["torch"]["version"] == record["libraries"]["torch"]
        assert record["platform"]["torch"]["blas"] in ("mkl", "open", "openblas")  # the BLAS torch was built with


@pytest.mark.slow  # re-runs a campaign (20 s); the missing-context refusal itself stays in `make test` (the test above)
def test_a_marker_without_a_declared_context_is_not_done(finished, tmp_path):
    """Planning names it, `campaign status` does not count it as done, and running the campaign trains it again
    (its old marker kept aside)."""
    from tcbench.campaign.config import prepare_config
    from tcbench.campaign.status import campaign_status

    work = _copy(finished, tmp_path)
    marker = sorted((work / "results" / "runs").glob("*/marker.json"))[0]
    _edit_marker(marker, lambda m: m["metrics"].pop("test-human"))
    plan = snakemake(work, "-n", configfile=work / "prov.yaml")
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert f"run {marker.parent.name}: its marker has no test-human" in plan.stderr
    config = yaml.safe_load((work / "prov.yaml").read_text())
    prepare_config(config, ROOT / "workflow" / "schemas" / "config.schema.yaml")
    states = {r.run_key: (r.state, r.detail) for r in campaign_status(config, work).runs}
    assert states[marker.parent.name][0] == "failed" and "incomplete" in states[marker.parent.name][1]

    proc = snakemake(work, "--cores", "2", configfile=work / "prov.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "test-human" in json.loads(marker.read_text())["metrics"]
    assert len(list(marker.parent.glob("marker.incomplete-*.json"))) == 1
    states = {r.run_key: r.state for r in campaign_status(config, work).runs}
    assert set(states.values()) == {"done"}


def test_planning_names_runs_made_by_other_code_and_retrains_them_when_asked(finished, tmp_path):
    work = _copy(finished, tmp_path)
    first, second, *_ = sorted((work / "results" / "runs").glob("*/marker.json"))
    _edit_marker(first, lambda m: m["provenance"]["libraries"].update(torch="0.0.1"))
    _edit_marker(second, lambda m: m["provenance"]["components"]["method:monolithic"].update(hash="0" * 16))
    proc = snakemake(work, "-n", configfile=work / "prov.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr
    assert "2 finished run(s) were made by other code, reused as they are" in proc.stderr
    assert f"torch 0.0.1 -> {provenance.library_versions()['torch']}: 1 run(s): {first.parent.name}" in proc.stderr
    assert f"method:monolithic code changed: tcbench/methods/supervised.py: 1 run(s): {second.parent.name}" in proc.stderr
    assert "rerun_other_code=true" in proc.stderr
    again = snakemake(work, "--cores", "2", "--config", "rerun_other_code=true", configfile=work / "prov.yaml")
    assert again.returncode == 0, again.stderr[-3000:]
    assert planned_jobs(again.stdout + again.stderr)["train"] == 2
    for marker in (first, second):
        assert len(list(marker.parent.glob("marker.other-code-*.json"))) == 1
    quiet = snakemake(work, "-n", configfile=work / "prov.yaml")
    assert "other code" not in quiet.stderr and "Nothing to be done" in quiet.stdout + quiet.stderr
