"""Campaign summaries from run markers: ci95, long table, group-by default, aggregation, files, console."""

from __future__ import annotations

import io
import math
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from tcbench.reporting.console import format_duration, print_summary_files, render_summary
from tcbench.reporting.runs_table import runs_long_table
from tcbench.reporting.stats import ci95
from tcbench.reporting.summary import default_groupby, summarize, write_campaign_summary

T_975_2 = 4.302652729749464  # scipy.stats.t.ppf(0.975, 2), checked against printed t tables (4.303)


def make_marker(
    idx: int,
    *,
    dim: int = 32,
    seed: int = 1,
    split: int = 0,
    aug: str = "noaug",
    script: dict | None = None,
    human: dict | None = None,
    duration: float = 10.0,
    extra_hparams: dict | None = None,
) -> dict:
    hparams = {
        "flowpic_dim": dim,
        "flowpic_block_duration": 15,
        "split_index": split,
        "aug_name": aug,
        "dataset": "ucdavis-icdm19",
        "seed": seed,
        **(extra_hparams or {}),
    }
    metrics: dict[str, dict] = {"train": {"loss": 0.1, "acc": 99.0}, "val": {"loss": 0.2, "acc": 98.0}}
    if script is not None:
        metrics["test-script"] = script
    if human is not None:
        metrics["test-human"] = human
    return {
        "marker_version": 1,
        "run_key": f"{idx:016x}",
        "method": "monolithic",
        "experiment": "augmentation-at-loading",
        "hparams": hparams,
        "aim": {"repo": "aim", "run_hash": f"hash{idx:02d}"},
        "metrics": metrics,
        "creation_time": 1000.0 + idx,
        "end_time": 1000.0 + idx + duration,
    }


def grid_markers() -> tuple[list[dict], list[dict]]:
    """2 flowpic dims x 3 seeds, each run evaluated on test-human and test-script."""
    script_acc = {32: [90.0, 92.0, 94.0], 64: [80.0, 80.0, 86.0]}
    human_acc = {32: [60.0, 70.0, 80.0], 64: [50.0, 55.0, 60.0]}
    markers, labels = [], []
    for d_i, dim in enumerate((32, 64)):
        for s_i, seed in enumerate((1, 2, 3)):
            idx = d_i * 3 + s_i + 1
            human = {"acc": human_acc[dim][s_i], "f1": 0.5 + 0.1 * s_i}
            if (dim, seed) == (64, 3):
                del human["f1"]  # a run that lacks a metric in one context
            markers.append(
                make_marker(
                    idx,
                    dim=dim,
                    seed=seed,
                    script={"acc": script_acc[dim][s_i], "f1": script_acc[dim][s_i] / 100, "loss": 0.3},
                    human=human,
                    duration=10.0 * s_i + dim,
                )
            )
            labels.append({"campaign_id": "c1", "campaign_exp_idx": idx})
    return markers, labels


# ---------------------------------------------------------------- stats


def test_ci95_matches_hand_computation():
    # mean 2.5, s = 1.2909944, t(0.975, 3) = 3.1824463 -> 3.1824463 * 1.2909944 / 2
    assert ci95([1, 2, 3, 4]) == pytest.approx(2.0542602567605206, rel=1e-12)
    assert ci95(pd.Series([1.0, np.nan, 2.0, 3.0, 4.0])) == pytest.approx(2.0542602567605206, rel=1e-12)
    assert ci95([90.0, 92.0, 94.0]) == pytest.approx(4.9682754235006605, rel=1e-12)


def test_ci95_undefined_below_two_values():
    assert math.isnan(ci95([5.0]))
    assert math.isnan(ci95([]))
    assert math.isnan(ci95([np.nan, 3.0]))


def test_ci95_named_column_in_pandas_agg():
    out = pd.DataFrame({"g": [1, 1, 2], "x": [1.0, 3.0, 5.0]}).groupby("g")["x"].agg(["mean", ci95])
    assert list(out.columns) == ["mean", "ci95"]
    assert out.loc[1, "ci95"] == pytest.approx(12.706204736174698)  # t(0.975, 1) * sqrt(2) / sqrt(2)
    assert math.isnan(out.loc[2, "ci95"])


# ---------------------------------------------------------------- long table


def test_long_table_rows_columns_and_duration():
    markers = [
        make_marker(1, script={"acc": 90.0, "f1": 0.9}, human={"acc": 70.0, "f1": 0.7}, duration=12.5),
        make_marker(2, dim=64, script={"acc": 91.0, "f1": 0.91}, human={"acc": 71.0}, duration=20.0),
        make_marker(3, script={"acc": 92.0, "precision": 0.5}, extra_hparams={"max_n_pkts": 10}, duration=5.0),
    ]
    labels = [{"campaign_id": "c1", "campaign_exp_idx": i} for i in (3, 1, 2)]
    long = runs_long_table(markers, labels)

    assert long.shape == (5, 5 + 9 + 1 + 3 + 1)
    assert list(long.columns) == [
        "hash", "run_key", "experiment", "creation_time", "end_time",
        "flowpic_dim", "flowpic_block_duration", "split_index", "aug_name", "dataset", "seed",
        "max_n_pkts", "campaign_id", "campaign_exp_idx",
        "test_split_name", "acc", "f1", "precision", "run_duration",
    ]  # fmt: skip
    # ordered by campaign_exp_idx, then context; train/val contexts are not rows
    assert long["hash"].tolist() == ["hash02", "hash02", "hash03", "hash01", "hash01"]
    assert long["test_split_name"].tolist() == ["test-human", "test-script", "test-script", "test-human", "test-script"]
    assert long["campaign_exp_idx"].tolist() == [1, 1, 2, 3, 3]
    assert long["run_duration"].tolist() == pytest.approx([20.0, 20.0, 5.0, 12.5, 12.5])
    # union of hparams: only run 3 has max_n_pkts
    assert long["max_n_pkts"].isna().tolist() == [True, True, False, True, True]
    # metrics missing in a context are NaN
    assert math.isnan(long.loc[0, "f1"]) and long.loc[1, "f1"] == pytest.approx(0.91)
    assert long["precision"].notna().sum() == 1


def test_long_table_without_labels_keeps_input_order_and_stringifies_lists():
    markers = [
        make_marker(5, script={"acc": 1.0}, extra_hparams={"augmentations": ["changertt", "timeshift"]}),
        make_marker(4, script={"acc": 2.0}),
    ]
    long = runs_long_table(markers)
    assert long["hash"].tolist() == ["hash05", "hash04"]
    assert long.loc[0, "augmentations"] == "['changertt', 'timeshift']"
    assert "campaign_id" not in long.columns
    with pytest.raises(ValueError):
        runs_long_table(markers, [{"campaign_id": "x"}])


# ---------------------------------------------------------------- group-by default


def test_default_groupby_picks_varying_factors_only():
    markers = [
        make_marker(i, dim=dim, aug=aug, seed=seed, split=split, script={"acc": 1.0})
        for i, (dim, aug, seed, split) in enumerate(
            [(32, "noaug", 1, 0), (64, "rotate", 2, 1), (32, "rotate", 3, 2), (64, "noaug", 1, 3)]
        )
    ]
    labels = [{"campaign_id": "c1", "campaign_exp_idx": i + 1} for i in range(4)]
    long = runs_long_table(markers, labels)
    assert default_groupby(long) == ["test_split_name", "flowpic_dim", "aug_name"]
    # explicit hparam order decides the key order
    assert default_groupby(long, ["aug_name", "seed", "flowpic_dim"]) == ["test_split_name", "aug_name", "flowpic_dim"]


def test_default_groupby_falls_back_to_campaign_id():
    markers = [make_marker(i, seed=i, split=i, script={"acc": 1.0}) for i in range(3)]
    labels = [{"campaign_id": "c1", "campaign_exp_idx": i + 1} for i in range(3)]
    long = runs_long_table(markers, labels)
    assert default_groupby(long) == ["test_split_name", "campaign_id"]


# ---------------------------------------------------------------- summarize


def test_summarize_hand_example():
    markers, labels = grid_markers()
    long = runs_long_table(markers, labels)
    assert len(long) == 12
    keys = default_groupby(long)
    assert keys == ["test_split_name", "flowpic_dim"]
    out = summarize(long, keys)

    assert list(out.columns[:3]) == [("test_split_name", ""), ("flowpic_dim", ""), ("runs", "")]
    assert list(out.columns[3:]) == [
        ("acc", "count"), ("acc", "mean"), ("acc", "std"), ("acc", "ci95"),
        ("f1", "count"), ("f1", "mean"), ("f1", "std"), ("f1", "ci95"),
        ("run_duration", "mean"), ("run_duration", "std"), ("run_duration", "ci95"),
    ]  # fmt: skip
    assert out[("test_split_name", "")].tolist() == ["test-human", "test-human", "test-script", "test-script"]
    assert out[("flowpic_dim", "")].tolist() == [32, 64, 32, 64]
    assert out[("runs", "")].tolist() == [3, 3, 3, 3]
    assert out[("acc", "count")].tolist() == [3, 3, 3, 3]
    assert out[("f1", "count")].tolist() == [3, 2, 3, 3]

    script32 = out.iloc[2]
    assert script32[("acc", "mean")] == pytest.approx(92.0)
    assert script32[("acc", "std")] == pytest.approx(2.0)
    assert script32[("acc", "ci95")] == pytest.approx(T_975_2 * 2.0 / math.sqrt(3))
    human64 = out.iloc[1]
    assert human64[("acc", "mean")] == pytest.approx(55.0)
    assert human64[("acc", "std")] == pytest.approx(5.0)
    assert human64[("f1", "mean")] == pytest.approx(0.55)  # the run without f1 is not counted
    # durations 64, 74, 84 s for dim 64
    assert human64[("run_duration", "mean")] == pytest.approx(74.0)
    assert human64[("run_duration", "std")] == pytest.approx(10.0)
    assert human64[("run_duration", "ci95")] == pytest.approx(T_975_2 * 10.0 / math.sqrt(3))


def test_summarize_skips_missing_metric_with_warning():
    markers, labels = grid_markers()
    long = runs_long_table(markers, labels)
    with pytest.warns(UserWarning, match=r"'recall'.*available: \['acc', 'f1', 'loss'\]"):
        out = summarize(long, ["test_split_name"], metrics=("acc", "recall"))
    assert "recall" not in out.columns.get_level_values(0)
    assert out[("acc", "count")].tolist() == [6, 6]
    with pytest.raises(ValueError, match="recall"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        summarize(long, ["test_split_name"], metrics=("recall",))


def test_summarize_accepts_hparams_prefix_and_warns_on_unknown_key():
    markers, labels = grid_markers()
    long = runs_long_table(markers, labels)
    with pytest.warns(UserWarning, match="nope"):
        out = summarize(long, ["test_split_name", "hparams.flowpic_dim", "nope"], metrics=("acc",))
    assert len(out) == 4


# ---------------------------------------------------------------- files


def test_write_campaign_summary_one_file_pair_per_flowpic_dim(tmp_path: Path):
    markers, labels = grid_markers()
    long = runs_long_table(markers, labels)
    out_dir = tmp_path / "campaign_summary"
    paths = write_campaign_summary(long, out_dir)

    assert [p.name for p in paths] == [
        "runsinfo_flowpic_dim_32.parquet",
        "summary_flowpic_dim_32.csv",
        "runsinfo_flowpic_dim_64.parquet",
        "summary_flowpic_dim_64.csv",
    ]
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(p.name for p in paths)  # no temp files left

    runsinfo = pd.read_parquet(out_dir / "runsinfo_flowpic_dim_64.parquet")
    assert len(runsinfo) == 6 and set(runsinfo["flowpic_dim"]) == {64}
    assert list(runsinfo.index) == list(range(6))
    assert {"hash", "test_split_name", "acc", "run_duration", "campaign_id"} <= set(runsinfo.columns)

    summary = pd.read_csv(out_dir / "summary_flowpic_dim_32.csv", header=[0, 1])
    assert list(summary.columns.get_level_values(0)) == [
        "test_split_name", "acc", "acc", "acc", "acc", "f1", "f1", "f1", "f1",
        "run_duration", "run_duration", "run_duration",
    ]  # fmt: skip
    assert summary.iloc[:, 0].tolist() == ["test-human", "test-script"]
    assert summary[("acc", "count")].tolist() == [3, 3]
    assert summary[("acc", "mean")].tolist() == pytest.approx([70.0, 92.0])
    # the notebooks' way of reading it
    indexed = pd.read_csv(out_dir / "summary_flowpic_dim_64.csv", header=[0, 1], index_col=[0])
    assert indexed.loc["test-human", ("f1", "count")] == 2


def test_write_campaign_summary_pktseries_splits_on_max_n_pkts(tmp_path: Path):
    markers = [
        make_marker(
            i,
            seed=i,
            script={"acc": 80.0 + i},
            human={"acc": 60.0 + i},
            extra_hparams={"flow_representation": "pktseries", "max_n_pkts": n_pkts},
        )
        for i, n_pkts in enumerate([10, 10, 20, 20])
    ]
    labels = [{"campaign_id": "x", "campaign_exp_idx": i + 1} for i in range(4)]
    long = runs_long_table(markers, labels)
    with pytest.warns(UserWarning, match="'f1'"):
        paths = write_campaign_summary(long, tmp_path)
    assert [p.name for p in paths] == [
        "runsinfo_max_n_pkts_10.parquet",
        "summary_max_n_pkts_10.csv",
        "runsinfo_max_n_pkts_20.parquet",
        "summary_max_n_pkts_20.csv",
    ]
    summary = pd.read_csv(tmp_path / "summary_max_n_pkts_20.csv", header=[0, 1])
    assert "max_n_pkts" not in summary.columns.get_level_values(0)
    assert summary[("acc", "mean")].tolist() == pytest.approx([62.5, 82.5])


# ---------------------------------------------------------------- console


def _render(table) -> str:
    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(table)
    return console.file.getvalue()


def test_render_summary_contains_groups_and_fits_120_columns():
    markers = []
    labels = []
    for ctx_aug, dim in [("horizontalflip", 1500), ("noaug", 1500), ("changertt", 32)]:
        for seed in (1, 2):
            idx = len(markers) + 1
            markers.append(
                make_marker(
                    idx,
                    dim=dim,
                    aug=ctx_aug,
                    seed=seed,
                    script={"acc": 95.0 + seed, "f1": 0.95},
                    human={"acc": 68.0 + seed, "f1": 0.68},
                    extra_hparams={},
                )
            )
            markers[-1]["metrics"]["test-train-val-leftover"] = {"acc": 96.0, "f1": 0.96}
            labels.append({"campaign_id": "c", "campaign_exp_idx": idx})
    long = runs_long_table(markers, labels)
    summary = summarize(long, default_groupby(long))
    text = _render(render_summary(summary, "campaign c"))
    for label in ("campaign c", "test-train-val-leftover", "horizontalflip", "changertt", "1500", "96.50 ± 0.71 (6.35)"):
        assert label in text
    assert max(len(line) for line in text.splitlines()) <= 120
    assert "count" not in text
    assert "…" not in text  # nothing truncated


def test_print_summary_files_reads_back_written_csvs(tmp_path: Path):
    markers, labels = grid_markers()
    paths = write_campaign_summary(runs_long_table(markers, labels), tmp_path)
    console = Console(file=io.StringIO(), width=120, color_system=None)
    print_summary_files([p for p in paths if p.suffix == ".csv"], console=console)
    text = console.file.getvalue()
    assert "summary_flowpic_dim_32.csv" in text and "summary_flowpic_dim_64.csv" in text
    assert "92.00 ± 2.00 (4.97)" in text  # test-script, dim 32
    assert "Unnamed" not in text


def test_format_duration():
    assert format_duration(25.4) == "0m25s"
    assert format_duration(3725) == "1h2m5s"
    assert format_duration(90061) == "1d 1h1m1s"
    assert format_duration(float("nan")) == "-"


def test_accuracy_plot_groups_by_every_varying_condition(tmp_path, monkeypatch):
    """SimCLR campaigns vary projection and dropout: one bar group per combination, labelled with both."""
    from tcbench.reporting import plots

    # The long-table layout: run columns, hparams, context, metrics.
    rows = [{"hash": f"h{proj}{drop}{seed}", "end_time": 1.0, "campaign_id": "c", "flowpic_dim": 32,
             "projection_layer_dim": proj, "with_dropout": drop, "finetune_seed": seed, "test_split_name": ctx,
             "acc": 70.0 + proj / 10 + seed}
            for ctx in ("test-human", "test-script") for proj in (30, 84) for drop in (False, True) for seed in (1, 2)]
    seen = []
    real_save = plots._save

    def spy(fig, path):
        seen.extend(t.get_text() for ax in fig.axes for t in ax.get_xticklabels())
        return real_save(fig, path)

    monkeypatch.setattr(plots, "_save", spy)
    path = plots.accuracy_plot(pd.DataFrame(rows), tmp_path / "accuracy.png")
    assert path.exists()
    assert "projection_layer_dim=84 with_dropout=True" in seen and len(set(seen)) == 4
