"""`tcbench run contralearn-and-finetune` / `contralearn-pretrain` on the tiny dataset: a dim-64 run end to end, the
pre-training reused by a second finetune seed, and a wrong pre-training refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcbench.cli.main import cli

QUICK = ["--samples-per-class", "5", "--flowpic-dim", "64", "--cl-epochs", "2", "--ft-epochs", "2", "--no-dropout"]


def _run(*args: str) -> str:
    result = CliRunner().invoke(cli, ["run", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def simclr_results(tiny_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    results = tmp_path_factory.mktemp("simclr-results")
    _run("contralearn-and-finetune", "--dataset-dir", str(tiny_dataset), "--results-dir", str(results), *QUICK)
    return results


def test_dim64_run_pretrains_then_finetunes(simclr_results):
    (pretraining,) = (simclr_results / "pretrain").glob("*/marker.json")
    pre = json.loads(pretraining.read_text())
    assert pre["kind"] == "simclr-pretrain" and pre["params"]["flowpic_dim"] == 64 and pre["epochs_run"] == 2
    (marker_path,) = (simclr_results / "runs").glob("*/marker.json")
    marker = json.loads(marker_path.read_text())
    assert marker["hparams"]["flowpic_dim"] == 64 and marker["pretraining"]["pretrain_key"] == pretraining.parent.name
    assert set(marker["metrics"]["test-human"]) == {"loss", "acc", "precision", "recall", "f1"}
    assert 0 <= marker["metrics"]["test-script"]["acc"] <= 100


def test_second_finetune_seed_reuses_the_pretraining(simclr_results, tiny_dataset):
    (pretraining,) = (simclr_results / "pretrain").glob("*/marker.json")
    before = pretraining.stat().st_mtime_ns
    _run("contralearn-and-finetune", "--dataset-dir", str(tiny_dataset), "--results-dir", str(simclr_results),
         "--ft-seed", "7", *QUICK)
    assert pretraining.stat().st_mtime_ns == before
    assert len(list((simclr_results / "runs").glob("*/marker.json"))) == 2
    assert len(list((simclr_results / "pretrain").glob("*/marker.json"))) == 1


def test_a_pretraining_of_other_settings_is_refused(simclr_results, tiny_dataset):
    (pretraining,) = (simclr_results / "pretrain").glob("*/marker.json")
    result = CliRunner().invoke(cli, ["run", "contralearn-and-finetune", "--dataset-dir", str(tiny_dataset),
                                      "--results-dir", str(simclr_results), "--pretrain-dir", str(pretraining.parent),
                                      *QUICK, "--cl-projection-layer-dim", "84"])
    assert result.exit_code == 2
    assert "holds pre-training" in result.output and pretraining.parent.name in result.output


def test_bad_view_augmentation_is_a_usage_error(tiny_dataset, tmp_path):
    result = CliRunner().invoke(cli, ["run", "contralearn-pretrain", "--dataset-dir", str(tiny_dataset),
                                      "--results-dir", str(tmp_path), "--cl-aug-names", "changertt,noaug"])
    assert result.exit_code == 2 and "noaug" in result.output
    assert not (tmp_path / "pretrain").exists()


def test_a_dim1500_run_takes_the_sparse_full_net_and_says_so(tiny_dataset, tmp_path):
    """SimCLR at dim 1500 on CPU: the views, the pre-training, the finetune and the tests go through the sparse Full
    net, and the pre-training and the run record it."""
    _run("contralearn-and-finetune", "--dataset-dir", str(tiny_dataset), "--results-dir", str(tmp_path),
         "--samples-per-class", "5", "--flowpic-dim", "1500", "--cl-epochs", "1", "--ft-epochs", "1", "--no-dropout")
    (pretraining,) = (tmp_path / "pretrain").glob("*/marker.json")
    (run,) = (tmp_path / "runs").glob("*/marker.json")
    for marker in (json.loads(pretraining.read_text()), json.loads(run.read_text())):
        assert marker["full_net"]["path"] == "sparse" and marker["params"]["flowpic_dim"] == 1500
