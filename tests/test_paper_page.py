"""The paper page (results/paper/report.html): a reduced paper plan (`tcbench campaign paper --config "reduce={seeds: 1}"`) of three
campaigns (table 4: noaug and changertt; table 3: XGBoost on packet series; table 8: a campaign whose dataset is not
imported) runs through the real Snakemake and writes the page, tables.csv and findings.csv; headless Chromium renders
every table and figure section, the pending cells and the findings. The findings' logic is checked on made-up runs:
one that holds, one that does not, one pending."""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from test_report_workflow import browser
from test_workflow import ROOT, TINY_CONFIG, planned_jobs

from tcbench.data.synthetic import GENERATOR_VERSION
from tcbench.reporting.paper_findings import FAILS, FINDINGS, HOLDS, PENDING, evaluate
from tcbench.reporting.paper_runs import CampaignRuns, PaperRuns
from tcbench.reporting.paper_tables import references, tukey_between_dims

#: The tiny campaign's settings for table 4 (reduced to the first seed, its runs are those of the session's two-augs
#: campaign: nothing trains), and XGBoost on the same data for table 3.
TABLE4 = {**TINY_CONFIG, "campaign_id": "t4", "grid": {**TINY_CONFIG["grid"], "aug_name": ["noaug", "changertt"]}}
TABLE3 = {**{k: v for k, v in TINY_CONFIG.items() if k != "training"}, "campaign_id": "t3", "method": "xgboost",
          "xgboost": {"flow_representation": "pktseries"},
          "grid": {"split_index": [0, 1], "seed": [12345, 42], "max_n_pkts": [10]}}
PAPER = {"paper": "imc23", "campaigns": {"imc23-table3": ["t3.yaml"], "imc23-table4": ["t4.yaml"],
                                         "imc23-table8": [str(ROOT / "config/campaigns/imc23-mirage19-minpkts10.yaml")]}}


@pytest.fixture(scope="module")
def paper_dir(two_augs_campaign, tmp_path_factory) -> object:
    """The session's two-augs campaign folder (conftest.two_augs_campaign, copied: the tiny campaign and two-augs) with
    the reduced paper run to the end: its results/paper folder. Only table 3's 2 XGBoost runs train."""
    from conftest import copy_campaign

    workdir = copy_campaign(two_augs_campaign, tmp_path_factory.mktemp("paper"))
    for name, config in (("t4", TABLE4), ("t3", TABLE3)):
        (workdir / f"{name}.yaml").write_text(yaml.safe_dump(config))
    (workdir / "paper.yaml").write_text(yaml.safe_dump(PAPER))
    # As a user runs it: `tcbench campaign paper`, the reduction on the command line (handed on to Snakemake).
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run([str(Path(sys.executable).parent / "tcbench"), "campaign", "paper", "--cores", "2",
                           "--configfile", str(workdir / "paper.yaml"), "--directory", str(workdir),
                           "--config", "reduce={seeds: 1}"], capture_output=True, text=True, env=env, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "--config reduce={seeds: 1}" in proc.stdout  # the command it ran
    assert planned_jobs(proc.stdout + proc.stderr)["train"] == 2, "table 4's runs were not reused from two-augs"
    return workdir / "results" / "paper"


def test_the_reduced_paper_writes_every_table_and_its_findings(paper_dir):
    tables = pd.read_csv(paper_dir / "tables.csv")
    assert list(dict.fromkeys(tables["reference"])) == references()
    done = tables[tables["status"] == "done"]
    # table 4's noaug and changertt cells at dim 32 (3 contexts each), from 2 runs (2 splits x the first seed)
    t4 = done[done["reference"] == "imc23-table4"]
    assert set(t4["cell"]) == {"noaug dim 32 dropout", "changertt dim 32 dropout"} and set(t4["ours_runs"]) == {2}
    assert t4["p_value"].notna().all()  # Welch from two summaries
    assert set(done["reference"]) >= {"imc23-table3", "imc23-table4", "imc23-figure5"}
    t8 = tables[tables["reference"] == "imc23-table8"]
    assert (t8["status"] == "pending").all() and t8["note"].str.contains("tcbench datasets import mirage19").all()
    assert (tables[tables["reference"] == "imc23-table5"]["note"] == "imc23-table5 is not in this paper config").all()
    findings = pd.read_csv(paper_dir / "findings.csv")
    assert list(findings["id"]) == [f.id for f in FINDINGS]
    status = dict(zip(findings["id"], findings["status"]))
    assert status["human-harder"] in (HOLDS, FAILS) and status["xgboost-series-below-cnn"] in (HOLDS, FAILS)
    assert status["dropout-no-effect"] == PENDING and status["changertt-best-elsewhere"] == PENDING
    page = (paper_dir / "report.html").read_text()
    assert "synthetic stand-in" in page and f"generator version {GENERATOR_VERSION}, seed 12345" in page
    assert "reduced" in page


def test_every_campaign_folder_is_written_before_any_run_starts(paper_dir):
    """The page reads a campaign's progress from its campaign.json: in a paper, runs shared with another campaign
    must not finish while the folder of a campaign that selects them is still missing (it would show "not run
    yet")."""
    log = max((paper_dir.parent.parent / ".snakemake" / "log").glob("*.snakemake.log"), key=lambda p: p.stat().st_mtime)
    started = re.findall(r"^(?:local)?rule (\w+):", log.read_text(), re.M)
    manifests = [i for i, rule in enumerate(started) if rule.startswith("campaign_manifest")]
    runs = [i for i, rule in enumerate(started) if rule in ("train", "pretrain")]
    assert len(manifests) == 2 and runs, started
    assert max(manifests) < min(runs), started


def test_status_of_a_paper_config_counts_each_table_and_each_distinct_run_once(paper_dir):
    """`tcbench campaign status` on the paper config (the full plan: the reduced runs done, the other seed pending):
    one row per table and campaign, the skipped campaign with its import command, the plan's ETA; the JSON lists
    each distinct run once, with the campaigns that select it."""
    from click.testing import CliRunner

    from tcbench.campaign.compose import complete_config
    from tcbench.campaign.grid import campaign_runs
    from tcbench.cli.main import cli

    workdir = paper_dir.parent.parent
    args = ["campaign", "status", "--configfile", str(workdir / "paper.yaml"), "--directory", str(workdir)]
    listed = CliRunner().invoke(cli, [*args, "--json", "--all"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    planned = {spec.run_key: name for name, config in (("t3", TABLE3), ("t4", TABLE4))
               for spec in campaign_runs(complete_config(json.loads(json.dumps(config))))}
    assert sorted(r["run_key"] for r in rows) == sorted(planned)
    assert all(r["campaigns"] == [planned[r["run_key"]]] for r in rows)
    done = {r["run_key"] for r in rows if r["state"] == "done"}
    assert done == {k for k in planned if (workdir / "results" / "runs" / k / "marker.json").exists()}
    assert 0 < len(done) < len(planned)  # the reduced paper trained the first seed only
    table = CliRunner().invoke(cli, args, env={"COLUMNS": "400"})
    assert table.exit_code == 0, table.output
    assert f"paper imc23: {len(planned)} distinct runs (done {len(done)}, running 0, failed 0, " in table.output
    lines = table.output.splitlines()
    for reference, campaign in (("imc23-table3", "t3"), ("imc23-table4", "t4")):
        runs = sum(1 for name in planned.values() if name == campaign)
        assert any(line.split()[:3] == [reference, campaign, str(runs)] for line in lines), table.output
    assert "skipped campaign imc23-mirage19-minpkts10: " in table.output and "tcbench datasets import mirage19" in table.output
    assert "ETA " in table.output
    # With the reduction the paper ran with (snakemake --config): its reduced campaigns, every run done.
    reduced = CliRunner().invoke(cli, [*args, "--config", "reduce={seeds: 1}"], env={"COLUMNS": "400"})
    assert reduced.exit_code == 0, reduced.output
    counts = re.search(r"paper imc23: (\d+) distinct runs \(done (\d+), running 0, failed 0, pending 0\)", reduced.output)
    assert counts and counts[1] == counts[2] and int(counts[1]) < len(planned), reduced.output
    assert "t4-reduced-" in reduced.output and "ETA" not in reduced.output
    bad = CliRunner().invoke(cli, [*args, "--config", "reduce={seeds: 0}"])
    assert bad.exit_code != 0 and "reduce.seeds" in bad.output and len(bad.output.strip().splitlines()) <= 3


def test_the_paper_page_of_the_reduction_given_on_the_command_line_is_the_workflows(paper_dir, tmp_path):
    """`tcbench campaign paper-report --configfile paper.yaml --config "reduce={seeds: 1}"` rebuilds the page of the
    reduced paper the workflow ran: the same tables.csv."""
    from click.testing import CliRunner

    from tcbench.cli.main import cli

    workdir = paper_dir.parent.parent
    args = ["campaign", "paper-report", "--configfile", str(workdir / "paper.yaml"),
            "--results-dir", str(workdir / "results"), "--output-dir", str(tmp_path)]
    with contextlib.chdir(workdir):
        written = CliRunner().invoke(cli, [*args, "--config", "reduce={seeds: 1}"])
    assert written.exit_code == 0, written.output
    ours, workflows = pd.read_csv(tmp_path / "tables.csv"), pd.read_csv(paper_dir / "tables.csv")
    pd.testing.assert_frame_equal(ours, workflows)


def test_the_paper_page_renders_in_a_real_browser(paper_dir):
    """Headless Chromium opens the page from disk: the data, findings and every table and figure section, every
    image loaded, pending rows marked, one row per finding."""
    exe = browser()
    page = paper_dir / "report.html"
    probe = page.with_name("probe.html")
    count = ("<script>window.addEventListener('load', function () { var b = document.body.dataset;"
             "b.pending = document.querySelectorAll('table.cells tr.pending').length;"
             "b.done = document.querySelectorAll('table.cells tr.done').length;"
             "b.findings = document.querySelectorAll('#findings tr.finding').length;"
             "b.sections = Array.from(document.querySelectorAll('section')).map(function (s) { return s.id; }).join(',');"
             "});</script></body>")
    probe.write_text(page.read_text().replace("</body>", count))
    dom = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                          "--disable-background-networking", "--no-first-run", "--virtual-time-budget=10000",
                          "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=180).stdout
    probe.unlink()
    body = dom[dom.index("<body"):dom.index(">", dom.index("<body"))]
    attrs = dict(part.split("=", 1) for part in body.replace('"', "").split()[1:])
    assert attrs["data-sections"].split(",") == ["data", "findings", *references()]
    assert int(attrs["data-images"]) >= 3 and attrs["data-images-loaded"] == attrs["data-images"], body
    assert int(attrs["data-pending"]) > 0 and int(attrs["data-done"]) > 0
    assert int(attrs["data-findings"]) == len(FINDINGS)
    tables = pd.read_csv(paper_dir / "tables.csv")
    assert int(attrs["data-pending"]) == int((tables["status"] == "pending").sum())


# ------------------------------------------------------------------------------------ the findings on made-up runs
def _table4(script_minus_human: float, seed: int = 0) -> pd.DataFrame:
    """Table-4-like runs: noaug and changertt at dims 32 and 64, 3 splits x 2 seeds, script and human accuracies."""
    rng = np.random.default_rng(seed)
    rows = []
    for aug in ("noaug", "changertt"):
        for dim in (32, 64):
            for split in range(3):
                for run_seed in (1, 2):
                    key = f"{aug}{dim}{split}{run_seed}"
                    human = 70 + rng.normal(0, 1)
                    for context, acc in (("test-human", human), ("test-script", human + script_minus_human + rng.normal(0, 1))):
                        rows.append({"run_key": key, "test_split_name": context, "aug_name": aug, "flowpic_dim": dim,
                                     "split_index": split, "seed": run_seed, "acc": acc, "method": "monolithic"})
    return pd.DataFrame(rows)


def _runs(long: pd.DataFrame | None) -> PaperRuns:
    campaign = CampaignRuns("t4", long=long, pending=None if long is not None else "not run yet")
    return PaperRuns("imc23", {"imc23-table4": ["t4"]}, {"t4": campaign})


def _finding(runs: PaperRuns, finding_id: str) -> pd.Series:
    findings = evaluate(runs, [f for f in FINDINGS if f.id == finding_id])
    return findings.iloc[0]


def test_a_finding_holds_fails_or_is_pending_as_its_test_says():
    holds = _finding(_runs(_table4(25.0)), "human-harder")
    assert holds["status"] == HOLDS and holds["p_value"] < 1e-6 and "+25" in holds["figures"]
    fails = _finding(_runs(_table4(-5.0)), "human-harder")  # script easier than human here: the claim fails
    assert fails["status"] == FAILS and fails["p_value"] > 0.5
    pending = _finding(_runs(None), "human-harder")
    assert pending["status"] == PENDING and "t4: not run yet" in pending["figures"] and math.isnan(pending["p_value"])
    # a table the plan does not hold at all
    assert _finding(_runs(_table4(25.0)), "dropout-no-effect")["status"] == PENDING


def test_table10_is_tukeys_hsd_between_dims():
    from scipy import stats

    long = _table4(20.0)
    long = pd.concat([long, long[long["flowpic_dim"] == 64].assign(
        flowpic_dim=1500, acc=lambda f: f["acc"] - 10, run_key=lambda f: f["run_key"] + "-1500")])
    tukey = tukey_between_dims(long)
    script = long[long["test_split_name"] == "test-script"]
    expected = stats.tukey_hsd(*(script[script["flowpic_dim"] == d]["acc"].to_numpy() for d in (32, 64, 1500)))
    assert tukey["p_value"].tolist() == pytest.approx([expected.pvalue[0, 1], expected.pvalue[0, 2], expected.pvalue[1, 2]])
    verdict = _finding(_runs(long), "dims-32-64-same-1500-differs")
    assert verdict["status"] == HOLDS, verdict["figures"]


def test_reduce_keeps_the_first_replicates_and_the_run_keys_of_the_full_paper():
    """A reduced campaign's runs are runs of the full campaign (same keys); its id says it is reduced."""
    import copy

    from tcbench.campaign.compose import SCHEMA
    from tcbench.campaign.config import prepare_config
    from tcbench.campaign.grid import campaign_runs
    from tcbench.campaign.paper import reduce_campaign

    full = yaml.safe_load((ROOT / "config/campaigns/imc23-ucdavis-contralearn-and-finetune.yaml").read_text())
    reduced = copy.deepcopy(full)
    reduce_campaign(reduced, {"splits": 2, "seeds": 1})
    assert reduced["grid"]["split_index"] == [0, 1] and reduced["grid"]["contrastive_learning_seed"] == [12345]
    assert reduced["grid"]["finetune_seed"] == [12345] and reduced["grid"]["projection_layer_dim"] == [30]
    assert reduced["campaign_id"] == "imc23-ucdavis-contralearn-and-finetune-reduced-2x1"
    keys = [{s.run_key for s in campaign_runs(prepare_config(c, SCHEMA))} for c in (full, reduced)]
    assert len(keys[1]) == 2 and keys[1] <= keys[0]


def test_a_plan_without_any_run_gives_a_page_of_pending_cells(tmp_path):
    """No campaign ran yet (one not started, one skipped): the page, tables.csv and findings.csv are written, every
    cell and finding pending with its reason."""
    from tcbench.reporting.paper_page import write_paper_page
    from tcbench.reporting.paper_runs import load_paper_runs

    plan = {"paper": "imc23", "tables": {"imc23-table4": ["t4"], "imc23-table8": ["m19"]},
            "skipped": {"m19": "import it first: tcbench datasets import mirage19"}}
    write_paper_page(load_paper_runs(plan, tmp_path / "results"), tmp_path / "paper")
    tables = pd.read_csv(tmp_path / "paper" / "tables.csv")
    assert list(dict.fromkeys(tables["reference"])) == references() and set(tables["status"]) == {"pending"}
    notes = dict(zip(tables["reference"], tables["note"]))
    assert notes["imc23-table4"] == "t4: not run yet" and notes["imc23-table10"] == "t4: not run yet"
    assert "tcbench datasets import mirage19" in notes["imc23-figure7"]
    assert set(pd.read_csv(tmp_path / "paper" / "findings.csv")["status"]) == {PENDING}
    assert '<section id="imc23-figure11"' in (tmp_path / "paper" / "report.html").read_text()
