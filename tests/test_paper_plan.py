"""The paper as a target: every experiment of the paper is a campaign config naming its published table, one config
joins them into one plan (shared runs train once), and the cost model prices it (tcbench.campaign.paper, .cost)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tcbench.campaign.compose import SCHEMA, complete_config
from tcbench.campaign.config import ConfigError
from tcbench.campaign.cost import CostModel, FinishedRun, Job, calibrated, makespan, project, shipped_defaults
from tcbench.campaign.paper import load_paper
from tcbench.campaign.report_plan import published_tables
from tcbench.cli.main import cli

ROOT = Path(__file__).resolve().parents[1]
CAMPAIGNS = ROOT / "config" / "campaigns"
PAPER = ROOT / "config" / "paper.yaml"
#: Published tables of the paper that no campaign rebuilds, and why.
NOT_REBUILT = {"imc23-table9": "re-runs the original ICDM19 code, not tcbench"}


def _paper() -> dict:
    return yaml.safe_load(PAPER.read_text())


def test_every_campaign_names_its_published_table_and_the_paper_lists_it():
    """Each campaign config names a published table (report.paper) and config/paper.yaml lists it under that table
    (or a figure); the paper config lists only existing files and every published table has a campaign."""
    listed = {name: table for table, files in _paper()["campaigns"].items() for name in files}
    tables = published_tables()
    for path in sorted(CAMPAIGNS.glob("*.yaml")):
        config = yaml.safe_load(path.read_text())
        paper = config.get("report", {}).get("paper")
        assert paper in tables, f"{path.name}: report.paper {paper!r} is not a published table"
        name = f"config/campaigns/{path.name}"
        assert name in listed, f"{path.name} is missing from config/paper.yaml"
        under = [t for t, files in _paper()["campaigns"].items() if name in files]
        assert paper in under or any(t.startswith("imc23-figure") for t in under), (path.name, under)
    assert all((ROOT / name).is_file() for name in listed)
    assert set(tables) - set(_paper()["campaigns"]) <= set(NOT_REBUILT)


def test_paper_plan_shares_runs_and_skips_missing_imports():
    plan = load_paper(_paper(), SCHEMA, [ROOT])
    projection = project(plan.campaigns, plan.tables, 2, model=CostModel())
    assert projection.tables["imc23-table4"] == (315, 0) and projection.tables["imc23-figure11"] == (420, 0)
    assert projection.tables["imc23-table6"] == (750, 150)  # 6 pairs x 125; the changertt + timeshift pair is table 5's
    # table 3 45 + table 4 315 + figure 11 210 more + table 5 500 + table 6 625 more + table 7 160
    assert (projection.runs, projection.pre_steps) == (1855, 245)
    assert sorted(s.campaign_id for s in plan.skipped) == ["imc23-mirage19-minpkts10", "imc23-mirage22-minpkts10",
                                                           "imc23-mirage22-minpkts1000", "imc23-utmobilenet21-minpkts10"]
    assert all("tcbench datasets import" in s.reason for s in plan.skipped)
    assert projection.seconds / 3600 <= 10  # the target: the whole ucdavis paper in at most 10 hours on 2 cores


@pytest.mark.parametrize("change, message", [
    ({"grid": {"seed": [1]}}, r"\['grid'\] in a paper config .* valid keys"),
    ({"campaigns": {"imc23-table4": ["config/campaigns/nope.yaml"]}}, r"campaigns.imc23-table4: config/campaigns/nope.yaml: no such"),
    ({"campaigns": {"imc23-table4": []}}, r"campaigns.imc23-table4: \[\] is empty"),
])
def test_paper_config_errors_are_one_line(change, message):
    with pytest.raises(ConfigError, match=message):
        load_paper({**_paper(), **change}, SCHEMA, [ROOT])


def test_paper_dry_run_lists_tables_total_and_projection(tmp_path):
    result = CliRunner().invoke(cli, ["campaign", "paper", "--dry-run", "--cores", "2", "--configfile", str(PAPER),
                                      "--directory", str(ROOT)])
    assert result.exit_code == 0, result.output
    for table in ("imc23-table3", "imc23-table4", "imc23-table5", "imc23-table6", "imc23-table7", "imc23-figure11"):
        assert table in result.output
    assert "total                    1855            245" in result.output
    assert "projected wall time with --cores 2:" in result.output and "cost model: " in result.output
    assert "skipped: imc23-mirage19-minpkts10" in result.output


def test_the_readme_shows_what_the_paper_dry_run_prints_in_a_new_project(tmp_path):
    """The README's sample of the paper dry run (a project without runs: the shipped cost defaults) is the output of
    the command, line for line up to the skipped campaigns: a change of the plan or of the defaults shows here."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("```\ntable           distinct runs")
    sample = readme[start + 4:readme.index("```", start + 4)].splitlines()
    shown = [line for line in sample if not line.startswith("skipped: ")]
    result = CliRunner().invoke(cli, ["campaign", "paper", "--dry-run", "--cores", "2", "--configfile", str(PAPER),
                                      "--directory", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    first = lines.index(shown[0])
    assert lines[first:first + len(shown)] == shown


# ------------------------------------------------------------------------------------------------- the cost model
def test_makespan_respects_cores_threads_and_pre_steps():
    jobs = [Job("pre", 10.0), *(Job(f"ft{i}", 2.0, after=("pre",)) for i in range(4)), Job("other", 10.0)]
    # 2 cores: the pre-step and the other run side by side, then the four finetunes two at a time
    assert makespan(jobs, 2, overhead=0.0) == pytest.approx(14.0)
    assert makespan(jobs, 1, overhead=0.0) == pytest.approx(28.0)
    assert makespan([Job("a", 5.0, cores=2), Job("b", 5.0, cores=2)], 2, overhead=0.0) == pytest.approx(10.0)
    # a job asking for more cores than there are gets them all
    assert makespan([Job("a", 5.0, cores=8)], 2, overhead=0.0) == pytest.approx(5.0)
    # GPU jobs share one GPU; CPU jobs run beside them
    assert makespan([Job("g1", 4.0, gpus=1), Job("g2", 4.0, gpus=1), Job("c", 4.0)], 4, gpus=1, overhead=0.0) == 8.0


def test_costs_follow_dim_augmentation_training_set_and_device():
    model = CostModel()
    base = {"method": "monolithic", "flowpic_dim": 32, "aug_name": "noaug", "split_index": 0, "test_leftover": True}
    seconds = model.run_seconds(base, "cpu")
    assert model.run_seconds({**base, "flowpic_dim": 1500}, "cpu") > 3 * seconds
    assert model.run_seconds({**base, "aug_name": "changertt"}, "cpu") > 2 * seconds
    assert model.run_seconds({**base, "split_index": -1}, "cpu") > 3 * seconds
    assert model.run_seconds(base, "cuda:0") != seconds
    assert model.source.startswith("shipped defaults")


def test_a_factor_can_depend_on_another_feature_the_most_specific_entry_winning():
    """The larger training set costs more with an augmentation applied at loading (per training sample): a factor
    table keyed by two features prices each pair, and a value it does not list (a plugin augmentation) gets the
    first feature's entry."""
    from tcbench.campaign.cost import cell_and_factor

    spec = {"cell_by": ["dim", "aug"], "cells": {"32 noaug": 5.0, "32 rotate": 10.0},
            "factors": {"train aug": {"split": 1.0, "larger": 6.0, "larger rotate": 9.0}, "leftover": {"false": 0.5}}}
    features = {"dim": "32", "aug": "rotate", "train": "larger", "leftover": "true"}
    assert cell_and_factor(spec, features) == ("32 rotate", 9.0)
    assert cell_and_factor(spec, {**features, "aug": "mine"}) == ("32 mine", 6.0)
    assert cell_and_factor(spec, {**features, "train": "split", "leftover": "false"}) == ("32 rotate", 0.5)
    assert cell_and_factor(spec, {**features, "train": "other"}) == ("32 rotate", 1.0)
    model = CostModel()
    run = {"method": "monolithic", "flowpic_dim": 32, "split_index": -1, "test_leftover": False}
    noaug, changertt = (model.run_seconds({**run, "aug_name": a}, "cpu") for a in ("noaug", "changertt"))
    assert changertt / noaug > 2 * 14.6 / 5.3  # the shipped cells alone would give 2.75x


def test_calibration_needs_enough_runs_and_says_so():
    features = {"dim": "32", "aug": "noaug", "train": "split", "leftover": "true", "device": "cpu"}
    measured = 2 * CostModel().seconds("monolithic", features)  # this machine: twice the shipped figure
    few = [FinishedRun("monolithic", features, measured)] * (shipped_defaults()["min_runs_to_calibrate"] - 1)
    assert calibrated(few, "cpu").source.startswith("shipped defaults")
    model = calibrated([*few, FinishedRun("monolithic", features, measured)], "cpu")
    assert model.source == f"calibrated from {len(few) + 1} runs finished on this machine"
    assert model.seconds("monolithic", features) == pytest.approx(measured)  # the cell's own median
    # a cell this machine never ran: the shipped figure times this machine's measured / shipped ratio (2x)
    other = {**features, "dim": "64"}
    assert model.seconds("monolithic", other) == pytest.approx(2 * CostModel().seconds("monolithic", other))
    # runs on another device kind do not calibrate a cpu plan
    assert calibrated([*few, *few], "cuda").source.startswith("shipped defaults")


# ------------------------------------------------------------------------------- projection against a real campaign
MIXED = {"dataset": {"name": "ucdavis-icdm19", "source": "synthetic", "synthetic": {"scale": 0.05}},
         "splits": {"n_splits": 2, "samples_per_class": 5},
         "training": {"epochs": 3, "test_leftover": False}, "report": {"metrics": ["acc"]}}


def _campaign(workdir: Path, campaign_id: str, grid: dict) -> float:
    config = workdir / f"{campaign_id}.yaml"
    config.write_text(yaml.safe_dump({"campaign_id": campaign_id, **MIXED, "grid": grid}))
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
                           "--cores", "2", "--configfile", str(config), "--config", "start_project=true"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return time.perf_counter() - t0


@pytest.mark.slow
def test_projection_of_a_mixed_campaign_is_within_30_percent(tmp_path):
    """A first campaign (12 runs) calibrates the model on this machine; a second of mixed dims and augmentations is
    projected for --cores 2, run, and its measured wall time is within 30 % of the projection."""
    _campaign(tmp_path, "calibrate", {"split_index": [0, 1], "aug_name": ["noaug", "rotate", "changertt"],
                                      "flowpic_dim": [32, 64], "seed": [1]})
    grid = {"split_index": [0, 1], "aug_name": ["noaug", "rotate", "changertt"], "flowpic_dim": [32, 64], "seed": [2]}
    config = complete_config(yaml.safe_load(yaml.safe_dump({"campaign_id": "mixed", **MIXED, "grid": grid,
                                                            "results_dir": str(tmp_path / "results")})))
    projection = project([config], None, 2, workdir=tmp_path)
    assert projection.source.startswith("calibrated from 12 runs")
    measured = _campaign(tmp_path, "mixed", grid)
    # the projection holds the run jobs and the campaign's steps (its dataset is already built)
    assert abs(measured - projection.seconds) <= 0.3 * projection.seconds, (measured, projection.seconds, json.dumps(
        projection.tables))


def test_progress_eta_weighs_the_runs_left_by_their_cost():
    """The progress line's ETA: the projected seconds of the runs Snakemake has not reported finished, over the
    cores, scaled by how fast the finished ones went against their projection."""
    from tcbench.campaign.progress import StepProgress

    progress = StepProgress(started=0.0, costs={"a" * 16: 10.0, "b" * 16: 100.0}, cores=1)
    assert progress.eta_seconds(0.0) == pytest.approx(110.0)
    for line in ["rule train:", "    jobid: 7", f"    wildcards: run_key={'a' * 16}", "Finished jobid: 7 (Rule: train)",
                 "1 of 3 steps (33%) done"]:
        progress.update(line)
    assert progress.eta_seconds(20.0) == pytest.approx(100.0 * 2)  # the cheap run took twice its projection


def test_a_finished_campaign_is_priced_at_nothing_and_its_steps_only_with_work_left(tmp_path):
    """Every run done and the page written: Snakemake has nothing to do, so the projection is 0 s. Without the page
    (or with one run left) the campaign's steps are priced again."""
    from tcbench.campaign.cost import marker_path
    from tcbench.campaign.folder import REPORT_PAGE, campaign_folder
    from tcbench.campaign.grid import campaign_runs
    from tcbench.data.sources import dataset_paths

    config = complete_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()))
    results = tmp_path / config["results_dir"]
    (tmp_path / dataset_paths(config).root).mkdir(parents=True)  # no dataset step either
    runs = campaign_runs(config)
    for spec in runs:
        marker_path(results, spec.run_key, spec.params).parent.mkdir(parents=True)
        marker_path(results, spec.run_key, spec.params).write_text("{}")
    page = campaign_folder(results, config["campaign_id"]) / REPORT_PAGE
    page.parent.mkdir(parents=True)
    page.write_text("")
    model = CostModel()
    assert project([config], None, 2, model=model, workdir=tmp_path).seconds == 0
    page.unlink()
    steps_only = project([config], None, 2, model=model, workdir=tmp_path).seconds
    assert steps_only > 0
    page.write_text("")
    marker_path(results, runs[0].run_key, runs[0].params).unlink()
    assert project([config], None, 2, model=model, workdir=tmp_path).seconds > steps_only
