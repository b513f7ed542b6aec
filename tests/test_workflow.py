"""End to end: the real Snakemake workflow on a tiny config, read back through the AIM SDK and the CSV files."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
TINY_CONFIG = {
    "campaign_id": "tiny",
    "dataset": {"name": "ucdavis-icdm19", "source": "synthetic", "synthetic": {"seed": 12345, "scale": 0.05, "lookalikes": True}},
    "splits": {"n_splits": 5, "samples_per_class": 5},
    "grid": {"split_index": [0, 1], "aug_name": ["noaug"], "flowpic_dim": [32], "seed": [12345, 42]},
    # aug_samples (part of every run's key; a noaug run makes no copies): that of test_report_workflow's two-augs
    # campaign, which reuses these runs as its noaug half (conftest.two_augs_campaign)
    "training": {"epochs": 3, "aug_samples": 3},
}


def snakemake(workdir: Path, *args: str, configfile: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir), *args]
    if configfile is not None:
        cmd += ["--configfile", str(configfile)]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)


def planned_jobs(output: str) -> dict[str, int]:
    """The 'Job stats' table of a dry run as {rule: count}."""
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", output, flags=re.M)}


@pytest.fixture(scope="module")
def campaign(tiny_campaign: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's finished tiny campaign (conftest.tiny_campaign), copied: the tests below add configs, campaigns
    and Snakemake records to this folder."""
    from conftest import copy_campaign

    return copy_campaign(tiny_campaign, tmp_path_factory.mktemp("tiny"))


def test_dry_run_of_default_config_plans_one_train_job_per_grid_point(tmp_path):
    proc = snakemake(tmp_path, "-n", configfile=ROOT / "config" / "config.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    grid = config["grid"]
    expected = len(grid["split_index"]) * len(grid["aug_name"]) * len(grid["flowpic_dim"]) * len(grid["seed"])
    jobs = planned_jobs(proc.stdout + proc.stderr)
    assert jobs["train"] == expected
    assert jobs["flowpics"] == len(grid["flowpic_dim"])


def test_merged_aim_repo_lists_every_run(campaign):
    from aim import Repo

    repo = Repo(str(campaign / "results" / "campaigns" / "tiny" / "aim"))
    runs = list(repo.iter_runs())
    assert len(runs) == 4
    labels = sorted((run["hparams"]["campaign_id"], run["hparams"]["campaign_exp_idx"]) for run in runs)
    assert labels == [("tiny", 1), ("tiny", 2), ("tiny", 3), ("tiny", 4)]
    for run in runs:
        assert run["hparams"]["flowpic_dim"] == 32 and run["hparams"]["aug_name"] == "noaug"
        contexts = {seq.context.to_dict()["subset"] for seq in run.metrics()}
        assert contexts == {"train", "val", "test-script", "test-human", "test-train-val-leftover"}
        names = {seq.name for seq in run.metrics()}
        assert {"acc", "loss", "precision", "recall", "f1", "best_epoch", "best_loss"} <= names
        assert (campaign / "results" / "campaigns" / "tiny" / "aim" / "artifacts" / run.hash / "params.yml").exists()


def test_summary_csv_has_expected_groups_and_counts(campaign):
    out = campaign / "results" / "campaigns" / "tiny" / "campaign_summary"
    summary = pd.read_csv(out / "summary_flowpic_dim_32.csv", header=[0, 1])
    contexts = summary[("test_split_name", "Unnamed: 0_level_1")].tolist()
    assert contexts == ["test-human", "test-script", "test-train-val-leftover"]
    assert (summary[("acc", "count")] == 4).all()
    assert summary[("acc", "mean")].between(0, 100).all()
    runsinfo = pd.read_parquet(out / "runsinfo_flowpic_dim_32.parquet")
    assert len(runsinfo) == 4 * 3 and runsinfo["run_key"].nunique() == 4


def test_markers_and_run_folders(campaign):
    markers = sorted((campaign / "results" / "runs").glob("*/marker.json"))
    assert len(markers) == 4
    for marker in markers:
        artifacts = marker.parent / "artifacts"
        assert (artifacts / "params.yml").exists() and (artifacts / "log.txt").exists()
        assert (artifacts / "test-human_conf_mtx.csv").exists()


def test_rerun_trains_nothing(campaign):
    proc = snakemake(campaign, "-n", configfile=campaign / "tiny.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Nothing to be done" in proc.stdout + proc.stderr, proc.stdout[-3000:]


def test_changing_one_hyperparameter_replans_exactly_the_affected_runs(campaign):
    config = yaml.safe_load((campaign / "tiny.yaml").read_text())
    config["grid"]["seed"] = [12345, 7]  # two of the four runs change
    config["campaign_id"] = "tiny-seed7"  # the id "tiny" names the first grid
    changed = campaign / "changed.yaml"
    changed.write_text(yaml.safe_dump(config))
    proc = snakemake(campaign, "-n", configfile=changed)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert planned_jobs(proc.stdout + proc.stderr)["train"] == 2


@pytest.mark.slow  # a second campaign for real (23 s): keeps `make test` from growing with the fetch and paper tests
def test_a_campaign_id_names_one_grid(campaign, tmp_path):
    """Another grid under a used campaign id is refused before anything runs, naming the differences and the ways
    on; replace_campaign moves the old folder aside (a dry run only says so), so the folder never mixes two grids."""
    import shutil

    config = yaml.safe_load((campaign / "tiny.yaml").read_text())
    config["grid"]["seed"] = [12345, 7]
    changed = campaign / "same-id.yaml"
    changed.write_text(yaml.safe_dump(config))
    folder = campaign / "results" / "campaigns" / "tiny"
    before = sorted(p.name for p in folder.rglob("*"))
    refused = snakemake(campaign, "-n", configfile=changed)
    said = refused.stdout + refused.stderr
    assert refused.returncode != 0 and "Traceback" not in said
    assert ("campaign_id tiny: results/campaigns/tiny holds the results of another grid (grid.seed: [12345, 42] -> "
            "[12345, 7]); use a new campaign_id, or --config replace_campaign=true") in said
    dry = snakemake(campaign, "-n", "--config", "replace_campaign=true", configfile=changed)
    assert dry.returncode == 0 and "replace_campaign: would move results/campaigns/tiny" in dry.stdout
    assert sorted(p.name for p in folder.rglob("*")) == before

    # The real replacement, on a copy of the finished campaign: only the 2 new runs train.
    work = tmp_path / "copy"
    shutil.copytree(campaign / "results", work / "results")
    shutil.copytree(campaign / "resources", work / "resources")
    done = snakemake(work, "--cores", "2", "--config", "replace_campaign=true", configfile=changed)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert planned_jobs(done.stdout + done.stderr)["train"] == 2
    (aside,) = (work / "results" / "campaigns").glob("tiny.replaced-*")
    assert sorted(p.name for p in aside.rglob("*")) == before
    record = json.loads((work / "results" / "campaigns" / "tiny" / "campaign.json").read_text())
    assert record["settings"]["grid"]["seed"] == [12345, 7]
    runsinfo = pd.read_parquet(work / "results" / "campaigns" / "tiny" / "campaign_summary" / "runsinfo_flowpic_dim_32.parquet")
    assert sorted(set(runsinfo["run_key"])) == record["run_keys"]
    again = snakemake(work, "-n", configfile=changed)  # the folder now names the new grid
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr, again.stdout[-6000:]


def test_campaign_command_runs_snakemake_with_a_named_profile_and_reports_progress(two_augs_campaign):
    """`tcbench campaign ... --profile local` from the campaign folder (the session's two-augs campaign is run so:
    conftest.two_augs_campaign): a new campaign id over partly trained runs (the tiny campaign's 4 noaug runs) trains
    only the 4 runs it lacks, then merges and summarises, with a progress line (steps, elapsed, ETA) after each step."""
    from conftest import CAMPAIGN_COMMAND_OUTPUT

    stdout = (two_augs_campaign / CAMPAIGN_COMMAND_OUTPUT).read_text()
    assert "--profile " + str(ROOT / "profiles" / "local") in stdout
    steps = re.findall(r"^\[campaign two-augs\] (\d+) of (\d+) steps, .* elapsed(, ETA .*)?$", stdout, flags=re.M)
    assert steps and steps[-1][0] == steps[-1][1] and not steps[-1][2]
    assert planned_jobs(stdout)["train"] == 4  # of 8 runs: the 4 finished ones are not trained again
    assert (two_augs_campaign / "results" / "campaigns" / "two-augs" / "aim_merge.json").exists()


XGB_CONFIG = {
    **{k: v for k, v in TINY_CONFIG.items() if k != "training"},
    "campaign_id": "tiny-xgb",
    "method": "xgboost",
    "experiment": "xgb_pktseries",
    "xgboost": {"flow_representation": "pktseries"},
    "grid": {"split_index": [0, 1], "seed": [12345], "max_n_pkts": [10, 30]},
}


@pytest.mark.slow  # 21 s; XGBoost through the workflow stays in `make test`: test_report_workflow's across_methods campaign
def test_xgboost_campaign_end_to_end(tmp_path):
    """XGBoost runs go through the same workflow: per-run AIM repos, markers, merge and max_n_pkts summaries."""
    config = tmp_path / "xgb.yaml"
    config.write_text(yaml.safe_dump(XGB_CONFIG))
    proc = snakemake(tmp_path, "--cores", "2", configfile=config)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    out = tmp_path / "results" / "campaigns" / "tiny-xgb" / "campaign_summary"
    for n in (10, 30):
        summary = pd.read_csv(out / f"summary_max_n_pkts_{n}.csv", header=[0, 1])
        assert (summary[("acc", "count")] == 2).all()
    markers = sorted((tmp_path / "results" / "runs").glob("*/marker.json"))
    assert len(markers) == 4
    marker = yaml.safe_load(markers[0].read_text())
    assert marker["method"] == "xgboost" and marker["hparams"]["flow_representation"] == "pktseries"
    assert {"acc", "precision", "recall", "f1", "duration"} <= set(marker["metrics"]["test-human"])
    artifacts = markers[0].parent / "artifacts"
    assert any(p.name.startswith("xgb_model_split_") for p in artifacts.iterdir())


@pytest.mark.slow  # 37 s; each augmentation is checked in test_augment*.py, noaug and changertt through the workflow in
# test_report_workflow's two-augs campaign
def test_all_seven_augmentations_campaign(tmp_path):
    """A small real campaign with every augmentation at dim 32; its summary lists each augmentation."""
    from tcbench.augment import AUGMENTATIONS

    config = {**TINY_CONFIG, "campaign_id": "tiny-augs",
              "grid": {"split_index": [0], "aug_name": list(AUGMENTATIONS), "flowpic_dim": [32], "seed": [12345]},
              "training": {"epochs": 2, "aug_samples": 3}}
    path = tmp_path / "augs.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = snakemake(tmp_path, "--cores", "2", configfile=path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    summary = pd.read_csv(tmp_path / "results" / "campaigns" / "tiny-augs" / "campaign_summary" / "summary_flowpic_dim_32.csv",
                          header=[0, 1])
    assert set(summary[("aug_name", "Unnamed: 1_level_1")]) == set(AUGMENTATIONS)
    for marker in (tmp_path / "results" / "runs").glob("*/marker.json"):
        log = (marker.parent / "artifacts" / "log.txt").read_text()
        aug = yaml.safe_load(marker.read_text())["hparams"]["aug_name"]
        copies = {"noaug": 0, "horizontalflip": 1}.get(aug, 2)
        # 5 classes x samples_per_class 5 x 0.8 = 20 training flows, plus their copies
        assert f"train 20 ({20 * (copies + 1)} with copies)" in log, log[:500]


def test_aimrepo_report_on_the_merged_repo_equals_the_workflow_summary(campaign, tmp_path):
    """`tcbench aimrepo report` (reads AIM) and the summary rule (reads markers) give identical files."""
    from click.testing import CliRunner

    from tcbench.cli.main import cli

    repo = campaign / "results" / "campaigns" / "tiny" / "aim"
    result = CliRunner().invoke(cli, ["aimrepo", "report", "--aim-repo", str(repo), "--output-folder", str(tmp_path)])
    assert result.exit_code == 0, result.output
    ours = (tmp_path / "campaign_summary" / "tiny" / "summary_flowpic_dim_32.csv").read_text()
    workflow = (campaign / "results" / "campaigns" / "tiny" / "campaign_summary" / "summary_flowpic_dim_32.csv").read_text()
    assert ours == workflow


def test_plots_and_html_report(campaign):
    """The campaign leaves accuracy and confusion-matrix PNGs, and `snakemake --report` embeds them."""
    plots = campaign / "results" / "campaigns" / "tiny" / "plots"
    names = sorted(p.name for p in plots.glob("*.png"))
    assert (plots / "summary_flowpic_dim_32.html").read_text().count("<tr") >= 4
    assert names == ["accuracy.png", "confusion_test-human_flowpic_dim_32.png", "confusion_test-script_flowpic_dim_32.png",
                     "confusion_test-train-val-leftover_flowpic_dim_32.png"]
    assert all((plots / n).read_bytes().startswith(b"\x89PNG") for n in names)
    report = campaign / "report.html"
    proc = snakemake(campaign, "--report", str(report), configfile=campaign / "tiny.yaml")
    assert proc.returncode == 0, proc.stderr[-3000:]
    html = report.read_text(errors="replace")
    assert "accuracy.png" in html and "summary_flowpic_dim_32.html" in html


def test_relabelled_campaigns_and_upgrades_never_retrain_finished_runs(campaign):
    """Identity vs labels: a campaign with another id and AIM experiment sharing the 4 runs plans only its 2 new
    ones, also when Snakemake's records of the finished jobs say they were made by another job command with other
    params (an older tcbench); `tcbench campaign status` agrees with the plan."""
    import json
    from base64 import urlsafe_b64encode

    from click.testing import CliRunner

    from tcbench.cli.main import cli

    other = {**TINY_CONFIG, "campaign_id": "relabelled", "experiment": "augmentations-at-loading",
             "grid": {**TINY_CONFIG["grid"], "seed": [12345, 42, 7]}}
    config = campaign / "relabelled.yaml"
    config.write_text(yaml.safe_dump(other))
    metadata = campaign / ".snakemake" / "metadata"
    finished = sorted((campaign / "results" / "runs").glob("*/marker.json"))
    assert len(finished) == 4
    for marker in finished:
        output = str(marker.relative_to(campaign))
        record = {"rule": "train", "code": "tcbench run {params.args} --experiment {params.experiment} > {log} 2>&1",
                  "params": ["'augmentation-at-loading'", "'augment-at-loading --seed 1'"], "record_format_version": 6,
                  "input": [], "incomplete": False}
        (metadata / urlsafe_b64encode(output.encode()).decode()).write_text(json.dumps(record))
    plan = snakemake(campaign, "-n", configfile=config)
    assert plan.returncode == 0, plan.stderr[-3000:]
    assert planned_jobs(plan.stdout + plan.stderr)["train"] == 2
    status = CliRunner().invoke(cli, ["campaign", "status", "--configfile", str(config), "--directory", str(campaign),
                                      "--all", "--json"])
    assert status.exit_code == 0, status.output
    states = [json.loads(line)["state"] for line in status.output.splitlines()]
    assert sorted(states) == ["done"] * 4 + ["pending"] * 2


SIMCLR_CONFIG = {
    **{k: v for k, v in TINY_CONFIG.items() if k != "training"},
    "campaign_id": "tiny-simclr",
    "method": "simclr",
    "grid": {"split_index": [0], "contrastive_learning_seed": [12345], "finetune_seed": [12345, 1], "flowpic_dim": [32],
             "with_dropout": [False], "projection_layer_dim": [30]},
    "simclr": {"cl_epochs": 2, "ft_epochs": 3},
}


@pytest.mark.slow  # 18 s; one pre-training reused by each finetune seed is checked per run in test_simclr_run.py
def test_simclr_campaign_pretrains_once_and_finetunes_each_seed(tmp_path):
    """One pre-training job feeds both finetune seeds; runs are merged and summarised like the other methods."""
    from aim import Repo

    config = tmp_path / "simclr.yaml"
    config.write_text(yaml.safe_dump(SIMCLR_CONFIG))
    plan = snakemake(tmp_path, "-n", configfile=config)
    assert plan.returncode == 0, plan.stderr[-3000:]
    jobs = planned_jobs(plan.stdout + plan.stderr)
    assert jobs["pretrain"] == 1 and jobs["train"] == 2
    proc = snakemake(tmp_path, "--cores", "2", configfile=config)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    results = tmp_path / "results"
    (pretraining,) = (results / "pretrain").glob("*/marker.json")
    weights = pretraining.parent / "artifacts" / "best_model_weights_pretrain_split_0.pt"
    markers = sorted((results / "runs").glob("*/marker.json"))
    assert len(markers) == 2
    for marker_path in markers:
        marker = yaml.safe_load(marker_path.read_text())
        assert marker["method"] == "simclr" and marker["pretraining"]["pretrain_key"] == pretraining.parent.name
        assert {"test-human", "test-script", "contrastivelearning_train", "finetune_human_train"} <= set(marker["metrics"])
        artifacts = marker_path.parent / "artifacts"
        assert (artifacts / weights.name).read_bytes() == weights.read_bytes()
        assert {f"best_model_weights_finetune_{p}_from_split_0.pt" for p in ("human", "script")} <= {p.name for p in artifacts.iterdir()}

    runs = list(Repo(str(results / "campaigns" / "tiny-simclr" / "aim")).iter_runs())
    assert sorted(run["hparams"]["finetune_seed"] for run in runs) == [1, 12345]
    for run in runs:
        assert run.experiment == "contrastive-learning-and-finetune"
        contexts = {seq.context.to_dict()["subset"] for seq in run.metrics()}
        assert contexts == {"contrastivelearning_train", "contrastivelearning_val", "pretrain-train", "finetune_human_train",
                            "finetune_script_train", "finetune-train", "test-human", "test-script", "finetune-test"}
    summary = pd.read_csv(results / "campaigns" / "tiny-simclr" / "campaign_summary" / "summary_flowpic_dim_32.csv", header=[0, 1])
    assert summary[("test_split_name", "Unnamed: 0_level_1")].tolist() == ["test-human", "test-script"]
    assert (summary[("acc", "count")] == 2).all()
    assert (results / "campaigns" / "tiny-simclr" / "plots" / "confusion_test-human_flowpic_dim_32.png").exists()

    # An upgrade that changes the jobs' command (Snakemake's records say an older one made them) retrains nothing:
    # neither the finetunes nor the pre-training, whose marker is not a run marker.
    import json
    from base64 import urlsafe_b64encode

    for marker_path in (pretraining, *markers):
        output = str(marker_path.relative_to(tmp_path))
        record = {"rule": "pretrain" if marker_path == pretraining else "train", "code": "tcbench run job {params.run:q}",
                  "params": ["'{}'"], "record_format_version": 6, "input": [], "incomplete": False}
        (tmp_path / ".snakemake" / "metadata" / urlsafe_b64encode(output.encode()).decode()).write_text(json.dumps(record))
    again = snakemake(tmp_path, "-n", configfile=config)
    assert again.returncode == 0, again.stderr[-3000:]
    jobs = planned_jobs(again.stdout + again.stderr)
    assert jobs.get("pretrain", 0) == 0 and jobs.get("train", 0) == 0, jobs


@pytest.mark.slow  # 24 s; the import in test_import_ucdavis.py, "must be imported first" in
# test_other_datasets_must_be_imported_and_valid and test_config_errors.py
def test_campaign_runs_on_a_dataset_imported_from_raw_files(tmp_path, tiny_dataset):
    """`source: imported` needs the dataset imported first (the plan says how), then runs like the synthetic one."""
    from click.testing import CliRunner

    from tcbench.cli.main import cli
    from tcbench.data.importers.export import export_ucdavis_raw

    zips = export_ucdavis_raw(tiny_dataset / "ucdavis-icdm19.parquet", tmp_path / "raw")
    config = {**TINY_CONFIG, "campaign_id": "tiny-imported", "datasets_dir": str(tmp_path / "datasets"),
              "dataset": {"name": "ucdavis-icdm19", "source": "imported"},
              "grid": {"split_index": [0], "aug_name": ["noaug"], "flowpic_dim": [32], "seed": [12345, 42]},
              "training": {"epochs": 2}}
    path = tmp_path / "imported.yaml"
    path.write_text(yaml.safe_dump(config))
    plan = snakemake(tmp_path, "-n", configfile=path)
    assert plan.returncode != 0
    assert "tcbench datasets import ucdavis-icdm19 --raw" in plan.stdout + plan.stderr

    result = CliRunner().invoke(cli, ["datasets", "import", "ucdavis-icdm19", *[a for z in zips for a in ("--raw", str(z))],
                                      "--datasets-dir", str(tmp_path / "datasets"), "--no-progress"])
    assert result.exit_code == 0, result.output
    proc = snakemake(tmp_path, "--cores", "2", configfile=path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    info = yaml.safe_load((tmp_path / "datasets" / "ucdavis-icdm19" / "dataset.json").read_text())
    markers = sorted((tmp_path / "results" / "runs").glob("*/marker.json"))
    assert len(markers) == 2
    for marker_path in markers:
        params = yaml.safe_load(marker_path.read_text())["params"]
        assert params["dataset"] == info and info["source"] == "imported"
    summary = pd.read_csv(tmp_path / "results" / "campaigns" / "tiny-imported" / "campaign_summary" / "summary_flowpic_dim_32.csv",
                          header=[0, 1])
    assert (summary[("acc", "count")] == 2).all()


@pytest.mark.slow  # 23 s; the utmobilenet21 import and its splits in test_import_generated.py
def test_campaign_on_an_imported_utmobilenet21_uses_its_index_splits(tmp_path):
    """Another dataset than ucdavis-icdm19: its filtered variant, index splits, own classes and the `test` context."""
    from tcbench.data.importers import import_dataset
    from tcbench.data.importers.raw_fixtures import write_utmobilenet_folder

    write_utmobilenet_folder(tmp_path / "raw", captures_per_app=13, flows_per_capture=8, min_packets=11)
    imported = import_dataset("utmobilenet21", [tmp_path / "raw"], tmp_path / "datasets" / "utmobilenet21")
    assert {p.name for p in imported.derived} == {"utmobilenet21_filtered_minpkts10.parquet",
                                                   "utmobilenet21_filtered_minpkts10_splits.parquet"}
    config = {"campaign_id": "tiny-utmobilenet", "datasets_dir": str(tmp_path / "datasets"),
              "dataset": {"name": "utmobilenet21", "source": "imported", "min_pkts": 10},
              "grid": {"split_index": [0], "aug_name": ["noaug"], "flowpic_dim": [32], "seed": [12345]},
              "training": {"epochs": 2, "with_dropout": False}}
    path = tmp_path / "utmobilenet.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = snakemake(tmp_path, "--cores", "2", configfile=path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (marker_path,) = (tmp_path / "results" / "runs").glob("*/marker.json")
    marker = yaml.safe_load(marker_path.read_text())
    assert set(marker["metrics"]) == {"train", "val", "test"} and marker["params"]["dataset"]["min_pkts"] == 10
    assert marker["hparams"]["dataset"] == "utmobilenet21" and marker["hparams"]["dataset_minpkts"] == 10
    report = pd.read_csv(marker_path.parent / "artifacts" / "test_class_rep.csv")
    assert {"dropbox", "google-maps", "youtube"} <= set(report["index"])
    summary = pd.read_csv(tmp_path / "results" / "campaigns" / "tiny-utmobilenet" / "campaign_summary" / "summary_flowpic_dim_32.csv",
                          header=[0, 1])
    assert summary[("test_split_name", "Unnamed: 0_level_1")].tolist() == ["test"]
    assert (tmp_path / "results" / "campaigns" / "tiny-utmobilenet" / "plots" / "confusion_test_flowpic_dim_32.png").exists()


def test_other_datasets_must_be_imported_and_valid(tmp_path):
    from tcbench.campaign.compose import complete_config
    from tcbench.campaign.config import ConfigError

    def config(**dataset):
        return {"campaign_id": "x", "datasets_dir": str(tmp_path), "dataset": {"name": "mirage19", **dataset},
                "grid": {"split_index": [0], "aug_name": ["noaug"], "flowpic_dim": [32], "seed": [1]}}

    with pytest.raises(ConfigError, match="must be imported"):
        complete_config(config())
    with pytest.raises(ConfigError, match="valid values: \\[10\\]"):
        complete_config(config(source="imported", min_pkts=1000))
    with pytest.raises(ConfigError, match="tcbench datasets import mirage19"):
        complete_config(config(source="imported"))
