"""Campaign grid and content keys: order, counts, key stability and sensitivity (bad configs: test_config_errors.py)."""

import copy

import pytest
import yaml
from test_workflow import ROOT

from tcbench.campaign.config import ConfigError
from tcbench.campaign.grid import campaign_runs
from tcbench.methods import get_method
from tcbench.runs.identity import run_key, run_params


@pytest.fixture()
def config():
    from snakemake.utils import validate

    cfg = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    validate(cfg, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"), set_default=True)
    return cfg


def test_grid_order_and_one_based_index(config):
    runs = campaign_runs(config)
    assert len(runs) == 2 * 1 * 2 * 3
    assert [r.campaign_exp_idx for r in runs] == list(range(1, 13))
    first, second, fourth = runs[0].params, runs[1].params, runs[3].params
    assert (first["split_index"], first["flowpic_dim"], first["seed"]) == (0, 32, 12345)
    assert second["seed"] == 42  # seeds vary fastest, as itertools.product(splits, augs, dims, seeds)
    assert (fourth["flowpic_dim"], fourth["seed"]) == (64, 12345)
    assert len({r.run_key for r in runs}) == len(runs)


def test_run_key_is_stable_and_type_normalised(config):
    a = campaign_runs(config)[0]
    cfg = copy.deepcopy(config)
    cfg["training"]["flowpic_block_duration"] = 15.0  # YAML 15 vs 15.0
    cfg["training"]["learning_rate"] = 1e-3
    assert campaign_runs(cfg)[0].run_key == a.run_key
    assert len(a.run_key) == 16 and int(a.run_key, 16) >= 0


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [("training", "epochs", 7), ("training", "with_dropout", False), ("training", "learning_rate", 0.01),
     ("splits", "samples_per_class", 50), ("dataset", "synthetic", {"seed": 1, "scale": 1.0, "lookalikes": True})],
)
def test_result_relevant_changes_change_the_key(config, section, key, value):
    cfg = copy.deepcopy(config)
    cfg[section][key] = value
    assert campaign_runs(cfg)[0].run_key != campaign_runs(config)[0].run_key


def test_execution_settings_do_not_change_the_key(config):
    cfg = copy.deepcopy(config)
    cfg["resources"] = {"device": "cuda", "threads_per_run": 2}
    cfg["campaign_id"] = "other"
    assert [r.run_key for r in campaign_runs(cfg)] == [r.run_key for r in campaign_runs(config)]


def test_cli_options_hash_to_the_workflow_key(config):
    """A run started by hand with the command line's defaults lands in the same content-addressed folder."""
    from tcbench.cli.run import method_command

    spec = campaign_runs(config)[0]
    command = method_command("monolithic", [get_method("monolithic")])
    ctx = command.make_context("monolithic", ["--dataset-dir", str(ROOT), "--split-index", "0", "--seed", "12345",
                                              "--flowpic-dim", "32"])
    method = get_method("monolithic")
    values = {p.name: ctx.params[p.name] for p in method.params()}
    assert run_key(run_params(method, spec.params["dataset"], spec.params["splits"], values)) == spec.run_key


def test_duplicate_grid_values_are_rejected(config):
    cfg = copy.deepcopy(config)
    cfg["grid"]["seed"] = [1, 1]
    with pytest.raises(ValueError, match="repeats run"):
        campaign_runs(cfg)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("imc23-ucdavis-xgboost-pktseries.yaml", 30), ("imc23-ucdavis-xgboost-flowpic.yaml", 15)],
)
def test_paper_campaigns_plan_the_papers_run_counts(name, expected):
    from tcbench.campaign.compose import complete_config

    config = complete_config(yaml.safe_load((ROOT / "config" / "campaigns" / name).read_text()))
    assert len(campaign_runs(config)) == expected


def test_xgboost_keys_ignore_cnn_settings(config):
    """Changing a CNN-only setting (epochs) must not re-run XGBoost runs."""
    from tcbench.campaign.compose import complete_config

    xgb = complete_config(yaml.safe_load((ROOT / "config" / "campaigns" / "imc23-ucdavis-xgboost-pktseries.yaml").read_text()))
    changed = copy.deepcopy(xgb)
    changed["training"]["epochs"] = 3
    assert [r.run_key for r in campaign_runs(changed)] == [r.run_key for r in campaign_runs(xgb)]


def test_job_parameters_round_trip_through_json(config):
    """A Snakemake job hands the run its parameters once, as canonical JSON: they parse back to the same key."""
    import json

    from tcbench.runs.identity import canonical_json

    for spec in campaign_runs(config):
        params = json.loads(canonical_json(spec.params))
        get_method(params["method"]).validate(params)
        assert run_key(params) == spec.run_key


def test_paper_augment_at_loading_campaign_plans_315_train_jobs(table4_dry_run):
    """`snakemake -n --configfile <paper config>` (conftest.table4_dry_run) reports 315 train jobs (the original's
    default grid)."""
    from test_workflow import planned_jobs

    proc = table4_dry_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert planned_jobs(proc.stdout + proc.stderr)["train"] == 315


@pytest.mark.parametrize(
    ("name", "expected"),
    [("imc23-ucdavis-augment-at-loading-dropout-impact.yaml", 420), ("imc23-ucdavis-larger-trainset.yaml", 140)],
)
def test_other_paper_campaigns(name, expected):
    from tcbench.campaign.compose import complete_config

    config = complete_config(yaml.safe_load((ROOT / "config" / "campaigns" / name).read_text()))
    assert len(campaign_runs(config)) == expected


@pytest.mark.parametrize(
    ("args", "lines"),
    [
        ([], ["split_indexes (5): [0, 1, 2, 3, 4]", "flowpic_dims  (3): [32, 64, 1500]", "seeds         (3): [12345, 42, 666]",
              "total runs: 315"]),
        (["--method", "xgboost", "--input-repr", "pktseries"], ["max_n_pkts    (2): [10, 30]", "total runs: 30"]),
        (["--augmentations", "noaug,changertt", "--flowpic-dims", "32", "--max-train-splits", "2"], ["total runs: 12"]),
    ],
)
def test_campaign_dry_run_prints_the_composition(args, lines):
    from click.testing import CliRunner

    from tcbench.cli.main import cli

    result = CliRunner().invoke(cli, ["campaign", "augment-at-loading", "--dry-run", *args])
    assert result.exit_code == 0, result.output
    for line in lines:
        assert line in result.output


def test_campaign_dry_run_rejects_unknown_augmentation():
    from click.testing import CliRunner

    from tcbench.cli.main import cli

    result = CliRunner().invoke(cli, ["campaign", "augment-at-loading", "--dry-run", "--augmentations", "noaug,mixup"])
    assert result.exit_code == 2
    assert "'mixup' is not valid" in result.output


def test_contralearn_campaign_dry_run_prints_the_original_composition():
    from click.testing import CliRunner

    from tcbench.cli.main import cli

    result = CliRunner().invoke(cli, ["campaign", "contralearn-and-finetune", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "contrastive learning seeds (5): [12345, 1, 2, 3, 4]" in result.output
    assert "pre-trainings: 25" in result.output and "total runs: 125" in result.output
    result = CliRunner().invoke(cli, ["campaign", "contralearn-and-finetune", "--dry-run", "--dropout", "enabled,disabled",
                                      "--cl-projection-layer-dims", "30,84"])
    assert result.exit_code == 0, result.output
    assert "total runs: 500" in result.output and "pre-trainings: 100" in result.output


@pytest.mark.parametrize("name", ["imc23-mirage19-minpkts10.yaml", "imc23-mirage22-minpkts10.yaml",
                                  "imc23-mirage22-minpkts1000.yaml", "imc23-utmobilenet21-minpkts10.yaml"])
def test_table8_campaigns_need_the_import_then_plan_105_runs(name, tmp_path):
    """Table 8 configs: without the imported dataset the plan stops with the import command; with it, 105 runs."""
    import json

    from tcbench.campaign.compose import complete_config
    from tcbench.data.sources import dataset_paths

    raw = yaml.safe_load((ROOT / "config" / "campaigns" / name).read_text())
    raw["datasets_dir"] = str(tmp_path)
    # The mirage campaigns fetch their archive first (tests/test_fetch.py); without fetch: true, planning stops.
    assert raw["dataset"].pop("fetch", False) is name.startswith("imc23-mirage")
    with pytest.raises(ConfigError, match=f"tcbench datasets import {raw['dataset']['name']}"):
        complete_config(copy.deepcopy(raw))
    config = copy.deepcopy(raw)
    paths = dataset_paths({**config, "dataset": {**config["dataset"]}})
    for path in (paths.parquet, paths.index_splits):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    (paths.root / "dataset.json").write_text(json.dumps({"name": raw["dataset"]["name"], "source": "imported", "sha256": "0"}))
    runs = campaign_runs(complete_config(config))
    assert len(runs) == 105 and runs[0].params["dataset"]["min_pkts"] == raw["dataset"]["min_pkts"]
