"""``tcbench aimrepo ls|properties|report`` on small AIM repos built with ``aim.Run`` (original-style layout)."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from tcbench.cli.main import cli
from tcbench.reporting.aim_table import aim_runs_table
from tcbench.tracking.aim_repo import forget_repo, init_run_repo
from tcbench.tracking.marker import MARKER_VERSION, write_marker

CAMPAIGN = "c1"
# (flowpic_dim, aug_name, seed, split_index) of the campaign runs, in grid order (campaign_exp_idx = i + 1)
GRID = [(32, "noaug", 1, 0), (32, "noaug", 2, 0), (32, "rotate", 1, 0), (32, "rotate", 2, 0), (64, "noaug", 1, 0), (64, "noaug", 2, 0)]


def _hparams(dim: int, aug: str, seed: int, split: int) -> dict:
    return {"flowpic_dim": dim, "flowpic_block_duration": 15, "aug_name": aug, "seed": seed, "split_index": split,
            "dataset": "ucdavis-icdm19", "learning_rate": 0.001, "with_dropout": True}


def _metrics(i: int, with_f1: bool = True) -> dict:
    out = {}
    for j, ctx in enumerate(("test-script", "test-human")):
        vals = {"acc": 90.0 + 1.5 * i - 20 * j + (i % 3) * 0.25}
        if with_f1:
            vals["f1"] = 0.8 + 0.01 * i - 0.1 * j
        out[ctx] = vals
    return out


def _track_run(repo: Path, hparams: dict, metrics: dict, run_key: str | None,
               tags: Sequence[str] = ()) -> tuple[str, float, float]:
    from aim import Run

    run = Run(repo=str(repo), experiment="augmentation-at-loading", system_tracking_interval=None,
              capture_terminal_logs=False, log_system_params=False)
    run["hparams"] = hparams
    for tag in tags:
        run.add_tag(tag)
    if run_key is not None:
        run["run_key"] = run_key
    run.track(1.0, name="loss", step=0, context={"subset": "train"})
    for ctx, vals in metrics.items():
        for name, value in vals.items():
            # earlier steps hold other values: the table must report the value at the highest step
            for step, v in ((0, value - 5.0), (1, value - 1.0), (2, value)):
                run.track(v, name=name, step=step, context={"subset": ctx})
    creation, run_hash = run.creation_time, run.hash
    # as AimRunWriter.close: keep the meta tree to read the end_time close() writes; dropping the last reference
    # closes (flushes) the RocksDB containers
    meta = run.meta_run_tree
    run.close()
    end_time = meta.get("end_time")
    del meta, run
    gc.collect()
    return run_hash, creation, end_time


def _tags(dim: int, aug: str, seed: int, campaign: str | None = None) -> list[str]:
    return ([f"campaign:{campaign}"] if campaign else []) + [f"aug:{aug}", f"dim:{dim}", f"seed:{seed}"]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A repo with 6 campaign runs (one without f1) and one single run without campaign_id, plus the markers."""
    root = tmp_path_factory.mktemp("aimrepo")
    repo = init_run_repo(root / "aim-repo")
    markers = []
    for i, (dim, aug, seed, split) in enumerate(GRID):
        hp = _hparams(dim, aug, seed, split)
        mets = _metrics(i, with_f1=(i != 3))
        run_key = f"key{i:02d}"
        h, created, ended = _track_run(repo, {**hp, "campaign_id": CAMPAIGN, "campaign_exp_idx": i + 1}, mets, run_key,
                                       _tags(dim, aug, seed, CAMPAIGN))
        marker = {"marker_version": MARKER_VERSION, "run_key": run_key, "method": "monolithic",
                  "experiment": "augmentation-at-loading", "hparams": hp, "aim": {"repo": "aim", "run_hash": h},
                  "metrics": mets, "creation_time": created, "end_time": ended, "durations": {}, "versions": {},
                  "artifacts": []}
        markers.append(write_marker(root / "runs" / run_key / "marker.json", marker))
    single_hash, _, _ = _track_run(repo, _hparams(32, "noaug", 9, 1), _metrics(9), None, _tags(32, "noaug", 9))
    forget_repo(repo)
    return {"root": root, "repo": repo, "markers": markers, "single": single_hash}


def invoke(*args: str):
    # click >= 8.2: result.stderr is captured separately, result.output holds both streams
    return CliRunner().invoke(cli, ["aimrepo", *args], catch_exceptions=False)


def test_aim_runs_table_reads_last_value_by_step_and_hparams(built):
    runs = aim_runs_table(built["repo"])
    assert len(runs) == 7
    by_key = {r["run_key"]: r for r in runs}
    r0 = by_key["key00"]
    assert r0["metrics"]["test-script"] == pytest.approx(_metrics(0)["test-script"])
    assert r0["hparams"]["campaign_id"] == CAMPAIGN and r0["hparams"]["campaign_exp_idx"] == 1
    assert list(r0["hparams"])[-2:] == ["campaign_id", "campaign_exp_idx"]
    assert r0["experiment"] == "augmentation-at-loading"
    assert r0["tags"] == sorted(_tags(32, "noaug", 1, CAMPAIGN))
    assert r0["end_time"] >= r0["creation_time"] > 0
    assert "f1" not in by_key["key03"]["metrics"]["test-human"]
    single = [r for r in runs if r["hash"] == built["single"]][0]
    assert single["run_key"] is None and "campaign_id" not in single["hparams"]
    assert single["tags"] == ["aug:noaug", "dim:32", "seed:9"]


def test_ls_lists_every_run(built):
    res = invoke("ls", "--aim-repo", str(built["repo"]))
    assert res.exit_code == 0, res.output
    for name in ("hash", "creation_time", "end_time", "campaign_id", "run_key"):
        assert name in res.output
    for r in aim_runs_table(built["repo"]):
        assert r["hash"] in res.output
    assert "key05" in res.output


def test_properties(built):
    res = invoke("properties", "--aim-repo", str(built["repo"]))
    assert res.exit_code == 0, res.output
    out = res.output
    assert "runs" in out and " 7 " in out
    assert "run duration (mean ± std)" in out
    assert "['acc', 'f1', 'loss']" in out
    assert "['test-human', 'test-script', 'train']" in out
    assert "[1, 2, 9]" in out  # seeds
    assert "['noaug', 'rotate']" in out
    assert "experiment" in out


def test_report_writes_files_and_matches_campaign_summary(built, tmp_path):
    """`aimrepo report` and the Snakemake summary step (`campaign summary` on markers) give identical numbers."""
    aim_out = tmp_path / "aim"
    res = invoke("report", "--aim-repo", str(built["repo"]), "--output-folder", str(aim_out))
    assert res.exit_code == 0, res.output + res.stderr
    assert "without campaign_id" in res.stderr
    assert "has no f1" in res.stderr

    marker_out = tmp_path / "markers"
    res2 = CliRunner().invoke(cli, ["campaign", "summary", "--campaign-id", CAMPAIGN, "--output-dir", str(marker_out),
                                    "--quiet", *map(str, built["markers"])], catch_exceptions=False)
    assert res2.exit_code == 0, res2.output

    folder = aim_out / "campaign_summary" / CAMPAIGN
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted(p.name for p in marker_out.iterdir())
    assert names == ["runsinfo_flowpic_dim_32.parquet", "runsinfo_flowpic_dim_64.parquet",
                     "summary_flowpic_dim_32.csv", "summary_flowpic_dim_64.csv"]
    for name in names:
        if name.endswith(".csv"):
            a = pd.read_csv(folder / name, header=[0, 1])
            b = pd.read_csv(marker_out / name, header=[0, 1])
            assert (folder / name).read_text() == (marker_out / name).read_text()
        else:
            a = pd.read_parquet(folder / name)
            b = pd.read_parquet(marker_out / name)
            assert sorted(a.columns) == sorted(b.columns)
            b = b[a.columns]
        pd.testing.assert_frame_equal(a, b)

    summary = pd.read_csv(folder / "summary_flowpic_dim_32.csv", header=[0, 1])
    script_noaug = summary[(summary[("test_split_name", summary.columns[0][1])] == "test-script")
                           & (summary[("aug_name", summary.columns[1][1])] == "noaug")]
    assert script_noaug[("acc", "count")].item() == 2
    assert script_noaug[("acc", "mean")].item() == pytest.approx((90.0 + 91.75) / 2)
    rotate = summary[summary[("aug_name", summary.columns[1][1])] == "rotate"]
    assert (rotate[("f1", "count")] == 1).all()  # key03 has no f1
    assert (rotate[("acc", "count")] == 2).all()


def test_report_campaign_filter_groupby_contexts_and_precision(built, tmp_path):
    res = invoke("report", "--aim-repo", str(built["repo"]), "--output-folder", str(tmp_path), "--campaign-id", CAMPAIGN,
                 "--groupby", "hparams.aug_name,nope", "--contexts", "test-human", "--metrics", "acc", "--precision", "3")
    assert res.exit_code == 0, res.output + res.stderr
    assert "'nope' not found" in res.stderr
    csv = pd.read_csv(tmp_path / "campaign_summary" / CAMPAIGN / "summary_flowpic_dim_32.csv", header=[0, 1])
    assert [c[0] for c in csv.columns[:2]] == ["test_split_name", "aug_name"]
    assert set(csv.iloc[:, 0]) == {"test-human"}
    assert "f1" not in {c[0] for c in csv.columns}
    assert any(len(tok.split(".")[-1]) == 3 for tok in res.output.split() if tok.replace(".", "").isdigit() and "." in tok)

    res = invoke("report", "--aim-repo", str(built["repo"]), "--output-folder", str(tmp_path), "--campaign-id", "other")
    assert res.exit_code == 1
    assert "campaign_id 'other' not found" in res.stderr


def test_report_without_campaigns_and_empty_repo(tmp_path):
    repo = init_run_repo(tmp_path / "single")
    _track_run(repo, _hparams(32, "noaug", 1, 0), _metrics(0), "solo")
    forget_repo(repo)
    res = invoke("report", "--aim-repo", str(repo))
    assert res.exit_code == 1
    assert "no run" in res.stderr and "campaign_id" in res.stderr
    assert "Traceback" not in res.output + res.stderr

    empty = tmp_path / "empty"
    import shutil

    shutil.copytree(repo / ".aim", empty / ".aim")
    shutil.rmtree(empty / ".aim" / "meta" / "chunks")
    for cmd in ("ls", "properties"):
        res = invoke(cmd, "--aim-repo", str(empty))
        assert res.exit_code == 0 and "no runs" in res.output
    res = invoke("report", "--aim-repo", str(empty))
    assert res.exit_code == 1 and "no runs" in res.stderr

    res = invoke("ls", "--aim-repo", str(tmp_path / "missing"))
    assert res.exit_code == 2 and "not an AIM repo" in res.stderr


def test_report_metric_missing_everywhere(built, tmp_path):
    res = invoke("report", "--aim-repo", str(built["repo"]), "--output-folder", str(tmp_path), "--metrics", "precision")
    assert res.exit_code == 1
    assert "precision" in res.stderr and "not found" in res.stderr


# ----------------------------------------------------------------------------------------------------------------
# --tag


def _listed_keys(output: str) -> set[str]:
    return {tok for tok in output.split() if tok.startswith("key")}


def test_ls_shows_tags_and_filters_by_tag(built):
    res = invoke("ls", "--aim-repo", str(built["repo"]))
    assert res.exit_code == 0, res.output
    assert "tags" in res.output and "campaign:c1" in res.output and "seed:9" in res.output

    res = invoke("ls", "--aim-repo", str(built["repo"]), "--tag", "aug:rotate")
    assert res.exit_code == 0, res.output
    assert _listed_keys(res.output) == {"key02", "key03"}
    assert built["single"] not in res.output

    # every tag must match (AND); the single run has aug:noaug and dim:32 but no campaign tag
    res = invoke("ls", "--aim-repo", str(built["repo"]), "--tag", "aug:noaug", "--tag", "dim:32")
    assert _listed_keys(res.output) == {"key00", "key01"} and built["single"] in res.output
    res = invoke("ls", "--aim-repo", str(built["repo"]), "--tag", "aug:noaug", "--tag", "dim:32", "--tag", "campaign:c1")
    assert _listed_keys(res.output) == {"key00", "key01"} and built["single"] not in res.output

    res = invoke("ls", "--aim-repo", str(built["repo"]), "--tag", "aug:rotate", "--tag", "dim:64")
    assert res.exit_code == 0 and "no runs" in res.output and "aug:rotate, dim:64" in res.output


@pytest.mark.parametrize("cmd", ["ls", "properties", "report"])
def test_unknown_tag_is_a_one_line_error_listing_the_repo_tags(built, cmd, tmp_path):
    res = invoke(cmd, "--aim-repo", str(built["repo"]), "--tag", "aug:rotate", "--tag", "aug:noaugs",
                 *(["--output-folder", str(tmp_path)] if cmd == "report" else []))
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "'aug:noaugs'" in lines[0] and "'aug:rotate'" not in lines[0]
    assert "aug:noaug, aug:rotate, campaign:c1, dim:32, dim:64, seed:1, seed:2, seed:9" in lines[0]
    assert not (tmp_path / "campaign_summary").exists()


def test_properties_by_tag(built):
    res = invoke("properties", "--aim-repo", str(built["repo"]), "--tag", "aug:rotate")
    assert res.exit_code == 0, res.output
    assert " 2 " in res.output and "['rotate']" in res.output
    assert "['aug:rotate', 'campaign:c1', 'dim:32', 'seed:1', 'seed:2']" in res.output


def test_report_by_tag(built, tmp_path):
    res = invoke("report", "--aim-repo", str(built["repo"]), "--output-folder", str(tmp_path),
                 "--tag", "dim:32", "--tag", "aug:noaug")
    assert res.exit_code == 0, res.output + res.stderr
    assert "runs: 2" in res.output
    assert "1 run(s) without campaign_id" in res.stderr  # the single run has both tags
    # a filtered report goes to its own folder (sorted tags): it never overwrites the full report
    folder = tmp_path / "campaign_summary" / CAMPAIGN / "tags" / "aug=noaug+dim=32"
    assert sorted(p.name for p in folder.iterdir()) == ["runsinfo_flowpic_dim_32.parquet", "summary_flowpic_dim_32.csv"]
    assert not list((tmp_path / "campaign_summary" / CAMPAIGN).glob("*.csv"))
    summary = pd.read_csv(folder / "summary_flowpic_dim_32.csv", header=[0, 1])
    script = summary[summary.iloc[:, 0] == "test-script"]
    assert script[("acc", "count")].item() == 2
    assert script[("acc", "mean")].item() == pytest.approx((90.0 + 91.75) / 2)

    res = invoke("report", "--aim-repo", str(built["repo"]), "--output-folder", str(tmp_path), "--tag", "seed:9")
    assert res.exit_code == 1 and "campaign_id" in res.stderr  # only the single run: nothing to report
    res = invoke("report", "--aim-repo", str(built["repo"]), "--tag", "aug:rotate", "--tag", "dim:64")
    assert res.exit_code == 1 and "no runs" in res.stderr and "aug:rotate, dim:64" in res.stderr
