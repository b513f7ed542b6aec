"""Claiming a free GPU when several runs share a machine (fake device lists, real file locks)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tcbench.runs import gpu


@pytest.fixture(autouse=True)
def _fresh_claims():
    gpu.release_all()
    yield
    gpu.release_all()


def _claim_in_child(folder, devices: str, hold: float = 3.0) -> subprocess.Popen:
    code = textwrap.dedent(f"""
        import os, sys, time
        os.environ["TCBENCH_GPUS"] = "{devices}"
        from pathlib import Path
        from tcbench.runs.gpu import claim_gpu
        print(claim_gpu(folder=Path(r"{folder}"), timeout=5), flush=True)
        time.sleep({hold})
    """)
    return subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)


def test_parallel_runs_get_different_devices(tmp_path):
    children = [_claim_in_child(tmp_path, "0,1,2") for _ in range(3)]
    claimed = sorted(int(child.stdout.readline()) for child in children)
    assert claimed == [0, 1, 2]
    for child in children:
        child.wait(timeout=30)


def test_a_device_is_free_again_when_its_run_ends(tmp_path):
    first = _claim_in_child(tmp_path, "5", hold=0.0)
    assert int(first.stdout.readline()) == 5
    first.wait(timeout=30)
    assert gpu.claim_gpu([5], folder=tmp_path, timeout=1) == 5


def test_all_devices_taken_times_out_with_a_clear_error(tmp_path):
    holder = _claim_in_child(tmp_path, "0", hold=10.0)
    assert int(holder.stdout.readline()) == 0
    with pytest.raises(RuntimeError, match="no free GPU among \\[0\\]"):
        gpu.claim_gpu([0], folder=tmp_path, timeout=1.5)
    holder.kill()
    holder.wait()


def test_one_claim_per_process_and_explicit_devices_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("TCBENCH_GPUS", "3,4")
    monkeypatch.setenv("TCBENCH_GPU_LOCKS", str(tmp_path))
    assert gpu.resolve_cuda("cuda") == "cuda:3"
    assert gpu.resolve_cuda("cuda") == "cuda:3"  # a pre-training then its finetune: the same device
    assert gpu.resolve_cuda("cuda:1") == "cuda:1" and gpu.resolve_cuda("cpu") == "cpu"
    monkeypatch.setenv("TCBENCH_GPUS", "")
    gpu.release_all()
    with pytest.raises(RuntimeError, match="none is visible"):
        gpu.claim_gpu()


def test_candidates_follow_cuda_visible_devices(monkeypatch):
    monkeypatch.delenv("TCBENCH_GPUS", raising=False)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,7")  # as SLURM sets it: torch numbers them 0 and 1
    assert gpu.candidate_devices() == [0, 1]
