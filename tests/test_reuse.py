"""Planning's look at finished runs (tcbench.campaign.reuse): which markers count as done.

A pre-step (SimCLR's pre-training) writes a marker of its own shape, not the run marker's: planning must take it
as done, or every re-plan of a SimCLR campaign would set the finished pre-trainings aside while their finetune jobs
wait for them (a campaign that once failed this way lost its pre-training markers mid-run).
"""

from __future__ import annotations

import json

from tcbench.campaign.reuse import inspect_finished
from tcbench.data.registry import get_dataset
from tcbench.methods.simclr import PRETRAIN_MARKER_KIND

DATASET = get_dataset("ucdavis-icdm19")


def _pretrain_marker(tmp_path, text: str) -> str:
    path = tmp_path / "pretrain" / "0123456789abcdef" / "marker.json"
    path.parent.mkdir(parents=True)
    path.write_text(text)
    return str(path)


def test_a_pre_step_marker_is_done(tmp_path):
    marker = {"kind": PRETRAIN_MARKER_KIND, "pretrain_key": "0123456789abcdef", "weights": "w.pt", "history": [],
              "epochs_run": 3, "best_epoch": 1, "best_acc_top_5": 90.0, "durations": {"total": 1.0, "train": 1.0}}
    path = _pretrain_marker(tmp_path, json.dumps(marker))
    found = inspect_finished([(path, {"method": "simclr-pretrain"})], DATASET)
    assert found.incomplete == {} and found.other_code == {}


def test_a_partial_pre_step_marker_is_not_done(tmp_path):
    path = _pretrain_marker(tmp_path, '{"kind": "pretr')
    found = inspect_finished([(path, {"method": "simclr-pretrain"})], DATASET)
    assert list(found.incomplete) == [path]
    assert "invalid or partial JSON" in found.incomplete[path]


def test_a_run_marker_of_the_wrong_shape_is_not_done(tmp_path):
    path = tmp_path / "runs" / "0123456789abcdef" / "marker.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"kind": "something else"}))
    found = inspect_finished([(str(path), {"method": "monolithic"})], DATASET)
    assert list(found.incomplete) == [str(path)]
