"""examples/: a method and an augmentation, each added in one module, run end to end through the real workflow
with their configs unedited (the configs name the modules under `plugins:`; nothing in tcbench/ or workflow/
knows them)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from test_workflow import ROOT, planned_jobs, snakemake

EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One working directory for both examples: they share the synthetic dataset and its flowpic cache."""
    return tmp_path_factory.mktemp("examples")


def _markers(workdir: Path, method: str) -> list[dict]:
    markers = [json.loads(p.read_text()) for p in (workdir / "results" / "runs").glob("*/marker.json")]
    return [m for m in markers if m["method"] == method]


# The examples run on the quickstart's full-scale synthetic dataset (minutes on 2 cores): `make test-all`. Plugin methods
# and augmentations through a config stay in `make test` (test_methods.py, test_augment_registry.py, test_provenance.py).
@pytest.mark.slow  # 75 s
def test_the_example_method_campaign_runs_end_to_end(workdir):
    """`snakemake --cores 2 --configfile examples/custom-method/config.yaml`: markers, merged AIM repo (labelled and
    tagged), summaries and plots."""
    proc = snakemake(workdir, "--cores", "2", configfile=EXAMPLES / "custom-method" / "config.yaml")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    markers = _markers(workdir, "knn")
    assert len(markers) == 12
    assert {m["params"]["n_neighbors"] for m in markers} == {1, 5, 15}
    assert {m["params"]["weights"] for m in markers} == {"distance"}
    assert all(60 < m["metrics"]["test-script"]["acc"] <= 100 for m in markers)

    from aim import Repo

    campaign = workdir / "results" / "campaigns" / "knn-example"
    runs = list(Repo(str(campaign / "aim")).iter_runs())
    assert len(runs) == 12
    for run in runs:
        assert {"method:knn", "campaign:knn-example", f"k:{run['hparams']['n_neighbors']}"} <= set(run.tags)
        assert run.experiment == "knn-flowpic"
    # The method's own report axis: k compared against its declared baseline, k = 5.
    comparison = pd.read_csv(campaign / "campaign_summary" / "comparison_flowpic_dim_32.csv")
    assert set(comparison["baseline"]) == {5} and set(comparison["compared"]) == {1, 15}
    summary = pd.read_csv(campaign / "campaign_summary" / "summary_flowpic_dim_32.csv", header=[0, 1])
    assert sorted(set(summary[("n_neighbors", "Unnamed: 1_level_1")])) == [1, 5, 15]
    for plot in ("accuracy.png", "confusion_test-human_flowpic_dim_32.png", "confusion_test-script_flowpic_dim_32.png",
                 "confusion_test-train-val-leftover_flowpic_dim_32.png"):
        assert (campaign / "plots" / plot).stat().st_size > 0


def test_the_example_method_asks_the_scheduler_for_its_own_resources(tmp_path):
    """The plugin's `resources` hook, not a table in the workflow, sizes its jobs (dim 32: 1000 + 1024 // 1000 MB,
    10 minutes), as a SLURM profile would submit them."""
    proc = snakemake(tmp_path, "-n", configfile=EXAMPLES / "custom-method" / "config.yaml")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    train_jobs = [block for block in proc.stdout.split("\nrule ") if block.startswith("train:")]
    assert len(train_jobs) == 12
    assert all("mem_mb=1001" in block and "runtime=10" in block for block in train_jobs), train_jobs[0]


@pytest.mark.slow  # 55 s
def test_the_example_augmentation_campaign_runs_end_to_end(workdir):
    """`examples/custom-augmentation/config.yaml`: the CNN with `sizejitter` next to `noaug`, 4 runs."""
    config = EXAMPLES / "custom-augmentation" / "config.yaml"
    short = ("--config", "training={'epochs': 2}")  # the example as written, trained for 2 epochs to keep CI short
    plan = snakemake(workdir, "-n", *short, configfile=config)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert planned_jobs(plan.stdout + plan.stderr)["train"] == 4
    proc = snakemake(workdir, "--cores", "2", *short, configfile=config)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    by_aug = {}
    for marker in _markers(workdir, "monolithic"):
        by_aug.setdefault(marker["params"]["aug_name"], []).append(marker)
    assert sorted(by_aug) == ["noaug", "sizejitter"] and all(len(v) == 2 for v in by_aug.values())
    jittered = by_aug["sizejitter"][0]
    assert jittered["hparams"]["aug_name"] == "sizejitter" and jittered["epochs_run"] >= 1
    summary = workdir / "results" / "campaigns" / "sizejitter-example" / "campaign_summary" / "summary_flowpic_dim_32.csv"
    assert set(pd.read_csv(summary, header=[0, 1])[("aug_name", "Unnamed: 1_level_1")]) == {"noaug", "sizejitter"}


@pytest.mark.slow  # needs the example method campaign above
def test_editing_the_example_plugin_replans_its_runs_and_a_comment_edit_does_not(workdir):
    """A researcher iterating on a plugin never gets numbers from old code: a change to `execute` gives its runs new
    keys (planned again, the campaign's summaries rebuilt); a comment changes nothing."""
    import yaml

    plugin = workdir / "knn_method.py"
    plugin.write_text((EXAMPLES / "custom-method" / "knn_method.py").read_text())
    config = yaml.safe_load((EXAMPLES / "custom-method" / "config.yaml").read_text())
    config["plugins"] = [str(plugin)]
    path = workdir / "knn-edited.yaml"
    path.write_text(yaml.safe_dump(config))

    def planned_runs() -> int:
        plan = snakemake(workdir, "-n", configfile=path)
        assert plan.returncode == 0, plan.stderr[-3000:]
        return planned_jobs(plan.stdout + plan.stderr).get("train", 0)

    assert planned_runs() == 0  # the same code in another file: the same runs
    plugin.write_text(plugin.read_text().replace("        run.lap(\"train\")\n", "        # fitted\n        run.lap(\"train\")\n"))
    assert planned_runs() == 0
    plugin.write_text(plugin.read_text().replace('algorithm="brute"', 'algorithm="brute", p=1'))
    assert planned_runs() == 12
