"""utmobilenet21 and mirage22 imports from raw files generated in the authors' formats, checked flow by flow
against what was generated."""

from __future__ import annotations

import zipfile

import numpy as np
import pyarrow.parquet as pq
import pytest

from tcbench.data.importers import import_dataset
from tcbench.data.importers.errors import RawDataError
from tcbench.data.importers.mirage import filter_flows
from tcbench.data.importers.raw_fixtures import MIRAGE22_APPS, write_mirage22_archive, write_utmobilenet_folder


@pytest.fixture(scope="module")
def utmobilenet(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("utmobilenet")
    flows = write_utmobilenet_folder(tmp / "raw")
    return flows, import_dataset("utmobilenet21", [tmp / "raw"], tmp / "out"), tmp


def test_utmobilenet_flows_match_the_generated_captures(utmobilenet):
    flows, result, _ = utmobilenet
    table = pq.read_table(result.parquet).to_pandas()
    assert len(table) == len(flows) == 36  # ICMP, loopback and address-less rows dropped
    assert not table.src_ip.isin(["127.0.0.1"]).any() and set(table.ip_proto) == {6, 17}
    generated = {f.key: f for f in flows}
    for fname, group in table.groupby("fname"):
        for k, (_, row) in enumerate(group.sort_values("first").iterrows()):
            flow = generated[f"{fname}|{k}"]
            assert row.app == flow.app == fname.split("_")[0]
            assert list(row.pkts_size) == list(flow.sizes) and list(row.pkts_dir) == list(flow.dirs)
            assert np.allclose(row.timetofirst, flow.timetofirst, atol=2e-6)  # time since the first packet, not IATs
            assert row.packets == len(flow.sizes) and row.bytes == flow.sizes.sum()
            assert row.duration == pytest.approx(flow.timetofirst[-1], abs=2e-6)
    assert set(table.partition) == {"Deterministic Automated Data", "Randomized Automated Data"}


def test_utmobilenet_zip_imports_like_the_folder(utmobilenet):
    _, result, tmp = utmobilenet
    archive = tmp / "UTMobileNet2021.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for path in sorted((tmp / "raw").rglob("*.csv")):
            zf.write(path, path.relative_to(tmp / "raw"))
    again = import_dataset("utmobilenet21", [archive], tmp / "out-zip")
    assert again.parquet.read_bytes() == result.parquet.read_bytes()


def test_utmobilenet_filter_keeps_flows_with_more_than_10_packets(utmobilenet):
    flows, result, _ = utmobilenet
    table = pq.read_table(result.parquet)
    filtered = filter_flows(table, 10, min_flows=0, drop_empty_packets=False)
    assert filtered.num_rows == sum(len(f.sizes) > 10 for f in flows)
    assert filter_flows(table, 10, drop_empty_packets=False).num_rows == 0  # no class has 100 such flows here


def test_utmobilenet_csv_without_tshark_columns_is_named(tmp_path):
    folder = tmp_path / "raw" / "csvs" / "Wild Test Data"
    folder.mkdir(parents=True)
    (folder / "youtube_watch_2019-04-30_19-07-09_abcd.csv").write_text("time,src,dst\n1,a,b\n")
    with pytest.raises(RawDataError, match="youtube_watch.*missing tshark column"):
        import_dataset("utmobilenet21", [tmp_path / "raw"], tmp_path / "out")


@pytest.fixture(scope="module")
def mirage22(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mirage22")
    archive = tmp / "MIRAGE-COVID-CCMA-2022.zip"
    flows = write_mirage22_archive(archive, files_per_app=2, biflows_per_file=10)
    return flows, import_dataset("mirage22", [archive], tmp / "out", workers=2, part_mb=0.5)


def _background(flow) -> bool:
    return flow.app != flow.extra["package"] or flow.extra["activity"] == "Unknown"


def test_mirage22_biflows_from_nested_zips_match_the_generated(mirage22):
    flows, result = mirage22
    table = pq.read_table(result.parquet).to_pandas()
    assert len(table) == len(flows) == 2 * len(MIRAGE22_APPS) * 10
    generated = {f.key: f for f in flows}
    for _, row in table.iterrows():
        flow = generated[row.conn_id]
        assert row.android_name == flow.extra["package"] and row.device_name == "Nexus6"
        assert list(row.pkts_size) == list(flow.sizes) and list(row.pkts_dir) == list(flow.dirs)
        assert np.allclose(row.timetofirst, flow.timetofirst, atol=1e-9)
        assert row.app == ("background" if _background(flow) else flow.extra["package"])
        assert row.flow_metadata_bf_activity == flow.extra["activity"]
    assert (table.app == "background").any() and (table.app != "background").any()
    names = {p.name for p in result.derived}
    assert {"mirage22_filtered_minpkts10.parquet", "mirage22_filtered_minpkts1000.parquet"} <= names


def test_mirage22_ack_removal_and_thresholds(mirage22):
    flows, result = mirage22
    table = pq.read_table(result.parquet)
    for threshold in (10, 1000):
        filtered = filter_flows(table, threshold, min_flows=0)
        expected = [f for f in flows if (f.sizes > 0).sum() > threshold and not _background(f)]
        assert filtered.num_rows == len(expected)
        sizes = filtered.column("pkts_size").to_pylist()
        assert all(min(s) > 0 and len(s) > threshold for s in sizes)


def _as_original(table, series: dict[str, str]):
    """Our unfiltered table in the original tcbench's layout: renamed series, IATs instead of times to first."""
    frame = table.to_pandas()
    frame["iat"] = [np.diff(t, prepend=0.0) for t in frame.timetofirst]
    frame = frame.rename(columns=series).drop(columns=["packets"])
    return frame.sample(frac=1, random_state=0)  # any row order: row_id decides


@pytest.mark.parametrize("name", ["utmobilenet21", "mirage22"])
def test_original_tcbench_files_of_the_other_datasets_convert(name, utmobilenet, mirage22, tmp_path):
    result = utmobilenet[1] if name == "utmobilenet21" else mirage22[1]
    ours = pq.read_table(result.parquet)
    if name == "utmobilenet21":
        frame = _as_original(ours, {}).drop(columns=["timetofirst"]).rename(columns={"iat": "timetofirst"})
    else:
        frame = _as_original(ours, {"pkts_size": "packet_data_l4_payload_bytes", "pkts_dir": "packet_data_packet_dir",
                                    "iat": "packet_data_iat"}).drop(columns=["timetofirst"])
    installed = tmp_path / "tcbench" / "libtcdatasets" / "datasets" / name / "preprocessed"
    installed.mkdir(parents=True)
    frame.to_parquet(installed / f"{name}.parquet")
    from tcbench.data.importers import import_from_tcbench

    converted = import_from_tcbench(name, tmp_path / "tcbench", tmp_path / "out")
    got = pq.read_table(converted.parquet)
    assert got.drop_columns(["timetofirst"]).equals(ours.drop_columns(["timetofirst"]))
    for a, b in zip(got.column("timetofirst").to_pylist(), ours.column("timetofirst").to_pylist()):
        assert np.allclose(a, b, atol=1e-9)
    assert any(p.parent.name == "filtered" for p in converted.derived)  # variants derived as for a raw import
