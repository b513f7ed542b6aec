"""`tcbench campaign status`: run states from markers, Snakemake's incomplete records and locks, and run logs."""

from __future__ import annotations

import json
import os
from base64 import urlsafe_b64encode
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tcbench.campaign.compose import complete_config
from tcbench.campaign.cost import CostModel
from tcbench.campaign.grid import campaign_runs
from tcbench.campaign.status import campaign_status
from tcbench.cli.main import cli
from tcbench.tracking.marker import write_marker

CONFIG = {"campaign_id": "watched", "dataset": {"name": "ucdavis-icdm19", "synthetic": {"scale": 0.05}},
          "splits": {"samples_per_class": 5},
          "grid": {"split_index": [0], "aug_name": ["noaug"], "flowpic_dim": [32], "seed": [1, 2, 3, 4, 5]}}


# Every test context of the CNN with every metric it declares: a marker lacking one is not done.
COMPLETE_METRICS = {ctx: {"acc": 90.0, "precision": 0.9, "recall": 0.9, "f1": 0.9}
                    for ctx in ("test-script", "test-human", "test-train-val-leftover")}


def _marker(key: str) -> dict:
    return {"marker_version": 1, "run_key": key, "method": "monolithic", "experiment": "e", "hparams": {},
            "aim": {"repo": "aim", "run_hash": "h"}, "metrics": COMPLETE_METRICS, "creation_time": 0.0, "end_time": 8.0,
            "durations": {"total": 8.0}, "versions": {}, "artifacts": []}


def _layout(workdir: Path, locked: bool) -> list[str]:
    """Run 1 done, 2 submitted to SLURM (incomplete record), 3 failed (log only), 4 and 5 pending."""
    config = complete_config(json.loads(json.dumps(CONFIG)))
    keys = [spec.run_key for spec in campaign_runs(config)]
    write_marker(workdir / "results" / "runs" / keys[0] / "marker.json", _marker(keys[0]))
    incomplete = workdir / ".snakemake" / "incomplete"
    incomplete.mkdir(parents=True)
    if locked:  # the live Snakemake took the folder, then submitted run 2
        (workdir / ".snakemake" / "locks").mkdir()
        lock = workdir / ".snakemake" / "locks" / "0.input.lock"
        lock.write_text("")
        os.utime(lock, (lock.stat().st_mtime - 60, lock.stat().st_mtime - 60))
    output = f"results/runs/{keys[1]}/marker.json"
    (incomplete / urlsafe_b64encode(output.encode()).decode()).write_text(json.dumps({"external_jobid": "4242"}))
    log = workdir / "results" / "logs" / "runs" / f"{keys[2]}.log"
    log.parent.mkdir(parents=True)
    log.write_text("Traceback ...\nValueError: boom\n")
    return keys


def test_a_record_older_than_the_live_snakemake_is_an_interrupted_run(tmp_path):
    """A run whose incomplete record was left by an earlier Snakemake (killed; its record predates the lock of the
    one running now) is not running: it is failed (interrupted), and does not count as a job in flight for the ETA."""
    keys = _layout(tmp_path, locked=True)
    record = tmp_path / ".snakemake" / "incomplete" / urlsafe_b64encode(f"results/runs/{keys[1]}/marker.json".encode()).decode()
    lock = tmp_path / ".snakemake" / "locks" / "0.input.lock"
    os.utime(record, (lock.stat().st_mtime - 60, lock.stat().st_mtime - 60))
    config = complete_config(json.loads(json.dumps(CONFIG)))
    status = campaign_status(config, tmp_path)
    states = {r.run_key: (r.state, r.detail) for r in status.runs}
    assert states[keys[1]] == ("failed", "interrupted") and status.counts["running"] == 0


def test_states_from_markers_records_locks_and_logs(tmp_path):
    keys = _layout(tmp_path, locked=True)
    status = campaign_status(complete_config(json.loads(json.dumps(CONFIG))), tmp_path)
    states = {r.run_key: r for r in status.runs}
    assert [states[k].state for k in keys] == ["done", "running", "failed", "pending", "pending"]
    assert states[keys[1]].external_jobid == "4242" and states[keys[2]].log.name == f"{keys[2]}.log"
    assert states[keys[0]].tags == {"split_index": 0, "aug_name": "noaug", "flowpic_dim": 32, "seed": 1}
    assert status.counts == {"done": 1, "running": 1, "failed": 1, "pending": 2} and not status.finished
    # the cost model's seconds (shipped defaults: one finished run does not calibrate) of the pending runs plus half
    # of the running one, and the campaign's steps after them (priced as the dry run does), one job in flight
    assert status.cost_source.startswith("shipped defaults")
    steps = CostModel().campaign_steps_seconds(len(keys))
    assert steps > 0 and status.steps_seconds == pytest.approx(steps)
    assert status.eta_seconds() == pytest.approx(status.costs[keys[3]] + status.costs[keys[4]] + status.costs[keys[1]] / 2
                                                 + steps)


def test_an_incomplete_run_without_snakemake_is_interrupted(tmp_path):
    keys = _layout(tmp_path, locked=False)
    status = campaign_status(complete_config(json.loads(json.dumps(CONFIG))), tmp_path)
    run = next(r for r in status.runs if r.run_key == keys[1])
    assert run.state == "failed" and run.detail == "interrupted"


def test_cli_lists_failed_runs_with_their_log(tmp_path):
    keys = _layout(tmp_path, locked=True)
    config = tmp_path / "watched.yaml"
    config.write_text(yaml.safe_dump(CONFIG))
    runner = CliRunner()
    listed = runner.invoke(cli, ["campaign", "status", "--configfile", str(config), "--directory", str(tmp_path), "--json",
                                 "--state", "failed", "--state", "running"])
    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert {(r["run_key"], r["state"]) for r in rows} == {(keys[1], "running"), (keys[2], "failed")}
    table = runner.invoke(cli, ["campaign", "status", "--configfile", str(config), "--directory", str(tmp_path)],
                          env={"COLUMNS": "400"})
    assert table.exit_code == 0 and "done 1, running 1, failed 1, pending 2" in table.output
    assert "job 4242" in table.output and f"{keys[2]}.log" in table.output


def test_watch_without_a_terminal_prints_one_line_per_refresh_until_done(tmp_path):
    """`status --watch` into a log file (no terminal, as CliRunner's output): a timed line of counts and ETA per
    refresh, and the command returns once every run is done."""
    import threading
    import time

    keys = _layout(tmp_path, locked=True)
    config = tmp_path / "watched.yaml"
    config.write_text(yaml.safe_dump(CONFIG))

    def finish() -> None:
        time.sleep(1.5)
        for key in keys[1:]:
            write_marker(tmp_path / "results" / "runs" / key / "marker.json", _marker(key))

    threading.Thread(target=finish).start()
    watched = CliRunner().invoke(cli, ["campaign", "status", "--configfile", str(config), "--directory", str(tmp_path),
                                       "--watch", "--interval", "0.5"])
    assert watched.exit_code == 0, watched.output
    lines = watched.output.splitlines()
    assert len(lines) >= 2 and "campaign watched: 5 runs (done 1, running 1, failed 1, pending 2), ETA" in lines[0]
    assert lines[-1].endswith("campaign watched: 5 runs (done 5, running 0, failed 0, pending 0)")


def test_records_of_finished_markers_are_released_only_without_a_live_snakemake(tmp_path):
    """Killed between a job writing its marker and Snakemake noticing: the valid marker's incomplete record goes,
    so --rerun-incomplete does not retrain it, and so does its metadata record (the job command it was made with);
    a run without a valid marker keeps its records; nothing is touched while a Snakemake process holds the
    directory."""
    from tcbench.campaign.status import release_finished_records

    keys = _layout(tmp_path, locked=True)
    outputs = [f"results/runs/{k}/marker.json" for k in keys]
    incomplete = tmp_path / ".snakemake" / "incomplete"
    done_record = incomplete / urlsafe_b64encode(outputs[0].encode()).decode()
    done_record.write_text("{}")
    (tmp_path / "results" / "runs" / keys[3]).mkdir(parents=True)
    (tmp_path / "results" / "runs" / keys[3] / "marker.json").write_text('{"marker_version": 1, "run_k')  # partial
    partial_record = incomplete / urlsafe_b64encode(outputs[3].encode()).decode()
    partial_record.write_text("{}")
    metadata = tmp_path / ".snakemake" / "metadata"
    metadata.mkdir()
    done_metadata = metadata / urlsafe_b64encode(outputs[0].encode()).decode()
    partial_metadata = metadata / urlsafe_b64encode(outputs[3].encode()).decode()
    for record in (done_metadata, partial_metadata):
        record.write_text('{"shellcmd": "an older job command"}')
    # A finished pre-training: its marker has its method's own shape (SimCLR's pre-training is not a tracked run).
    pretrain = "results/pretrain/0123456789abcdef/marker.json"
    write_marker(tmp_path / pretrain, {"marker_version": 1, "kind": "simclr-pretrain",
                                       "pretrain_key": "0123456789abcdef"})
    pretrain_metadata = metadata / urlsafe_b64encode(pretrain.encode()).decode()
    pretrain_metadata.write_text('{"shellcmd": "an older job command"}')
    markers = {**dict.fromkeys(outputs, True), pretrain: False}
    assert release_finished_records(markers, tmp_path) == [] and done_record.exists()  # locked: a live run
    for lock in (tmp_path / ".snakemake" / "locks").iterdir():
        lock.unlink()
    assert release_finished_records(markers, tmp_path) == [outputs[0], pretrain]
    assert not done_record.exists() and partial_record.exists()
    assert not done_metadata.exists() and partial_metadata.exists() and not pretrain_metadata.exists()
    assert (incomplete / urlsafe_b64encode(outputs[1].encode()).decode()).exists()  # no marker: kept


def test_the_eta_of_a_simclr_campaign_prices_its_pre_trainings_until_they_are_done(tmp_path):
    """Pending pre-trainings (SimCLR's) are in the ETA at the cost model's price; a finished one drops out."""
    config = complete_config({**json.loads(json.dumps(CONFIG)), "campaign_id": "simclr", "method": "simclr",
                              "grid": {"split_index": [0], "contrastive_learning_seed": [1, 2], "finetune_seed": [1],
                                       "flowpic_dim": [32], "projection_layer_dim": [30]}})
    before = campaign_status(config, tmp_path)
    assert len(before.pre_steps_left) == 2 and all(cost > 0 for cost in before.pre_steps_left.values())
    runs_only = sum(before.costs.values()) + before.steps_seconds
    assert before.eta_seconds() == pytest.approx(runs_only + sum(before.pre_steps_left.values()))
    done, training = list(before.pre_steps_left)
    # One pre-training in flight (the live Snakemake's record of its marker, no older than its lock) and no run: the
    # ETA is that job's half plus the rest, over one job in flight.
    for folder in ("locks", "incomplete"):
        (tmp_path / ".snakemake" / folder).mkdir(parents=True, exist_ok=True)
    (tmp_path / ".snakemake" / "locks" / "0.input.lock").write_text("")
    record = urlsafe_b64encode(f"results/pretrain/{training}/marker.json".encode()).decode()
    (tmp_path / ".snakemake" / "incomplete" / record).write_text("{}")
    write_marker(tmp_path / "results" / "pretrain" / done / "marker.json", _marker(done))
    after = campaign_status(config, tmp_path)
    assert set(after.pre_steps_left) == {training} and after.pre_steps_running == {training}
    assert after.eta_seconds() == pytest.approx(runs_only + before.pre_steps_left[training] / 2)
    # A run in flight beside it: two jobs in flight share the work left.
    run = next(iter(after.costs))
    (tmp_path / ".snakemake" / "incomplete" / urlsafe_b64encode(f"results/runs/{run}/marker.json".encode()).decode()).write_text("{}")
    both = campaign_status(config, tmp_path)
    assert both.eta_seconds() == pytest.approx((runs_only - both.costs[run] / 2 + before.pre_steps_left[training] / 2) / 2)


def test_the_eta_prices_the_campaign_steps_only_while_they_are_to_make(tmp_path):
    """The steps after the runs (summaries, merge, page) are in the ETA, as in the dry run's projection; a campaign
    whose runs are all done and whose page is written has none left."""
    from tcbench.campaign.folder import REPORT_PAGE, campaign_folder

    keys = _layout(tmp_path, locked=False)
    config = complete_config(json.loads(json.dumps(CONFIG)))
    assert campaign_status(config, tmp_path).steps_seconds == pytest.approx(CostModel().campaign_steps_seconds(len(keys)))
    for key in keys:
        write_marker(tmp_path / "results" / "runs" / key / "marker.json", _marker(key))
    assert campaign_status(config, tmp_path).steps_seconds > 0  # every run done, the page not written yet
    page = campaign_folder(tmp_path / "results", config["campaign_id"]) / REPORT_PAGE
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text("")
    status = campaign_status(config, tmp_path)
    assert status.steps_seconds == 0 and status.finished and status.eta_seconds() is None
