"""Importing MIRAGE-2019 from the authors' JSON files: the real samples against the JSON, the ACK-removal filter,
the stratified splits, tar.gz input and errors."""

from __future__ import annotations

import json
import shutil
import tarfile

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import realdata_dir, require_realdata

from tcbench.data.importers import import_dataset
from tcbench.data.importers.errors import RawDataError
from tcbench.data.importers.mirage import filter_flows, stratified_splits

REAL = realdata_dir("mirage19")


def _real_biflows() -> dict[str, tuple[str, dict]]:
    out = {}
    for path in sorted(REAL.glob("*.json")):
        android = path.name.split("_", 1)[1].split("_MIRAGE-2019")[0]
        for conn_id, biflow in json.loads(path.read_text()).items():
            out[conn_id] = (android, biflow)
    return out


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    require_realdata("mirage19")
    return import_dataset("mirage19", [REAL], tmp_path_factory.mktemp("mirage") / "out")


def test_real_biflows_import_with_the_values_of_the_json(imported):
    table = pq.read_table(imported.parquet).to_pandas()
    biflows = _real_biflows()
    assert len(table) == len(biflows) == 49 and list(table.row_id) == list(range(49))
    for _, row in table.iterrows():
        android, biflow = biflows[row.conn_id]
        packets, meta = biflow["packet_data"], biflow["flow_metadata"]
        assert row.packets == len(packets["L4_payload_bytes"]) <= 32
        assert list(row.pkts_size) == packets["L4_payload_bytes"] and list(row.pkts_dir) == packets["packet_dir"]
        assert np.allclose(row.timetofirst, np.cumsum(packets["iat"]), rtol=0, atol=1e-9)
        assert row.android_name == android and row.device_name == "mirage19"
        assert row.app == (android if meta["BF_label"] == android else "background")
        assert row.flow_metadata_bf_num_packets == meta["BF_num_packets"]
        src_ip, src_port, dst_ip, dst_port, proto = row.conn_id.split(",")
        assert (row.src_ip, row.src_port, row.dst_ip, row.dst_port, row.proto) == (src_ip, int(src_port), dst_ip, int(dst_port), int(proto))
    assert imported.spec["source"] == "imported" and imported.spec["flows"] == 49


def test_ack_removal_filter_matches_the_json(imported):
    table = pq.read_table(imported.parquet)
    filtered = filter_flows(table, 10, min_flows=0).to_pandas()
    expected = {}
    for conn_id, (_, biflow) in _real_biflows().items():
        sizes = np.array(biflow["packet_data"]["L4_payload_bytes"])
        if (sizes > 0).sum() > 10:
            expected[conn_id] = biflow
    assert 5 <= len(expected) <= 15  # "about 10 of the 49 biflows" (realdata/README.md)
    assert sorted(filtered.conn_id) == sorted(expected) and list(filtered.row_id) == list(range(len(expected)))
    for _, row in filtered.iterrows():
        packets = expected[row.conn_id]["packet_data"]
        keep = np.array(packets["L4_payload_bytes"]) > 0
        assert row.packets == keep.sum() == len(row.pkts_size)
        assert list(row.pkts_size) == list(np.array(packets["L4_payload_bytes"])[keep])
        assert list(row.pkts_dir) == list(np.array(packets["packet_dir"])[keep])
        assert np.allclose(row.timetofirst, np.cumsum(packets["iat"])[keep], atol=1e-9)
    assert filter_flows(table, 10).num_rows == 0  # no class reaches 100 biflows in three sample files


def test_stratified_splits_follow_the_original_proportions():
    labels = np.repeat(np.array(["a", "b", "c"]), [500, 300, 200])
    splits = stratified_splits(labels).to_pandas()
    assert list(splits.split_index) == [0, 1, 2, 3, 4]
    for _, split in splits.iterrows():
        parts = [np.asarray(split[c]) for c in ("train_indexes", "val_indexes", "test_indexes")]
        assert [len(p) for p in parts] == [810, 90, 100]
        assert np.array_equal(np.sort(np.concatenate(parts)), np.arange(1000))
        assert (labels[parts[2]] == "a").sum() == 50  # stratified
    assert not np.array_equal(splits.test_indexes[0], splits.test_indexes[1])
    assert stratified_splits(labels).equals(stratified_splits(labels))


def test_tar_archive_imports_like_the_folder(imported, tmp_path):
    archive = tmp_path / "MIRAGE-2019_traffic_dataset_downloadable_v2.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(REAL, arcname="MIRAGE-2019_traffic_dataset_downloadable/mirage19")
    result = import_dataset("mirage19", [archive], tmp_path / "out")
    assert result.parquet.read_bytes() == imported.parquet.read_bytes()
    assert not list((tmp_path / "out").glob(".extract-*")) and not list((tmp_path / "out").glob(".import-*"))


def test_truncated_json_and_foreign_files_are_named(tmp_path):
    require_realdata("mirage19")
    raw = tmp_path / "raw" / "Mi5"
    raw.mkdir(parents=True)
    source = sorted(REAL.glob("*.json"))[0]
    text = source.read_bytes()
    (raw / source.name).write_bytes(text[: len(text) // 2])  # a truncated copy in tmp, not a committed derivative
    with pytest.raises(RawDataError, match=f"{source.name}: invalid or truncated JSON"):
        import_dataset("mirage19", [tmp_path / "raw"], tmp_path / "out")
    assert not (tmp_path / "out" / "mirage19.parquet").exists()
    shutil.rmtree(raw)
    raw.mkdir()
    with pytest.raises(RawDataError, match="no mirage19 biflow file"):
        import_dataset("mirage19", [tmp_path / "raw"], tmp_path / "out")
    with pytest.raises(RawDataError, match="not a folder, .zip or .tar.gz"):
        import_dataset("mirage19", [source.with_suffix(".json")], tmp_path / "out")


def test_info_and_samples_count_of_mirage19(imported):
    from click.testing import CliRunner

    from tcbench.cli.main import cli

    runner = CliRunner()
    info = runner.invoke(cli, ["datasets", "info", "mirage19"])
    assert info.exit_code == 0 and "CC BY-NC-ND 4.0" in info.output and "tar.gz" in info.output
    counts = runner.invoke(cli, ["datasets", "samples-count", "mirage19", "--dataset-dir", str(imported.parquet.parent)])
    assert counts.exit_code == 0, counts.output
    assert "122007" in counts.output and "64172" in counts.output  # the reference totals
    assert "49" in counts.output  # this import


def test_fast_biflow_reader_equals_the_full_json_decode(tmp_path):
    from tcbench.data.importers.mirage import fast_biflows, iter_biflows
    from tcbench.data.importers.raw_fixtures import write_mirage22_archive

    texts = [p.read_text() for p in sorted(require_realdata("mirage19").glob("*.json"))]
    archive = tmp_path / "m22.zip"
    write_mirage22_archive(archive, files_per_app=1, biflows_per_file=5)
    import io
    import zipfile

    with zipfile.ZipFile(archive) as outer:
        inner = zipfile.ZipFile(io.BytesIO(outer.read("MIRAGE-COVID-CCMA-2022/Raw_JSON/Zoom.zip")))
        texts += [inner.read(name).decode() for name in inner.namelist()]
    texts.append(json.dumps(json.loads(texts[0]), indent=2))  # pretty-printed: same content, other layout
    for text in texts:
        full = list(iter_biflows(text, "x"))
        fast = list(fast_biflows(text))
        assert [k for k, _ in fast] == [k for k, _ in full]
        for (_, a), (_, b) in zip(fast, full):
            assert a["flow_metadata"] == b["flow_metadata"]
            for name in ("L4_payload_bytes", "packet_dir", "iat"):
                assert np.array_equal(a["packet_data"][name], np.asarray(b["packet_data"][name]))
