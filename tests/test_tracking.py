"""AIM tracking: template repos, the run writer, re-indexing, stale locks and the campaign merge, on real repos."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from tcbench.tracking import aim_repo
from tcbench.tracking.aim_repo import (
    clear_stale_locks,
    ensure_template_repo,
    forget_repo,
    init_run_repo,
    is_repo,
    list_run_hashes,
    open_repo,
    reindex,
    release_repo,
    run_is_locked,
)
from tcbench.tracking.aim_run import AimRunWriter
from tcbench.tracking.campaign_repo import MergeError, MergeSource, merge_run_repos
from tcbench.tracking.marker import write_marker

EXPERIMENT = "augmentation-at-loading"
TEST_CTXS = ("test-script", "test-human")


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return ensure_template_repo(tmp_path_factory.mktemp("results") / ".aim-template")


def _series(run) -> dict[tuple[str, str], tuple[list[int], list[float], list[float]]]:
    """(name, subset) -> (steps, values, epochs), sorted by step (ArrayView order is by step hash, not by step).

    A value tracked without an epoch reads back with epoch NaN; None here so that equal series compare equal.
    """
    out = {}
    for metric in run.metrics():
        steps, (values, epochs, _times) = metric.data.numpy()
        epochs = [None if np.isnan(e) else e for e in epochs.tolist()]
        out[metric.name, metric.context.to_dict()["subset"]] = (steps.tolist(), values.tolist(), epochs)
    return out


def _make_run(root: Path, template: Path, seed: int, *, artifacts: bool = True,
              tags: Sequence[str] = ()) -> tuple[Path, AimRunWriter]:
    run_key = f"{seed:016x}"
    run_dir = root / "runs" / run_key
    init_run_repo(run_dir / "aim", template)
    hparams = {"flowpic_dim": 32, "split_index": seed % 5, "aug_name": "noaug", "seed": np.int64(seed)}
    with AimRunWriter(run_dir / "aim", EXPERIMENT, hparams, run_key, tags=tags) as writer:
        for epoch in range(4):
            writer.track(np.float32(1.0 / (epoch + 1 + seed)), "loss", "train", epoch=epoch)
            writer.track(50.0 + epoch + seed, "acc", "train", epoch=epoch)
            writer.track(60.0 + epoch, "acc", "val", epoch=epoch)
        for ctx in TEST_CTXS:
            writer.track(90.0 + seed, "acc", ctx)
            writer.track(0.9, "f1", ctx)
    names = []
    if artifacts:
        (run_dir / "artifacts").mkdir()
        (run_dir / "artifacts" / "best_model_weights_split_0.pt").write_bytes(os.urandom(1000))
        (run_dir / "artifacts" / "params.yml").write_text(f"seed: {seed}\n")
        names = ["best_model_weights_split_0.pt", "params.yml"]
    write_marker(
        run_dir / "marker.json",
        {
            "marker_version": 1,
            "run_key": run_key,
            "method": "monolithic",
            "experiment": EXPERIMENT,
            "hparams": hparams,
            "aim": {"repo": "aim", "run_hash": writer.run_hash},
            "metrics": {},
            "creation_time": writer.creation_time,
            "end_time": writer.end_time,
            "durations": {},
            "versions": {},
            "artifacts": names,
        },
    )
    return run_dir, writer


def _runs_by_hash(repo_root: Path) -> dict:
    with open_repo(repo_root) as repo:
        return {
            run.hash: {
                "hparams": run["hparams"],
                "run_key": run["run_key"],
                "experiment": run.experiment,
                "creation_time": run.creation_time,
                "end_time": run.end_time,
                "series": _series(run),
            }
            for run in repo.iter_runs()
        }


def _no_temp_siblings(path: Path) -> bool:
    return not [p for p in path.parent.iterdir() if p.name.startswith(f".{path.name}.")]


# ----------------------------------------------------------------------------------------------------------------


def test_importing_tracking_does_not_import_aim():
    code = (
        "import sys, tcbench.tracking.aim_repo, tcbench.tracking.aim_run, tcbench.tracking.campaign_repo, "
        "tcbench.tracking.marker; assert 'aim' not in sys.modules, 'aim imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_template_copies_are_independent_repos(template, tmp_path):
    assert is_repo(template) and list_run_hashes(template) == []
    assert ensure_template_repo(template) == template  # existing template: returned as is

    run_a, writer_a = _make_run(tmp_path, template, 1)
    run_b, writer_b = _make_run(tmp_path, template, 2)
    assert writer_a.run_hash != writer_b.run_hash
    assert list_run_hashes(run_a / "aim") == [writer_a.run_hash]
    assert list_run_hashes(run_b / "aim") == [writer_b.run_hash]
    assert list_run_hashes(template) == []  # the template itself never receives a run

    # closed runs are invisible to iter_runs() until the repo is re-indexed
    with open_repo(run_a / "aim") as repo:
        assert [r.hash for r in repo.iter_runs()] == []
    assert reindex(run_a / "aim") == [writer_a.run_hash]
    runs = _runs_by_hash(run_a / "aim")
    assert list(runs) == [writer_a.run_hash]
    assert runs[writer_a.run_hash]["hparams"]["split_index"] == 1
    with open_repo(template) as repo:  # template's SQLite still holds no run row
        assert len(list(repo.structured_db.runs())) == 0


def test_template_race_loser_discards_its_copy(template, tmp_path, monkeypatch):
    target = tmp_path / "results" / ".aim-template"

    def build_while_other_process_wins(tmp: Path) -> None:
        # a real build takes ~2 s; the template's bytes are the same repo
        shutil.copytree(template / ".aim", tmp / ".aim")
        shutil.copytree(template / ".aim", target / ".aim")  # the other process renames first

    monkeypatch.setattr(aim_repo, "_create_repo", build_while_other_process_wins)
    assert ensure_template_repo(target) == target
    assert is_repo(target)
    assert _no_temp_siblings(target)


@pytest.mark.slow
def test_template_real_race_between_processes(tmp_path):
    target = tmp_path / ".aim-template"
    code = f"from tcbench.tracking.aim_repo import ensure_template_repo; ensure_template_repo({str(target)!r})"
    procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(2)]
    assert [p.wait() for p in procs] == [0, 0]
    assert is_repo(target) and list_run_hashes(target) == []
    assert _no_temp_siblings(target)


def test_init_run_repo_replaces_leftover_but_not_foreign_data(template, tmp_path):
    run_dir, writer = _make_run(tmp_path, template, 3, artifacts=False)
    init_run_repo(run_dir / "aim", template)  # leftover of an earlier attempt: wiped
    assert list_run_hashes(run_dir / "aim") == []
    with pytest.raises(FileExistsError, match="more than an AIM repo"):
        init_run_repo(run_dir, template)  # holds marker.json: refused, nothing removed
    assert (run_dir / "marker.json").exists()


def test_writer_records_hparams_metrics_and_times(template, tmp_path):
    run_dir, writer = _make_run(tmp_path, template, 4)
    assert len(writer.run_hash) == 24
    assert writer.creation_time < writer.end_time
    reindex(run_dir / "aim")
    run = _runs_by_hash(run_dir / "aim")[writer.run_hash]
    assert run["hparams"] == {"flowpic_dim": 32, "split_index": 4, "aug_name": "noaug", "seed": 4}
    assert run["run_key"] == f"{4:016x}" and run["experiment"] == EXPERIMENT
    assert run["creation_time"] == writer.creation_time and run["end_time"] == writer.end_time
    assert set(run["series"]) == {("loss", "train"), ("acc", "train"), ("acc", "val")} | {
        (m, c) for m in ("acc", "f1") for c in TEST_CTXS
    }
    steps, values, epochs = run["series"]["loss", "train"]
    assert steps == [0, 1, 2, 3] and epochs == [0, 1, 2, 3]
    assert values == pytest.approx([1 / 5, 1 / 6, 1 / 7, 1 / 8])
    assert run["series"]["acc", "test-human"] == ([0], [94.0], [None])


def test_writer_failure_closes_run_and_reraises(template, tmp_path):
    repo = init_run_repo(tmp_path / "aim", template)
    with pytest.raises(ZeroDivisionError):
        with AimRunWriter(repo, EXPERIMENT, {"seed": 1}, "k" * 16) as writer:
            writer.track(0.5, "loss", "train", epoch=0)
            _ = 1 / 0
    assert writer.end_time is not None and writer.end_time >= writer.creation_time
    assert not run_is_locked(repo, writer.run_hash)
    assert not (repo / ".aim" / "meta" / "progress" / writer.run_hash).exists()
    reindex(repo)
    run = _runs_by_hash(repo)[writer.run_hash]
    assert run["end_time"] == writer.end_time
    assert run["series"]["loss", "train"][1] == [0.5]
    with pytest.raises(RuntimeError, match="not open"):
        writer.track(1.0, "loss", "train")


def test_clear_stale_locks_after_kill_9(template, tmp_path):
    repo = init_run_repo(tmp_path / "aim", template)
    child = textwrap.dedent(
        f"""
        import os, signal
        from tcbench.tracking.aim_run import AimRunWriter
        w = AimRunWriter({str(repo)!r}, "x", {{"seed": 1}}, "k" * 16).open()
        w.track(1.0, "loss", "train", epoch=0)
        print(w.run_hash, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    proc = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True)
    assert proc.returncode == -9
    run_hash = proc.stdout.strip()
    assert run_is_locked(repo, run_hash)
    assert (repo / ".aim" / "meta" / "progress" / run_hash).exists()

    # a live writer's lock (this process) is not stale and must survive
    with AimRunWriter(repo, "x", {}, "live") as live:
        assert clear_stale_locks(repo) == [run_hash]
        assert run_is_locked(repo, live.run_hash)
    assert not run_is_locked(repo, run_hash)
    assert not (repo / ".aim" / "meta" / "progress" / run_hash).exists()
    # the killed run's data is still readable (RocksDB replays its write-ahead log)
    reindex(repo)
    runs = _runs_by_hash(repo)
    assert runs[run_hash]["series"]["loss", "train"][1] == [1.0]
    assert runs[run_hash]["end_time"] is None


# ----------------------------------------------------------------------------------------------------------------
# merge


@pytest.fixture(scope="module")
def three_runs(template, tmp_path_factory):
    root = tmp_path_factory.mktemp("campaign")
    made = [_make_run(root, template, seed) for seed in (11, 12, 13)]
    return root, made


def _sources(made, campaign_id: str) -> list[MergeSource]:
    return [
        MergeSource(run_dir, {"campaign_id": campaign_id, "campaign_exp_idx": i + 1})
        for i, (run_dir, _) in enumerate(made)
    ]


def test_merge_three_runs(template, three_runs):
    root, made = three_runs
    dst = root / "campaigns" / "c1" / "aim"
    sources = _sources(made, "c1")
    report = merge_run_repos(sources, dst, template=template)
    assert [r.run_key for r in report.runs] == [f"{s:016x}" for s in (11, 12, 13)]
    assert report.duplicates == []

    merged = _runs_by_hash(dst)  # visible through iter_runs(): re-indexed
    assert set(merged) == {w.run_hash for _, w in made}
    for i, (run_dir, writer) in enumerate(made):
        src = _runs_by_hash_single(run_dir / "aim", writer.run_hash)
        got = merged[writer.run_hash]
        assert got["hparams"] == {**src["hparams"], "campaign_id": "c1", "campaign_exp_idx": i + 1}
        assert got["series"] == src["series"]  # every value, step and epoch intact
        assert (got["creation_time"], got["end_time"]) == (writer.creation_time, writer.end_time)
        assert got["experiment"] == EXPERIMENT and got["run_key"] == src["run_key"]
        for name in ("best_model_weights_split_0.pt", "params.yml"):
            copied = dst / "artifacts" / writer.run_hash / name
            assert copied.read_bytes() == (run_dir / "artifacts" / name).read_bytes()

    with open_repo(dst) as repo:
        hits = list(repo.query_runs("run.hparams.campaign_id == 'c1' and run.hparams.campaign_exp_idx > 1",
                                    report_mode=0).iter_runs())
        assert {h.run.hash for h in hits} == {w.run_hash for _, w in made[1:]}
    assert _no_temp_siblings(dst)
    assert all(not run_is_locked(dst, w.run_hash) for _, w in made)


def _runs_by_hash_single(repo_root: Path, run_hash: str) -> dict:
    reindex(repo_root)
    return _runs_by_hash(repo_root)[run_hash]


def test_merge_twice_and_duplicates_give_same_runs(template, three_runs):
    root, made = three_runs
    dst = root / "campaigns" / "c2" / "aim"
    sources = _sources(made, "c2")
    first = merge_run_repos(sources, dst, template=template)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = aim_repo.socket.gethostname().replace("-", "_")
    leftover = dst.parent / f".{dst.name}.tmp-{host}-{dead.pid}-0000"  # a merge killed mid-build
    (leftover / ".aim").mkdir(parents=True)
    second = merge_run_repos(sources + sources[:2], dst, template=template)  # over an existing dst, keys repeated
    assert sorted(second.duplicates) == sorted(r.run_key for r in first.runs[:2])
    assert second.run_hashes == first.run_hashes
    assert sorted(list_run_hashes(dst)) == sorted(first.run_hashes)
    assert len(_runs_by_hash(dst)) == 3
    assert sorted(p.name for p in (dst / "artifacts").iterdir()) == sorted(first.run_hashes)
    assert _no_temp_siblings(dst)  # the dead merge's leftover was swept too


def test_aim_engine_and_file_engine_agree(template, three_runs):
    root, made = three_runs
    sources = [MergeSource(made[0][0], {"campaign_id": "c3", "campaign_exp_idx": 1})]
    by_files = merge_run_repos(sources, root / "files" / "aim", template=template, engine="files")
    by_aim = merge_run_repos(sources, root / "aim-engine" / "aim", template=template, engine="aim")
    assert by_files.run_hashes == by_aim.run_hashes
    assert _runs_by_hash(root / "files" / "aim") == _runs_by_hash(root / "aim-engine" / "aim")


def test_failed_merge_leaves_previous_dst_intact(template, three_runs, tmp_path):
    root, made = three_runs
    dst = root / "campaigns" / "c4" / "aim"
    sources = _sources(made, "c4")
    merge_run_repos(sources[:2], dst, template=template)
    before = _runs_by_hash(dst)

    broken_dir, broken = _make_run(tmp_path, template, 21)
    (broken_dir / "artifacts" / "dangling").symlink_to(tmp_path / "does-not-exist")  # fails mid-merge, after AIM copy
    with pytest.raises(shutil.Error):
        merge_run_repos(sources + [MergeSource(broken_dir, {"campaign_id": "c4", "campaign_exp_idx": 4})], dst,
                        template=template)
    assert _runs_by_hash(dst) == before
    assert broken.run_hash not in list_run_hashes(dst)
    assert _no_temp_siblings(dst)


def test_merge_refuses_incomplete_runs(template, three_runs, tmp_path):
    root, made = three_runs
    no_marker = tmp_path / "runs" / "nomarker"
    init_run_repo(no_marker / "aim", template)
    with pytest.raises(MergeError, match="not complete"):
        merge_run_repos([MergeSource(no_marker)], tmp_path / "dst" / "aim", template=template)
    with pytest.raises(MergeError, match="campaign_exp_idx"):
        merge_run_repos([MergeSource(made[0][0], {"campaign_exp_idx": "1"})], tmp_path / "dst" / "aim")
    assert not (tmp_path / "dst" / "aim").exists()


# ----------------------------------------------------------------------------------------------------------------
# AIM run tags and the experiment label

GRID_TAGS = ("method:monolithic", "dataset:ucdavis-icdm19", "aug:noaug", "dim:32")


def _tags_and_experiment(repo_root: Path) -> dict[str, tuple[list[str], str]]:
    """hash -> (tags, experiment), read back through the SDK after a re-index (what the AIM UI shows)."""
    with open_repo(repo_root) as repo:
        return {run.hash: (sorted(run.tags), run.experiment) for run in repo.iter_runs()}


def _experiment_names(repo_root: Path) -> set[str]:
    con = sqlite3.connect(f"file:{repo_root / '.aim' / 'run_metadata.sqlite'}?mode=ro", uri=True)
    try:
        return {name for (name,) in con.execute("SELECT name FROM experiment")}
    finally:
        con.close()


def test_writer_adds_tags(template, tmp_path):
    tags = ["method:monolithic", "dataset:ucdavis-icdm19", "aug:changertt", "dim:32", "split:0", "seed:42", "dim:32"]
    run_dir, writer = _make_run(tmp_path, template, 42, tags=tags)
    assert writer.tags == tuple(tags[:-1])  # the repeat is dropped
    from aim import Repo

    reindex(run_dir / "aim")  # get_run / iter_runs see a closed run only once it is indexed
    repo = Repo(str(run_dir / "aim"))
    try:
        assert sorted(repo.get_run(writer.run_hash).tags) == sorted(tags[:-1])
    finally:
        release_repo(repo)
        forget_repo(run_dir / "aim")
    assert _tags_and_experiment(run_dir / "aim") == {writer.run_hash: (sorted(tags[:-1]), EXPERIMENT)}
    # a later props write of the run is still committed (the tag transaction leaves aim's session in autocommit)
    init_run_repo(tmp_path / "named", template)
    with AimRunWriter(tmp_path / "named", EXPERIMENT, {}, "named", tags=["a:1"]) as named:
        named.run.name = "renamed"
    reindex(tmp_path / "named")
    with open_repo(tmp_path / "named") as repo:
        assert [(r.name, r.tags) for r in repo.iter_runs()] == [("renamed", ["a:1"])]


def test_writer_refuses_bad_tags(tmp_path):
    with pytest.raises(ValueError, match="single string"):
        AimRunWriter(tmp_path, EXPERIMENT, {}, "k", tags="campaign:quickstart")
    with pytest.raises(ValueError, match="non-empty string"):
        AimRunWriter(tmp_path, EXPERIMENT, {}, "k", tags=["ok", " "])
    assert not (tmp_path / ".aim").exists()  # refused before any run was opened


@pytest.fixture(scope="module")
def tagged_runs(template, tmp_path_factory):
    """One run written with grid tags, one written before tags existed (none)."""
    root = tmp_path_factory.mktemp("tagged")
    return root, [_make_run(root, template, 31, tags=("method:monolithic", "seed:31")), _make_run(root, template, 32)]


@pytest.mark.parametrize("engine", ["files", "aim"])
def test_merge_adds_campaign_tags_and_experiment(template, tagged_runs, engine):
    root, made = tagged_runs
    sources = [
        MergeSource(run_dir, {"campaign_id": "q", "campaign_exp_idx": i + 1},
                    tags=("campaign:quickstart", *GRID_TAGS, f"seed:{31 + i}", "campaign:quickstart"),
                    experiment="quickstart")
        for i, (run_dir, _) in enumerate(made)
    ]
    dst = root / f"q-{engine}" / "aim"
    expected = {
        writer.run_hash: (sorted({"campaign:quickstart", *GRID_TAGS, f"seed:{31 + i}"}), "quickstart")
        for i, (_, writer) in enumerate(made)
    }
    for _ in range(2):  # merging again rebuilds the same repo: no tag twice
        report = merge_run_repos(sources, dst, template=template, engine=engine)
        assert _tags_and_experiment(dst) == expected
        for run in report.runs:
            assert len(run.tags) == len(set(run.tags)) and sorted(run.tags) == expected[run.run_hash][0]
            assert run.experiment == "quickstart"
    tagged = report.runs[0].tags
    assert tagged[:2] == ("method:monolithic", "seed:31")  # the run's own tags first, then the campaign's
    assert EXPERIMENT not in _experiment_names(dst)  # the written experiment is not left behind, empty
    with open_repo(dst) as repo:  # the query language of the AIM UI's search bar sees them too
        hits = repo.query_runs('"aug:noaug" in run.tags and run.experiment == "quickstart"', report_mode=0)
        assert {h.run.hash for h in hits.iter_runs()} == set(expected)
    # the per-run repos are left as written
    for run_dir, writer in made:
        reindex(run_dir / "aim")
        assert _tags_and_experiment(run_dir / "aim")[writer.run_hash][1] == EXPERIMENT


def test_merge_without_tags_keeps_written_tags_and_experiment(template, tagged_runs):
    root, made = tagged_runs
    for engine in ("files", "aim"):
        dst = root / f"plain-{engine}" / "aim"
        merge_run_repos([MergeSource(made[0][0], {"campaign_id": "p"})], dst, template=template, engine=engine)
        assert _tags_and_experiment(dst) == {made[0][1].run_hash: (["method:monolithic", "seed:31"], EXPERIMENT)}
        # one run moved to another experiment, one kept in the written one: that experiment (and run) stays
        dst = root / f"mixed-{engine}" / "aim"
        sources = [MergeSource(made[0][0], experiment="moved"), MergeSource(made[1][0])]
        merge_run_repos(sources, dst, template=template, engine=engine)
        assert _tags_and_experiment(dst) == {made[0][1].run_hash: (["method:monolithic", "seed:31"], "moved"),
                                             made[1][1].run_hash: ([], EXPERIMENT)}
        assert {"moved", EXPERIMENT} <= _experiment_names(dst)


def test_merge_refuses_bad_tags_and_experiment(template, tagged_runs, tmp_path):
    root, made = tagged_runs
    with pytest.raises(MergeError, match="single string"):
        merge_run_repos([MergeSource(made[0][0], tags="campaign:x")], tmp_path / "dst" / "aim", template=template)
    with pytest.raises(MergeError, match="experiment"):
        merge_run_repos([MergeSource(made[0][0], experiment="")], tmp_path / "dst" / "aim", template=template)
    assert not (tmp_path / "dst" / "aim").exists()
