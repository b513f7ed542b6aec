"""The campaign analysis: paired tests, Holm, power, Friedman/Nemenyi, the paper side by side, the planned files.

Every statistic is checked against an independent computation (scipy called directly, a simulation, or a published
table), never against the code's own output."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tcbench.campaign.report_plan import (
    analysis_file_names,
    check_report_settings,
    choose_factor,
    planned_analysis_files,
    published_tables,
)
from tcbench.reporting.comparisons import friedman, holm, nemenyi_cd, paired_comparisons, pairs_needed, rankings

CONTEXTS = ("test-script", "test-human")


def long_table(augs=("noaug", "changertt", "rotate"), dims=(32, 64), splits=(0, 1, 2), seeds=(1, 2, 3),
               effect=None, seed=0) -> pd.DataFrame:
    """A campaign's long table as runsinfo holds it: one row per run and test context, acc and f1 drawn with a
    per-(split, seed) component shared by the conditions (what makes them pairs)."""
    rng = np.random.default_rng(seed)
    effect = effect or {"noaug": 0.0, "changertt": 3.0, "rotate": 0.3}
    rows = []
    shared = {(c, d, s, r): rng.normal(0, 2) for c in CONTEXTS for d in dims for s in splits for r in seeds}
    for idx, (aug, dim, split, sd) in enumerate(itertools.product(augs, dims, splits, seeds), start=1):
        for context in CONTEXTS:
            acc = 90 + effect[aug] + shared[(context, dim, split, sd)] + rng.normal(0, 0.5)
            rows.append({"hash": f"h{idx}", "run_key": f"{idx:016x}", "end_time": 0.0, "aug_name": aug,
                         "flowpic_dim": dim, "seed": sd, "split_index": split, "dataset": "ucdavis-icdm19", "campaign_id": "c",
                         "campaign_exp_idx": idx, "test_split_name": context, "acc": acc, "f1": acc / 100})
    return pd.DataFrame(rows)


def test_holm_matches_the_step_down_definition():
    p = [0.01, 0.04, 0.03, 0.005, math.nan]
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06; NaN stays out of the family
    assert np.allclose(holm(p)[:4], [0.03, 0.06, 0.06, 0.02])
    assert math.isnan(holm(p)[4])
    assert holm([0.9, 0.8])[0] == 1.0


def test_pairs_needed_reaches_the_power_by_simulation():
    """The paired t-test with the returned number of pairs detects the difference about 80 % of the time, with one
    pair fewer less often (a simulation, not the noncentral t the code uses)."""
    diff, sd = 1.0, 1.5
    n = int(pairs_needed(diff, sd))
    rng = np.random.default_rng(7)

    def power(pairs: int, trials: int = 4000) -> float:
        samples = rng.normal(diff, sd, size=(trials, pairs))
        return float(np.mean(stats.ttest_1samp(samples, 0.0, axis=1).pvalue < 0.05))

    assert 0.77 <= power(n) <= 0.85
    assert power(n - 1) < power(n)
    assert math.isnan(pairs_needed(0.0, 1.0)) and math.isnan(pairs_needed(1.0, 0.0))
    assert pairs_needed(0.001, 10.0) == math.inf


@pytest.mark.parametrize("k", [3, 4, 7])
def test_friedman_agrees_with_scipy(k):
    rng = np.random.default_rng(k)
    blocks = np.round(rng.normal(size=(12, k)), 1)  # rounding makes ties
    statistic, p, ranks = friedman(blocks)
    expected = stats.friedmanchisquare(*blocks.T)
    assert statistic == pytest.approx(expected.statistic) and p == pytest.approx(expected.pvalue)
    assert ranks.sum() == pytest.approx(12 * k * (k + 1) / 2 / 12)  # average ranks sum to k(k+1)/2


def test_nemenyi_critical_difference_of_the_paper():
    """IMC'23 Fig. 5: 7 augmentations over 30 paired samples, CD = 1.644 (Demsar's q_0.05 = 2.949)."""
    assert nemenyi_cd(7, 30) == pytest.approx(1.644, abs=1e-3)
    assert nemenyi_cd(2, 6) == pytest.approx(1.960 * math.sqrt(2 * 3 / 36), abs=1e-3)


def test_paired_comparisons_agree_with_scipy_recomputation():
    long = long_table()
    table = paired_comparisons(long, "aug_name", "noaug", ["acc", "f1"])
    # one row per metric x context x dim x compared value
    assert len(table) == 2 * 2 * 2 * 2
    for _, row in table.iterrows():
        sel = (long["test_split_name"] == row["test_split_name"]) & (long["flowpic_dim"] == row["flowpic_dim"])
        base = long[sel & (long["aug_name"] == "noaug")].sort_values(["split_index", "seed"])[row["metric"]].to_numpy()
        comp = long[sel & (long["aug_name"] == row["compared"])].sort_values(["split_index", "seed"])[row["metric"]].to_numpy()
        t = stats.ttest_rel(comp, base)
        low, high = t.confidence_interval(0.95)
        assert row["n_pairs"] == 9
        assert row["mean_diff"] == pytest.approx(np.mean(comp - base))
        assert (row["ci95_low"], row["ci95_high"]) == pytest.approx((low, high))
        assert row["t_p_value"] == pytest.approx(t.pvalue)
        assert row["wilcoxon_p"] == pytest.approx(stats.wilcoxon(comp - base).pvalue)
        assert row["effect_size_dz"] == pytest.approx(np.mean(comp - base) / np.std(comp - base, ddof=1))
    for _, part in table.groupby("metric"):
        assert np.allclose(part["holm_p"], holm(part["wilcoxon_p"].to_numpy()))
    # the effect of changertt (3 points over a per-pair spread of 0.7) is found, that of rotate (0.3) is not
    acc = table[table["metric"] == "acc"]
    assert (acc[acc["compared"] == "changertt"]["holm_p"] < 0.05).all()


def test_pairs_are_matched_by_split_and_seed_not_by_order():
    long = long_table(augs=("noaug", "changertt"), dims=(32,))
    shuffled = long.sample(frac=1.0, random_state=3)
    a = paired_comparisons(long, "aug_name", "noaug", ["acc"])
    b = paired_comparisons(shuffled, "aug_name", "noaug", ["acc"])
    pd.testing.assert_frame_equal(a.sort_values("test_split_name").reset_index(drop=True),
                                  b.sort_values("test_split_name").reset_index(drop=True))
    # a run missing from one condition drops its pair, not the comparison
    partial = long.drop(long[(long["aug_name"] == "changertt") & (long["seed"] == 1) & (long["split_index"] == 0)].index)
    assert set(paired_comparisons(partial, "aug_name", "noaug", ["acc"])["n_pairs"]) == {8}


def test_bad_compare_by_or_baseline_names_the_valid_values():
    long = long_table(dims=(32,))
    with pytest.raises(ValueError, match=r"report.compare_by: 'dropout'.*valid values: \['aug_name'\]"):
        paired_comparisons(long, "dropout", "x", ["acc"])
    with pytest.raises(ValueError, match=r"report.baseline: 'flip'.*valid values: \['changertt', 'noaug', 'rotate'\]"):
        paired_comparisons(long, "aug_name", "flip", ["acc"])


def test_rankings_rank_the_best_first():
    long = long_table(augs=("noaug", "changertt"), dims=(32,), effect={"noaug": 0.0, "changertt": 20.0})
    ranking = rankings(long, "aug_name", "acc")
    assert [r.context for r in ranking] == sorted(CONTEXTS)
    for r in ranking:
        assert dict(zip(r.conditions, r.average_ranks)) == {"changertt": 1.0, "noaug": 2.0}
        assert r.n_blocks == 9 and r.p_value < 0.01


HPARAM_SHAPES = [
    # (hparams of the runs, expected factor and baseline)
    ([{"aug_name": a, "flowpic_dim": d, "seed": s} for a in ("noaug", "rotate") for d in (32, 64) for s in (1, 2)], ("aug_name", "noaug")),
    ([{"aug_name": "noaug", "flowpic_dim": d, "seed": s} for d in (32, 64) for s in (1, 2)], ("flowpic_dim", 32)),
    ([{"with_dropout": w, "flowpic_dim": 32, "seed": s} for w in (True, False) for s in (1, 2)], ("with_dropout", False)),
    ([{"aug_name": "noaug", "flowpic_dim": 32, "seed": s} for s in (1, 2)], None),
    ([{"flow_representation": "pktseries", "max_n_pkts": n, "seed": s} for n in (10, 30) for s in (1, 2)], ("max_n_pkts", 10)),
]


@pytest.mark.parametrize("hparams,expected", HPARAM_SHAPES)
def test_the_factor_compared_by_default(hparams, expected):
    from tcbench.campaign.report_plan import report_split

    split, _ = report_split(hparams)
    assert choose_factor(hparams, split) == expected


def test_planned_files_are_the_written_files(tmp_path):
    """What the workflow plans (report_plan, no pandas) is what the analysis writes, for several campaign shapes."""
    from tcbench.reporting.analysis import write_campaign_analysis
    from tcbench.reporting.runs_table import run_hparams

    shapes = {"augs x dims": long_table(), "dims only": long_table(augs=("noaug",)),
              "augs, one dim": long_table(dims=(32,))}
    for name, long in shapes.items():
        out = tmp_path / name.replace(" ", "_").replace(",", "")
        written = write_campaign_analysis(long, out, ["acc"], paper="imc23-table4", stand_in=True, method="monolithic")
        planned = planned_analysis_files(run_hparams(long), paper="imc23-table4")
        assert sorted(str(p.relative_to(out)) for p in written) == sorted(planned), name
        assert all(p.stat().st_size > 0 for p in written)
    assert analysis_file_names(None, [], None) == []


def test_report_settings_are_checked_against_the_grid_and_the_published_tables():
    axes = [("split_index", [0, 1]), ("aug_name", ["noaug", "rotate"]), ("flowpic_dim", [32]), ("seed", [1, 2])]
    assert check_report_settings({"compare_by": "aug_name", "baseline": "rotate"}, axes, "monolithic", "ucdavis-icdm19") == "rotate"
    assert check_report_settings({"compare_by": "flowpic_dim"}, [("flowpic_dim", [32, 64])], "monolithic",
                                 "ucdavis-icdm19") is None
    assert check_report_settings({"compare_by": "flowpic_dim", "baseline": "64"}, [("flowpic_dim", [32, 64])],
                                 "monolithic", "ucdavis-icdm19") == 64
    for report, message in [({"compare_by": "seed"}, r"'seed' is not a grid axis with 2\+ values; valid values: \['aug_name'\]"),
                            ({"compare_by": "flowpic_dim"}, r"valid values: \['aug_name'\]"),
                            ({"compare_by": "aug_name", "baseline": "flip"}, r"valid values: \['noaug', 'rotate'\]"),
                            ({"paper": "imc23-table9"}, r"not a published table; valid values: \['imc23-table4', 'imc23-table7'\]"),
                            ({"paper": "imc23-table3"}, r"xgboost on ucdavis-icdm19, not of monolithic")]:
        with pytest.raises(ValueError, match=message):
            check_report_settings(report, axes, "monolithic", "ucdavis-icdm19")


def test_every_paper_config_names_a_table_of_its_method_and_dataset():
    from pathlib import Path

    import yaml

    root = Path(__file__).resolve().parents[1]
    tables = published_tables()
    configs = sorted((root / "config" / "campaigns").glob("*.yaml"))
    assert configs
    for path in configs:
        config = yaml.safe_load(path.read_text())
        paper = config.get("report", {}).get("paper")
        assert paper in tables, path.name
        assert (config.get("method", "monolithic"), config["dataset"]["name"]) in tables[paper], path.name


def test_published_numbers_are_those_of_the_reference():
    """Spot checks against the paper's tables (restated in docs/original-behaviour.md, Published results)."""
    from tcbench.reporting.paper import published

    table = published()

    def cell(reference, context, metric="acc", **where):
        sel = (table["reference"] == reference) & (table["test_split_name"] == context) & (table["metric"] == metric)
        for column, value in where.items():
            sel &= table[column] == value
        assert sel.sum() == 1, (reference, context, where)
        return tuple(table.loc[sel, ["mean", "ci95"]].iloc[0])

    assert cell("imc23-table4", "test-script", aug_name="noaug", flowpic_dim=32) == (95.64, 0.37)
    assert cell("imc23-table4", "test-human", aug_name="changertt", flowpic_dim=1500) == (71.97, 1.08)
    assert cell("imc23-table3", "test-human", flow_representation="pktseries") == (66.91, 1.40)
    assert cell("imc23-table5", "test-script", with_dropout=False, projection_layer_dim=84) == (92.54, 0.33)
    assert cell("imc23-table7", "test-script", aug_name="rotate") == (98.47, 0.25)
    assert cell("imc23-table8", "test", "f1", dataset="mirage22", dataset_minpkts=1000, aug_name="changertt") == (91.48, 2.12)
    counts = table.groupby("reference").size().to_dict()
    assert counts == {"imc23-table3": 4, "imc23-table4": 63, "imc23-table5": 8, "imc23-table6": 12, "imc23-table7": 16,
                      "imc23-table8": 28}


def test_paper_comparison_recomputes_welch_from_the_summaries():
    from tcbench.reporting.paper import compare_with_paper

    long = long_table(augs=("noaug",), dims=(32,), splits=(0, 1, 2, 3, 4))
    long["with_dropout"] = True
    table = compare_with_paper(long, "imc23-table4", stand_in=True, method="monolithic")
    assert len(table) == 63 and set(table["data"]) == {"synthetic stand-in (the paper used the real data)"}
    ours = table[table["ours_runs"] > 0]
    assert set(zip(ours["aug_name"], ours["flowpic_dim"], ours["test_split_name"])) == {
        ("noaug", 32, "test-script"), ("noaug", 32, "test-human")}
    for _, row in ours.iterrows():
        values = long[long["test_split_name"] == row["test_split_name"]]["acc"].to_numpy()
        paper_sd = row["paper_ci95"] * math.sqrt(15) / stats.t.ppf(0.975, 14)
        welch = stats.ttest_ind_from_stats(values.mean(), values.std(ddof=1), len(values), row["paper_mean"], paper_sd,
                                           15, equal_var=False)
        assert row["ours_runs"] == 15 and row["welch_p"] == pytest.approx(welch.pvalue)
        half = stats.t.ppf(0.975, 14) * values.std(ddof=1) / math.sqrt(15)
        assert row["ours_ci95"] == pytest.approx(half)
        assert row["intervals_overlap"] == (abs(values.mean() - row["paper_mean"]) <= half + row["paper_ci95"])
    # dropout off is not the table's condition: no cell matches
    long["with_dropout"] = False
    assert (compare_with_paper(long, "imc23-table4", stand_in=True)["ours_runs"] == 0).all()


def test_confusion_matrices_are_never_pooled_across_dims(tmp_path, monkeypatch):
    """One averaged matrix per test context and flowpic dim, under the names the workflow plans: dim-32 runs that
    are always right and dim-64 runs that are always wrong give an identity and an anti-identity matrix."""
    from tcbench.campaign.report_plan import confusion_file_names, report_split
    from tcbench.reporting import plots

    long = long_table(augs=("noaug",), splits=(0,), seeds=(1, 2))
    classes = ["a", "b"]
    run_dirs, hparams = [], []
    for (run_key, dim), _ in long.groupby(["run_key", "flowpic_dim"]):
        folder = tmp_path / str(run_key) / "artifacts"
        folder.mkdir(parents=True)
        counts = [[5, 0], [0, 5]] if dim == 32 else [[0, 5], [5, 0]]
        for context in CONTEXTS:
            pd.DataFrame(counts, index=classes, columns=classes).to_csv(folder / f"{context}_conf_mtx.csv")
        run_dirs.append(folder.parent)
        hparams.append({"flowpic_dim": dim, "flow_representation": "flowpic"})
    drawn = {}

    def keep(panels: list[tuple[str, pd.DataFrame, int]], title: str, path: Path) -> Path:
        ((_, drawn[path.name], _),) = panels  # one condition: one matrix per file
        return path

    monkeypatch.setattr(plots, "confusion_plot", keep)
    written = plots.campaign_figures(long, run_dirs, hparams, tmp_path / "plots")
    planned = confusion_file_names(sorted(CONTEXTS), *report_split(hparams))
    assert sorted(p.name for p in written[1:]) == sorted(planned) == sorted(drawn)
    assert len(planned) == 2 * len(CONTEXTS)
    for name, matrix in drawn.items():
        expected = np.eye(2) if "flowpic_dim_32" in name else 1 - np.eye(2)
        assert np.array_equal(matrix.to_numpy(), expected), name


def test_two_campaigns_differ_in_their_settings_and_unshared_hparams_never_in_replicates():
    """`campaign compare`'s differs_in: the method, a recorded setting (the generator's scale) and an hparam only
    one campaign has; a dim both ran (one also ran another) is matched, seeds and splits pair the runs."""
    from tcbench.reporting.campaign_compare import Campaign, differing

    settings = {"dataset": {"name": "ucdavis-icdm19", "synthetic": {"scale": 1.0, "seed": 1}}, "splits": {"n_splits": 5}}
    first = Campaign("a", long_table(augs=("noaug", "changertt"), dims=(32, 64)), "monolithic", settings)
    other = long_table(augs=("noaug",), dims=(32,), seeds=(4, 5)).drop(columns=["aug_name"])
    other.insert(list(other.columns).index("end_time") + 1, "max_depth", 6)  # an hparam of b's runs only
    second = Campaign("b", other, "xgboost",
                      {**settings, "dataset": {**settings["dataset"], "synthetic": {"scale": 0.05, "seed": 1}}})
    assert differing(first, second) == ["method", "dataset.synthetic.scale", "aug_name", "max_depth"]
