"""``tcbench aimrepo merge`` on small AIM repos built with ``aim.Run``."""

from __future__ import annotations

import gc
from collections.abc import Sequence
from pathlib import Path

import pytest
from click.testing import CliRunner

from tcbench.cli.main import cli
from tcbench.tracking.aim_repo import forget_repo, init_run_repo, list_run_hashes


def _track(repo: Path, seed: int, acc: float, run_key: str | None, tags: Sequence[str] = ()) -> str:
    from aim import Run

    run = Run(repo=str(repo), experiment="exp", system_tracking_interval=None,
              capture_terminal_logs=False, log_system_params=False)
    run["hparams"] = {"seed": seed, "flowpic_dim": 32}
    for tag in tags:
        run.add_tag(tag)
    if run_key is not None:
        run["run_key"] = run_key
    for step, v in enumerate((acc - 2.0, acc)):
        run.track(v, name="acc", step=step, context={"subset": "test"})
    run_hash = run.hash
    run.close()
    del run
    gc.collect()
    return run_hash


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """Repo a: 2 runs (one with an artifacts folder); repo b: 1 run + a copy of a's first run_key (same run, re-tracked)."""
    root = tmp_path_factory.mktemp("merge")
    a, b = init_run_repo(root / "a"), init_run_repo(root / "b")
    runs = {}  # hash -> (seed, acc)
    tags = {}  # hash -> AIM tags the run was written with
    for seed, acc, key in ((1, 90.0, "k1"), (2, 91.0, "k2")):
        h = _track(a, seed, acc, key, ("campaign:a", f"seed:{seed}"))
        runs[h], tags[h] = (seed, acc), ["campaign:a", f"seed:{seed}"]
    first = sorted(runs)[0]
    (a / "artifacts" / first).mkdir(parents=True)
    (a / "artifacts" / first / "params.yml").write_text("seed: 1\n")
    h = _track(b, 3, 92.0, None, ("seed:3",))
    runs[h], tags[h] = (3, 92.0), ["seed:3"]
    dup = _track(b, 1, 90.0, "k1")  # same run_key as a run of a: a duplicate
    forget_repo(a)
    forget_repo(b)
    return {"root": root, "a": a, "b": b, "runs": runs, "tags": tags, "first": first, "dup": dup}


def invoke(*args: str):
    return CliRunner().invoke(cli, ["aimrepo", "merge", *args], catch_exceptions=False)


def _read(dst: Path) -> dict[str, tuple[int, float]]:
    from aim import Repo

    forget_repo(dst)
    repo = Repo(str(dst))
    out = {}
    for run in repo.iter_runs():
        seqs = {s.name: s for s in run.metrics()}
        out[run.hash] = (run["hparams"]["seed"], seqs["acc"].values.values_numpy()[-1])
    del repo
    forget_repo(dst)
    return out


def _tags(dst: Path) -> dict[str, tuple[list[str], str]]:
    """hash -> (sorted AIM tags, experiment), through the SDK."""
    from aim import Repo

    forget_repo(dst)
    repo = Repo(str(dst))
    out = {run.hash: (sorted(run.tags), run.experiment) for run in repo.iter_runs()}
    del repo
    forget_repo(dst)
    return out


def test_merge_new_dst_then_again_adds_nothing(sources, tmp_path):
    dst = tmp_path / "dst"
    res = invoke("--src", str(sources["a"]), "--src", str(sources["b"]), "--dst", str(dst))
    assert res.exit_code == 0, res.output
    assert "1 duplicate(s) skipped" in res.output
    assert "now holds 3 run(s)" in res.output
    got = _read(dst)
    assert set(got) == set(sources["runs"])
    for h, (seed, acc) in sources["runs"].items():
        assert got[h][0] == seed and got[h][1] == pytest.approx(acc)
    assert (dst / "artifacts" / sources["first"] / "params.yml").read_text() == "seed: 1\n"
    assert sorted(p.name for p in (dst / "artifacts").iterdir()) == [sources["first"]]
    # Repo.copy_runs keeps the runs' AIM tags and experiment
    assert _tags(dst) == {h: (sorted(t), "exp") for h, t in sources["tags"].items()}

    res = invoke("--src", str(sources["a"]), "--src", str(sources["b"]), "--dst", str(dst))
    assert res.exit_code == 0, res.output
    assert "total: 0 copied, 4 duplicate(s) skipped" in res.output
    assert set(_read(dst)) == set(sources["runs"])
    assert len(list_run_hashes(dst)) == 3
    assert _tags(dst) == {h: (sorted(t), "exp") for h, t in sources["tags"].items()}  # no tag doubled


def test_existing_dst_keeps_its_runs(sources, tmp_path):
    dst = init_run_repo(tmp_path / "dst")
    own = _track(dst, 7, 50.0, "own", ("seed:3",))  # a tag dst already has: reused, not duplicated
    forget_repo(dst)
    res = invoke("--src", str(sources["b"]), "--dst", str(dst))
    assert res.exit_code == 0, res.output
    got = _read(dst)
    assert own in got and got[own] == (7, pytest.approx(50.0))
    assert sources["dup"] in got and len(got) == 3
    tags = _tags(dst)
    assert tags[own] == (["seed:3"], "exp") and tags[sources["dup"]] == ([], "exp")
    seed3 = [h for h, t in sources["tags"].items() if t == ["seed:3"]][0]
    assert tags[seed3] == (["seed:3"], "exp")
    import sqlite3

    con = sqlite3.connect(dst / ".aim" / "run_metadata.sqlite")
    assert con.execute("SELECT name FROM tag").fetchall() == [("seed:3",)]
    con.close()


def test_bad_src_and_dst_equal_src(sources, tmp_path):
    bad = tmp_path / "not-a-repo"
    bad.mkdir()
    res = invoke("--src", str(sources["a"]), "--src", str(bad), "--dst", str(tmp_path / "dst"))
    assert res.exit_code == 2
    assert str(bad) in res.output
    assert not (tmp_path / "dst").exists()
    res = invoke("--src", str(sources["a"]), "--dst", str(sources["a"]))
    assert res.exit_code == 2
    assert str(sources["a"]) in res.output


def test_locked_run_skipped_stale_lock_cleared(tmp_path):
    import os
    import uuid

    src = init_run_repo(tmp_path / "src")
    live, stale = _track(src, 1, 80.0, "l1"), _track(src, 2, 81.0, "l2")
    forget_repo(src)
    locks = src / ".aim" / "locks"
    locks.mkdir(exist_ok=True)
    (locks / f"{live}.softlock").write_text(f"{uuid.getnode()}-{os.getpid()}-0")  # this (live) process
    (locks / f"{stale}.softlock").write_text(f"{uuid.getnode()}-999999999-0")  # a dead writer
    dst = tmp_path / "dst"
    res = invoke("--src", str(src), "--dst", str(dst))
    assert res.exit_code == 0, res.output
    assert "still locked by a live writer" in res.output and live in res.output
    assert set(_read(dst)) == {stale}
    assert (locks / f"{live}.softlock").exists()
