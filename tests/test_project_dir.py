"""One project, wherever a command starts: relative paths of a config resolve against the project folder for
Snakemake and `tcbench campaign` alike, and planning refuses to start a results tree in a folder that is not a
project unless asked (`start_project`).

A copy of the workflow (Snakefile, workflow/, config/config.yaml) in a temp folder is the project, so nothing here
touches the repository's own results.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_workflow import ROOT, TINY_CONFIG, planned_jobs

ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
ONE_RUN = {**TINY_CONFIG, "campaign_id": "elsewhere", "training": {"epochs": 1},
           "grid": {**TINY_CONFIG["grid"], "split_index": [0], "seed": [1]}}


def make_project(folder: Path, config: dict) -> Path:
    """A project folder: the Snakefile, workflow/ and the campaign as its config/config.yaml."""
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "Snakefile", folder / "Snakefile")
    shutil.copytree(ROOT / "workflow", folder / "workflow", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "config").mkdir()
    (folder / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return folder


def run(args: list[str], cwd: Path, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=ENV, timeout=timeout)


def said(proc: subprocess.CompletedProcess) -> str:
    return proc.stdout + proc.stderr


@pytest.mark.slow  # 26 s (a campaign); the project checks of planning stay in `make test`: the test below
def test_snakemake_and_status_from_another_folder_work_on_the_project(tmp_path):
    """`snakemake -s proj/Snakefile` started in another folder runs the project's campaign in the project (its
    default config, results, dataset, .snakemake/) and leaves nothing in the folder it started in; run again from
    there it plans nothing; `tcbench campaign status` from there reports the campaign done, not pending."""
    project = make_project(tmp_path / "proj", ONE_RUN)
    other = tmp_path / "other"
    other.mkdir()
    snakemake = [sys.executable, "-m", "snakemake", "-s", str(project / "Snakefile")]

    done = run([*snakemake, "--cores", "2"], other)
    assert done.returncode == 0, said(done)[-3000:]
    assert f"note: {other} is not a tcbench project: working in the project {project}" in said(done)
    assert len(list((project / "results" / "runs").glob("*/marker.json"))) == 1
    assert (project / "results" / "campaigns" / "elsewhere" / "aim_merge.json").exists()
    assert list((project / "resources" / "datasets").glob("*/dataset.json"))
    assert list((project / ".snakemake" / "log").glob("*.snakemake.log")), "Snakemake's log moved to the project"
    assert list(other.iterdir()) == [], "nothing is written in the folder the command started in"

    again = run([*snakemake, "-n"], other)
    assert again.returncode == 0, said(again)[-3000:]
    assert "train" not in planned_jobs(said(again)) and "synth_dataset" not in planned_jobs(said(again))
    assert list(other.iterdir()) == []

    status = run([sys.executable, "-m", "tcbench", "campaign", "status", "--configfile",
                  str(project / "config" / "config.yaml"), "--json", "--all"], other)
    assert status.returncode == 0, said(status)[-3000:]
    rows = [yaml.safe_load(line) for line in status.stdout.splitlines()]
    assert [row["state"] for row in rows] == ["done"]
    assert rows[0]["log"].startswith(str(project))


def test_a_folder_that_is_not_a_project_is_refused_unless_asked(tmp_path):
    """-d / --directory naming a non-empty folder with no sign of a project: planning stops with one line naming the
    folder and the way on (`start_project=true`), for Snakemake and the campaign command; asked, it plans there.
    An empty folder is a new project; a folder holding the config is one."""
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "todo.txt").write_text("not a campaign\n")
    config = tmp_path / "configs" / "c.yaml"
    config.parent.mkdir()
    config.write_text(yaml.safe_dump(ONE_RUN))
    snakemake = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "--configfile", str(config)]

    refused = run([*snakemake, "-d", str(notes), "-n"], tmp_path)
    assert refused.returncode != 0 and "Traceback" not in said(refused)
    assert f"{notes} is not a tcbench project (it holds todo.txt" in said(refused)
    assert "set start_project: true" in said(refused) and "--config start_project=true" in said(refused)
    assert not (notes / "results").exists() and not (notes / "resources").exists()
    command = [sys.executable, "-m", "tcbench", "campaign", "augment-at-loading", "--configfile", str(config),
               "--directory", str(notes), "--dry-run"]
    cli = run(command, tmp_path)
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    (error,) = [line for line in cli.stderr.splitlines() if line.startswith("error:")]
    assert f"{notes} is not a tcbench project" in error and "start_project: true" in error
    assert not (notes / "results").exists() and not (notes / "resources").exists()

    asked = run([*snakemake, "-d", str(notes), "-n", "--config", "start_project=true"], tmp_path)
    assert asked.returncode == 0, said(asked)[-3000:]
    assert planned_jobs(said(asked))["train"] == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    fresh = run([*snakemake, "-d", str(empty), "-n"], tmp_path)
    assert fresh.returncode == 0, said(fresh)[-3000:]
    assert planned_jobs(said(fresh))["train"] == 1
