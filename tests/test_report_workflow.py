"""End to end: a 2-augmentation campaign (noaug, changertt; 2 splits x 2 seeds, dim 32) through the real workflow
yields its comparison CSV, critical-difference diagram and report page; the CSV agrees with scipy recomputed from
the runsinfo parquet; a real browser renders the page (its key columns within a 1280px window); two campaigns, also
of two methods, compare run pair by run pair."""

from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from scipy import stats
from test_workflow import TINY_CONFIG, planned_jobs, snakemake

ROOT = Path(__file__).resolve().parents[1]
# The tiny campaign's training (epochs 3, aug_samples 3): its 4 noaug runs are reused (conftest.two_augs_campaign).
AUG_CONFIG = {**TINY_CONFIG, "campaign_id": "two-augs",
              "grid": {"split_index": [0, 1], "aug_name": ["noaug", "changertt"], "flowpic_dim": [32], "seed": [12345, 42]},
              "training": {"epochs": 3, "aug_samples": 3}}
PAIR_KEYS = ["split_index", "seed"]


@pytest.fixture(scope="module")
def two_augs(two_augs_campaign: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's finished two-augs campaign (conftest.two_augs_campaign), copied: the tests below run more
    campaigns next to it. Its campaign folder."""
    from conftest import copy_campaign

    workdir = copy_campaign(two_augs_campaign, tmp_path_factory.mktemp("two-augs"))
    return workdir / "results" / "campaigns" / "two-augs"


def test_campaign_writes_comparison_diagram_and_report(two_augs):
    assert (two_augs / "campaign_summary" / "comparison_flowpic_dim_32.csv").exists()
    assert (two_augs / "plots" / "critical_difference_flowpic_dim_32.png").read_bytes().startswith(b"\x89PNG")
    page = (two_augs / "report.html").read_text()
    for section in ("campaign", "runs", "summary", "accuracy", "comparisons", "learning-curves", "per-class", "confusion"):
        assert f'<section id="{section}">' in page, section
    assert "synthetic stand-in" in page and "http://" not in page.replace("http://www.w3.org", "")


def test_comparison_csv_agrees_with_scipy_recomputed_from_runsinfo(two_augs):
    """Every p-value and interval of the CSV, recomputed here from the parquet with scipy directly."""
    long = pd.read_parquet(two_augs / "campaign_summary" / "runsinfo_flowpic_dim_32.parquet")
    table = pd.read_csv(two_augs / "campaign_summary" / "comparison_flowpic_dim_32.csv")
    contexts = sorted(long["test_split_name"].unique())
    assert len(table) == 2 * len(contexts)  # acc and f1, changertt vs noaug per context
    for metric in ("acc", "f1"):
        rows = table[table["metric"] == metric]
        wilcoxon = []
        for _, row in rows.iterrows():
            assert (row["compared"], row["baseline"]) == ("changertt", "noaug")
            part = long[long["test_split_name"] == row["test_split_name"]]
            base = part[part["aug_name"] == "noaug"].set_index(PAIR_KEYS)[metric]
            comp = part[part["aug_name"] == "changertt"].set_index(PAIR_KEYS)[metric].reindex(base.index)
            diffs = (comp - base).to_numpy()
            assert row["n_pairs"] == 4 and row["mean_diff"] == pytest.approx(diffs.mean())
            if np.std(diffs) > 0:
                t = stats.ttest_rel(comp.to_numpy(), base.to_numpy())
                assert (row["ci95_low"], row["ci95_high"]) == pytest.approx(tuple(t.confidence_interval(0.95)))
                assert row["t_p_value"] == pytest.approx(t.pvalue)
            p = stats.wilcoxon(diffs).pvalue if np.any(diffs != 0) else 1.0
            assert row["wilcoxon_p"] == pytest.approx(p)
            wilcoxon.append(p)
        order = np.argsort(wilcoxon)
        m = len(wilcoxon)
        holm = np.minimum(np.maximum.accumulate(np.array(wilcoxon)[order] * (m - np.arange(m))), 1)
        expected = np.empty(m)
        expected[order] = holm
        assert rows["holm_p"].to_numpy() == pytest.approx(expected)


def test_dry_run_lists_the_report_outputs(table4_dry_run):
    """The table-4 config names its paper table; its dry run (conftest.table4_dry_run) plans the analysis and the
    report page."""
    config = ROOT / "config" / "campaigns" / "imc23-ucdavis-augment-at-loading.yaml"
    assert yaml.safe_load(config.read_text())["report"]["paper"] == "imc23-table4"
    proc = table4_dry_run
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    jobs = planned_jobs(out)
    assert jobs["campaign_analysis"] == 1 and jobs["campaign_report"] == 1
    campaign = "results/campaigns/imc23-ucdavis-augment-at-loading"
    for name in ["report.html", "campaign_summary/paper_comparison.csv", "plots/paper_comparison.png",
                 *[f"campaign_summary/comparison_flowpic_dim_{d}.csv" for d in (32, 64, 1500)],
                 *[f"plots/critical_difference_flowpic_dim_{d}.png" for d in (32, 64, 1500)]]:
        assert f"{campaign}/{name}" in out, name


def browser() -> str:
    """The headless browser; a skip when none is installed, a failure where CI requires one (.ci/run)."""
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        if os.environ.get("TCBENCH_REQUIRE_BROWSER"):
            pytest.fail("chromium not found (TCBENCH_REQUIRE_BROWSER is set): apt-get install chromium")
        pytest.skip("chromium not installed (.ci/run installs it)")
    return exe


def test_report_page_renders_in_a_real_browser(two_augs, request):
    """Headless Chromium opens report.html from disk (no network): every section, table and image renders; the
    screenshot is kept in this test's output folder."""
    exe = browser()
    page = two_augs / "report.html"
    flags = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
             "--disable-background-networking", "--no-first-run", "--virtual-time-budget=10000"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180).stdout
    body = dom[dom.index("<body"):dom.index(">", dom.index("<body"))]
    attrs = dict(part.split("=", 1) for part in body.replace('"', "").split()[1:])
    # accuracy, difference to noaug, critical difference, learning curves, confusion matrices (one per augmentation)
    assert attrs["data-images"] == "6" and attrs["data-images-loaded"] == "6", body
    # runs, summary, comparison, per class
    assert attrs["data-tables"] == "4", body
    for section in ("campaign", "runs", "summary", "accuracy", "comparisons", "learning-curves", "per-class", "confusion"):
        assert f'id="{section}"' in dom
    out_dir = Path(os.environ.get("TCBENCH_TEST_OUTPUT", ROOT / "tests" / "output")) / request.node.name
    out_dir.mkdir(parents=True, exist_ok=True)
    shot = out_dir / "report.png"
    subprocess.run([*flags, "--window-size=1280,6000", f"--screenshot={shot}", page.as_uri()], capture_output=True,
                   timeout=180, check=True)
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 50_000


def test_sorting_the_runs_table_in_the_browser(two_augs, tmp_path):
    """The runs table sorts on a click (the page's inline script), here on the duration column."""
    exe = browser()
    page = (two_augs / "report.html").read_text()
    click = ("<script>window.addEventListener('load', function () {"
             "var t = document.querySelector('#runs table'); var h = Array.from(t.tHead.rows[0].cells);"
             "var i = h.findIndex(function (c) { return c.textContent.indexOf('duration') >= 0; }); h[i].click();"
             "document.body.dataset.sorted = Array.from(t.tBodies[0].rows).map(function (r) {"
             "return r.cells[i].dataset.value; }).join(' '); });</script></body>")
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", click))
    dom = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000",
                          "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=180).stdout
    start = dom.index('data-sorted="') + len('data-sorted="')
    values = [float(v) for v in dom[start:dom.index('"', start)].split()]
    assert len(values) == 8 and values == sorted(values)


@pytest.mark.slow  # 36 s (a second 8-run campaign); `tcbench campaign compare` of two campaigns, recomputed with scipy,
# stays in `make test`: the across_methods tests below
def test_campaign_compare_pairs_two_campaigns(two_augs, tmp_path):
    """`tcbench campaign compare A B`: the same grid without dropout against with dropout, paired by split and seed;
    the statistics recomputed with scipy."""
    from click.testing import CliRunner

    from tcbench.cli.main import cli

    workdir = two_augs.parents[2]
    config = {**AUG_CONFIG, "campaign_id": "two-augs-nodropout", "training": {**AUG_CONFIG["training"], "with_dropout": False}}
    path = workdir / "nodropout.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = snakemake(workdir, "--cores", "2", configfile=path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    other = two_augs.parent / "two-augs-nodropout"
    result = CliRunner().invoke(cli, ["campaign", "compare", str(two_augs), str(other), "--output-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "comparison.csv")
    assert (tmp_path / "comparison.png").read_bytes().startswith(b"\x89PNG")
    assert set(table["differs_in"]) == {"with_dropout"}
    assert set(table["n_pairs"]) == {4} and set(table["aug_name"]) == {"noaug", "changertt"}
    a = pd.read_parquet(two_augs / "campaign_summary" / "runsinfo_flowpic_dim_32.parquet")
    b = pd.read_parquet(other / "campaign_summary" / "runsinfo_flowpic_dim_32.parquet")
    for _, row in table[table["metric"] == "acc"].iterrows():
        def runs(frame: pd.DataFrame, row: pd.Series = row) -> pd.Series:
            same = (frame["aug_name"] == row["aug_name"]) & (frame["test_split_name"] == row["test_split_name"])
            return frame[same].set_index(PAIR_KEYS)["acc"]

        sel_a, sel_b = runs(a), runs(b)
        diffs = (sel_b - sel_a.reindex(sel_b.index)).to_numpy()
        assert row["mean_diff"] == pytest.approx(diffs.mean())
        expected = stats.wilcoxon(diffs).pvalue if np.any(diffs != 0) else 1.0
        assert row["wilcoxon_p"] == pytest.approx(expected) or (math.isnan(row["wilcoxon_p"]) and math.isnan(expected))
    bad = CliRunner().invoke(cli, ["campaign", "compare", str(two_augs), str(tmp_path)])
    assert bad.exit_code == 2 and "no campaign_summary/runsinfo" in bad.output


def test_comparison_key_columns_fit_a_1280px_window(two_augs, tmp_path):
    """In a 1280px window, the columns a comparison is read by (holm_p is the one to report) lie inside the window
    and inside their table's scroll box: none is hidden to the right."""
    exe = browser()
    probe = tmp_path / "probe.html"
    measure = ("<script>window.addEventListener('load', function () { var out = [];"
               "document.querySelectorAll('#comparisons table').forEach(function (t) {"
               "var box = t.parentElement.getBoundingClientRect(); var cells = {};"
               "Array.from(t.tHead.rows[0].cells).forEach(function (c) { var r = c.getBoundingClientRect();"
               "cells[c.textContent] = [r.left, r.right]; });"
               "out.push({width: window.innerWidth, left: box.left, right: box.right, cells: cells}); });"
               "document.body.dataset.probe = JSON.stringify(out); });</script></body>")
    probe.write_text((two_augs / "report.html").read_text().replace("</body>", measure))
    dom = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1280,900",
                          "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()], capture_output=True, text=True,
                         timeout=180).stdout
    start = dom.index('data-probe="') + len('data-probe="')
    tables = json.loads(html.unescape(dom[start:dom.index('"', start)]))
    assert tables and tables[0]["width"] == 1280
    for table in tables:
        for name in ("context", "compared", "baseline", "n_pairs", "mean_diff", "95 % interval", "holm_p"):
            left, right = table["cells"][name]
            assert table["left"] <= left and right <= min(table["right"], table["width"]), (name, table)


def test_report_page_confusion_per_condition_durations_with_units_and_method_fields(two_augs):
    """noaug and changertt get a confusion figure each; durations read with units (these runs take seconds, never
    0m0s); the runs table shows the CNN's own record (epochs run, early stop)."""
    page = (two_augs / "report.html").read_text()
    section = page[page.index('<section id="confusion">'):]
    section = section[:section.index("</section>")]
    assert re.findall(r'<h3 class="condition">([^<]*)</h3>', section) == ["flowpic_dim=32, aug_name=changertt",
                                                                        "flowpic_dim=32, aug_name=noaug"]
    assert section.count("<img") == 2
    runs = page[page.index('<section id="runs">'):page.index('<section id="summary">')]
    headers = re.findall(r"<th>([^<]*)</th>", runs)
    assert {"epochs_run", "stopped_early", "duration"} <= set(headers), headers
    summary = page[page.index('<section id="summary">'):page.index('<section id="accuracy">')]
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", page[page.index('<section id="runs">'):page.index('<section id="accuracy">')])
    durations = [c for c in cells if re.fullmatch(r"[\d.]+ s|\d+ min \d\d s", c)]
    assert len(durations) >= 8 + 6 * 3, durations  # the 8 runs, and mean, std, ci95 of each summary row
    assert not [c for c in cells if re.fullmatch(r"\d+m\d+s", c)]
    assert "run_duration mean" in summary
    assert re.search(r"<dt>compute</dt><dd>[\d.]+ s of run time in all|<dt>compute</dt><dd>\d+ min \d\d s of run", page)


XGB_CONFIG = {**{k: v for k, v in AUG_CONFIG.items() if k != "training"}, "campaign_id": "two-augs-xgb",
              "method": "xgboost", "xgboost": {"flow_representation": "flowpic"},
              "grid": {"split_index": [0, 1], "seed": [12345, 42], "flowpic_dim": [32]}}


@pytest.fixture(scope="module")
def across_methods(two_augs, tmp_path_factory) -> tuple[Path, pd.DataFrame]:
    """XGBoost on the same data, splits, seeds and dim as two-augs (run next to it, sharing its data), compared
    against two-augs with `tcbench campaign compare`: (the XGBoost campaign's folder, comparison.csv)."""
    from click.testing import CliRunner

    from tcbench.cli.main import cli

    workdir = two_augs.parents[2]
    path = workdir / "xgb.yaml"
    path.write_text(yaml.safe_dump(XGB_CONFIG))
    proc = snakemake(workdir, "--cores", "2", configfile=path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    other = two_augs.parent / "two-augs-xgb"
    out = tmp_path_factory.mktemp("across-methods")
    result = CliRunner().invoke(cli, ["campaign", "compare", str(two_augs), str(other), "--output-dir", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "comparison.png").read_bytes().startswith(b"\x89PNG")
    return other, pd.read_csv(out / "comparison.csv")


def test_compare_across_methods_names_everything_that_differs(across_methods):
    """The method, the CNN's own hparams (augmentation, epochs, dropout) and XGBoost's differ; the split, seeds and
    dim are what pairs the runs."""
    _, table = across_methods
    (differs,) = set(table["differs_in"])
    names = differs.split(", ")
    assert names[0] == "method"
    assert {"aug_name", "epochs", "with_dropout", "learning_rate", "flow_representation"} <= set(names)
    assert not {"split_index", "seed", "flowpic_dim", "dataset"} & set(names)


def test_compare_across_methods_pairs_each_run_with_its_counterpart_only(two_augs, across_methods):
    """Each XGBoost run pairs once with the CNN run of its split and seed, per augmentation of the CNN campaign (kept
    apart, never pooled): 4 pairs per row, the differences recomputed from the two parquet files."""
    other, table = across_methods
    a = pd.read_parquet(two_augs / "campaign_summary" / "runsinfo_flowpic_dim_32.parquet")
    b = pd.read_parquet(other / "campaign_summary" / "runsinfo_flowpic_dim_32.parquet")
    assert len(b["run_key"].unique()) == 4
    contexts = sorted(a["test_split_name"].unique())
    assert len(table) == 2 * 2 * len(contexts)  # acc and f1 x both augmentations x contexts
    assert set(table["n_pairs"]) == {4}
    assert set(table["compared"]) == {"two-augs-xgb (xgboost)"}
    assert set(table["baseline"]) == {"two-augs (monolithic, aug_name=noaug)", "two-augs (monolithic, aug_name=changertt)"}
    for _, row in table.iterrows():
        aug = row["baseline"].split("aug_name=")[1].rstrip(")")
        base = a[(a["aug_name"] == aug) & (a["test_split_name"] == row["test_split_name"])].set_index(PAIR_KEYS)
        comp = b[b["test_split_name"] == row["test_split_name"]].set_index(PAIR_KEYS)
        diffs = (comp[row["metric"]] - base[row["metric"]].reindex(comp.index)).to_numpy()
        assert len(diffs) == 4 and row["mean_diff"] == pytest.approx(diffs.mean())
        assert row["mean_baseline"] == pytest.approx(base[row["metric"]].mean())


def test_compare_says_in_one_line_why_nothing_pairs(two_augs, across_methods, tmp_path):
    """The XGBoost campaign's results with other seeds (as a campaign run with seeds 7 and 8 leaves them): no run
    has a counterpart, and one line says which setting keeps them apart."""
    from click.testing import CliRunner

    from tcbench.cli.main import cli

    source, _ = across_methods
    other = tmp_path / "xgb-other-seeds"
    (other / "campaign_summary").mkdir(parents=True)
    shutil.copy(source / "campaign.json", other / "campaign.json")
    runs = pd.read_parquet(source / "campaign_summary" / "runsinfo_flowpic_dim_32.parquet")
    runs["seed"] = runs["seed"].map({12345: 7, 42: 8})
    runs.to_parquet(other / "campaign_summary" / "runsinfo_flowpic_dim_32.parquet")
    result = CliRunner().invoke(cli, ["campaign", "compare", str(two_augs), str(other), "--output-dir", str(tmp_path / "out")])
    assert result.exit_code == 2, result.output
    assert result.output == ("error: two-augs and xgb-other-seeds share no grid point: no common seed "
                             "(two-augs: 12345, 42; xgb-other-seeds: 7, 8)\n")
    assert not (tmp_path / "out").exists()
