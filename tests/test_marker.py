"""marker.json must be all-or-nothing: it is the done-signal Snakemake and the summaries trust."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from tcbench.tracking import marker as marker_mod
from tcbench.tracking.marker import MarkerError, is_complete, read_marker, write_marker


def _marker(**overrides):
    data = {
        "marker_version": 1,
        "run_key": "3f2a0123456789ab",
        "method": "monolithic",
        "experiment": "augmentation-at-loading",
        "hparams": {"flowpic_dim": 32, "split_index": 0, "aug_name": "noaug", "seed": 12345},
        "aim": {"repo": "aim", "run_hash": "caf4911ca36a40bdbf52c75b"},
        "metrics": {"train": {"loss": 0.1, "acc": 97.5}, "val": {"loss": 0.2, "acc": 95.0}},
        "creation_time": 1764000000.12,
        "end_time": 1764000007.80,
        "durations": {"setup": 1.0, "train": 5.0, "test": 1.0, "tracking": 0.5, "total": 7.5},
        "versions": {"tcbench": "0.1.0", "results_version": 1},
        "artifacts": ["best_model_weights_split_0.pt"],
    }
    data.update(overrides)
    return data


def test_roundtrip_is_canonical_json(tmp_path):
    path = tmp_path / "run" / "marker.json"
    data = _marker(hparams={"seed": np.int64(3), "lr": np.float32(0.5)})
    write_marker(path, data)
    text = path.read_text()
    # sorted keys, indent 1 -> byte-identical for equal content, whatever the insertion order
    assert text == json.dumps(json.loads(text), sort_keys=True, indent=1) + "\n"
    back = read_marker(path)
    assert back["hparams"] == {"seed": 3, "lr": 0.5}
    assert back["aim"]["run_hash"] == "caf4911ca36a40bdbf52c75b"
    assert is_complete(path)
    assert list(tmp_path.joinpath("run").iterdir()) == [path]  # no temp leftovers


def test_temp_file_never_has_final_name(tmp_path, monkeypatch):
    path = tmp_path / "marker.json"
    seen = {}
    real_replace = os.replace

    def spy_replace(src, dst):
        # at the moment of the rename the data sits complete in the temp file, and the final name is absent
        seen["src"], seen["final_exists"] = os.fspath(src), path.exists()
        seen["src_content"] = json.loads(open(src).read())
        return real_replace(src, dst)

    monkeypatch.setattr(marker_mod.os, "replace", spy_replace)
    write_marker(path, _marker())
    assert os.path.basename(seen["src"]) != "marker.json"
    assert os.path.dirname(seen["src"]) == str(tmp_path)  # same directory -> atomic rename
    assert seen["final_exists"] is False
    assert seen["src_content"]["run_key"] == "3f2a0123456789ab"


@pytest.mark.parametrize("failing", ["fsync", "replace"])
def test_crash_during_write_leaves_nothing(tmp_path, monkeypatch, failing):
    path = tmp_path / "marker.json"

    def boom(*args, **kwargs):
        raise OSError("simulated crash")

    monkeypatch.setattr(marker_mod.os, failing, boom)
    with pytest.raises(OSError, match="simulated crash"):
        write_marker(path, _marker())
    assert list(tmp_path.iterdir()) == []
    assert not is_complete(path)


def test_crash_keeps_previous_complete_marker(tmp_path, monkeypatch):
    path = tmp_path / "marker.json"
    write_marker(path, _marker(run_key="aaaaaaaaaaaaaaaa"))

    def boom(*args, **kwargs):
        raise OSError("simulated crash")

    monkeypatch.setattr(marker_mod.os, "replace", boom)
    with pytest.raises(OSError):
        write_marker(path, _marker(run_key="bbbbbbbbbbbbbbbb"))
    assert read_marker(path)["run_key"] == "aaaaaaaaaaaaaaaa"
    assert [p.name for p in tmp_path.iterdir()] == ["marker.json"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, np.float64("nan")])
def test_nan_refused_with_key_path(tmp_path, bad):
    path = tmp_path / "marker.json"
    data = _marker()
    data["metrics"]["val"]["loss"] = bad
    with pytest.raises(MarkerError, match=r"metrics\.val\.loss") as err:
        write_marker(path, data)
    assert str(path) in str(err.value)
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_partial_json_names_file(tmp_path):
    path = tmp_path / "marker.json"
    full = json.dumps(_marker(), indent=1)
    path.write_text(full[: len(full) // 2])
    with pytest.raises(MarkerError, match="invalid or partial JSON") as err:
        read_marker(path)
    assert str(path) in str(err.value)
    assert not is_complete(path)


def test_nan_literal_in_file_rejected(tmp_path):
    path = tmp_path / "marker.json"
    path.write_text(json.dumps(_marker(end_time=math.nan)))  # python json writes a bare NaN
    with pytest.raises(MarkerError, match="NaN"):
        read_marker(path)


def test_missing_key_and_wrong_version(tmp_path):
    path = tmp_path / "marker.json"
    data = _marker()
    del data["metrics"]
    path.write_text(json.dumps(data))
    with pytest.raises(MarkerError, match="missing required key.*metrics") as err:
        read_marker(path)
    assert str(path) in str(err.value)

    path.write_text(json.dumps(_marker(marker_version=2)))
    with pytest.raises(MarkerError, match="marker_version 2"):
        read_marker(path)

    data = _marker()
    del data["aim"]["run_hash"]
    path.write_text(json.dumps(data))
    with pytest.raises(MarkerError, match="aim.run_hash"):
        read_marker(path)

    path.write_text(json.dumps(_marker(creation_time="yesterday")))
    with pytest.raises(MarkerError, match="creation_time"):
        read_marker(path)


def test_absent_marker(tmp_path):
    assert not is_complete(tmp_path / "marker.json")
    with pytest.raises(MarkerError, match="does not exist"):
        read_marker(tmp_path / "marker.json")


def test_unserialisable_value_writes_nothing(tmp_path):
    path = tmp_path / "marker.json"
    with pytest.raises(MarkerError, match="serialise"):
        write_marker(path, _marker(hparams={"x": object()}))
    assert not path.exists()
