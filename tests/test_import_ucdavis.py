"""Importing ucdavis-icdm19 from the authors' files: the real UC Davis samples, a round trip through the raw format,
resumption, re-imports, the original tcbench's parquet, and clear errors that leave nothing half-written."""

from __future__ import annotations

import shutil
import zipfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from conftest import realdata_dir, require_realdata

from tcbench.cli.main import cli
from tcbench.data.importers import import_dataset, import_from_tcbench
from tcbench.data.importers.errors import RawDataError
from tcbench.data.importers.export import export_ucdavis_raw

REAL = realdata_dir("ucdavis-icdm19")
# Where each real sample is placed (the samples' partition of origin is unknown).
LAYOUT = {"GoogleDoc-3.txt": "pretraining/Google Doc", "GoogleDrive-test1.txt": "pretraining/Google Drive",
          "GoogleMusic-8.txt": "Retraining(human-triggered)/Google Music", "GoogleSearch-7.txt": "pretraining",
          "Youtube-20.txt": "Retraining(script-triggered)/Youtube"}


def _real_raw(root: Path) -> Path:
    for name, folder in LAYOUT.items():
        (root / folder).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(REAL / name, root / folder / name)  # copies: the shared samples stay read-only
    return root


@pytest.fixture(scope="module")
def real_import(tmp_path_factory):
    require_realdata("ucdavis-icdm19")
    tmp = tmp_path_factory.mktemp("real")
    return import_dataset("ucdavis-icdm19", [_real_raw(tmp / "raw")], tmp / "out")


def _expected(path: Path) -> dict:
    """Values read straight from the text file, line by line."""
    rows = [line.split("\t") for line in path.read_text().splitlines() if line.strip()]
    ttf = np.array([float(r[1]) for r in rows])
    return {"num_pkts": len(rows), "duration": ttf[-1], "bytes": sum(int(r[2]) for r in rows),
            "first_sizes": [int(r[2]) for r in rows[:10]], "first_dirs": [int(r[3]) for r in rows[:10]],
            "in_15s": int((ttf < 15).sum()), "unixtime0": float(rows[0][0])}


def test_real_samples_import_with_the_values_of_the_files(real_import):
    table = pq.read_table(real_import.parquet).to_pandas()
    assert len(table) == 5 and list(table.row_id) == [0, 1, 2, 3, 4]
    readme = {"GoogleDoc-3": (1642, 377), "GoogleDrive-test1": (13709, 5109), "GoogleMusic-8": (4388, 4388),
              "GoogleSearch-7": (903, 903), "Youtube-20": (25480, 13378)}  # realdata/README.md
    for _, row in table.iterrows():
        expected = _expected(REAL / f"{row.flow_id}.txt")
        assert row.num_pkts == expected["num_pkts"] == readme[row.flow_id][0]
        assert int((row.timetofirst < 15).sum()) == expected["in_15s"] == readme[row.flow_id][1]
        assert row.duration == expected["duration"] and row.bytes == expected["bytes"]
        assert list(row.pkts_size[:10]) == expected["first_sizes"] and list(row.pkts_dir[:10]) == expected["first_dirs"]
        assert row.unixtime[0] == expected["unixtime0"] and row.pkts_iat[0] == 0
        assert np.allclose(np.cumsum(row.pkts_iat), row.timetofirst - row.timetofirst[0])
    assert dict(zip(table.flow_id, table.partition)) == {
        "GoogleDoc-3": "pretraining", "GoogleDrive-test1": "pretraining", "GoogleSearch-7": "pretraining",
        "GoogleMusic-8": "retraining-human-triggered", "Youtube-20": "retraining-script-triggered"}
    assert dict(zip(table.flow_id, table.app.astype(str)))["GoogleSearch-7"] == "google-search"  # from the name prefix


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    from tcbench.data.synthetic import write_synthetic_ucdavis

    tmp = tmp_path_factory.mktemp("synthetic")
    parquet = write_synthetic_ucdavis(tmp / "ucdavis-icdm19.parquet", scale=0.02)
    return parquet, export_ucdavis_raw(parquet, tmp / "raw")


def test_round_trip_through_the_raw_format_gives_the_same_flows(synthetic, tmp_path):
    parquet, zips = synthetic
    assert [z.name for z in zips] == ["Retraining(human-triggered).zip", "Retraining(script-triggered).zip", "pretraining.zip"]
    result = import_dataset("ucdavis-icdm19", zips, tmp_path / "a", part_mb=2)
    assert pq.read_table(result.parquet).equals(pq.read_table(parquet).replace_schema_metadata(None))
    # Parts in parallel and of another size: byte-identical file.
    again = import_dataset("ucdavis-icdm19", [zips[0].parent], tmp_path / "b", part_mb=7, workers=2)
    assert again.parquet.read_bytes() == result.parquet.read_bytes() and again.spec == result.spec


def test_a_truncated_file_is_named_and_nothing_is_half_written(synthetic, tmp_path):
    _, zips = synthetic
    raw = tmp_path / "raw"
    with zipfile.ZipFile(zips[2]) as zf:
        zf.extractall(raw)
    victim = sorted((raw / "pretraining" / "Youtube").glob("*.txt"))[-1]  # in the last part
    good = victim.read_bytes()
    victim.write_bytes(good[: len(good) // 2].rsplit(b"\t", 1)[0])  # cut mid-line
    with pytest.raises(RawDataError, match=victim.name):
        import_dataset("ucdavis-icdm19", [raw], tmp_path / "out", part_mb=1)
    out = tmp_path / "out"
    assert not (out / "ucdavis-icdm19.parquet").exists() and not (out / "dataset.json").exists()
    assert (out / ".import-ucdavis-icdm19" / "part-000000.parquet").exists()  # finished parts are kept
    victim.write_bytes(good)
    assert import_dataset("ucdavis-icdm19", [raw], out, part_mb=1).changed
    assert not (out / ".import-ucdavis-icdm19").exists()


def _convert_or_fail(task):
    import pyarrow as pa

    index, fail = task
    if fail:
        raise RuntimeError(f"crash in part {index}")
    return pa.table({"num_pkts": [index]})


def test_interrupted_conversion_resumes_from_its_finished_parts(tmp_path):
    from tcbench.data.importers.staging import Staging

    staging = Staging(tmp_path, "x", "key-1")
    with pytest.raises(RuntimeError, match="part 2"):
        staging.convert([(0, False), (1, False), (2, True), (3, False)], _convert_or_fail)
    kept = {i: staging.part(i).stat().st_mtime_ns for i in (0, 1)}
    assert not staging.part(2).exists() and not list(tmp_path.glob(".import-x/*.tmp"))
    seen = []
    staging = Staging(tmp_path, "x", "key-1")
    staging.convert([(0, True), (1, True), (2, False), (3, False)], _convert_or_fail,
                    progress=lambda done, total, stats, resumed: seen.append(resumed))
    assert {i: staging.part(i).stat().st_mtime_ns for i in (0, 1)} == kept  # not converted again
    assert seen == [True, True, False, False]
    assert not Staging(tmp_path, "x", "key-2").part(0).exists()  # other inputs: stale parts discarded


def test_reimport_is_idempotent_and_replacing_other_data_needs_force(synthetic, tmp_path):
    parquet, zips = synthetic
    out = tmp_path / "out"
    first = import_dataset("ucdavis-icdm19", zips, out)
    (out / "flowpics").mkdir()
    (out / "flowpics" / "flowpic_dim32_block15.npz").write_bytes(b"cache")
    assert not import_dataset("ucdavis-icdm19", zips, out).changed
    assert (out / "flowpics" / "flowpic_dim32_block15.npz").exists()
    # A damaged installed copy of the same data is repaired by importing again, without --force.
    installed = out / "ucdavis-icdm19.parquet"
    intact = installed.read_bytes()
    installed.write_bytes(intact[: len(intact) // 2])
    assert import_dataset("ucdavis-icdm19", zips, out).changed
    assert installed.read_bytes() == intact and (out / "flowpics" / "flowpic_dim32_block15.npz").exists()
    with pytest.raises(RawDataError, match="--force"):
        import_dataset("ucdavis-icdm19", [zips[2]], out)  # pretraining only: other data
    assert pq.read_table(out / "ucdavis-icdm19.parquet").num_rows == first.spec["flows"]
    replaced = import_dataset("ucdavis-icdm19", [zips[2]], out, force=True)
    assert replaced.changed and not (out / "flowpics").exists()
    assert pq.read_table(out / "ucdavis-icdm19.parquet").num_rows == replaced.spec["flows"] < first.spec["flows"]


def test_original_tcbench_parquet_is_converted(synthetic, tmp_path):
    parquet, _ = synthetic
    frame = pq.read_table(parquet).to_pandas()  # the original's layout: category app, arrays per flow
    frame["app"] = frame["app"].astype(str).astype("category")
    installed = tmp_path / "site" / "tcbench" / "libtcdatasets" / "datasets" / "ucdavis-icdm19" / "preprocessed"
    installed.mkdir(parents=True)
    frame.sample(frac=1, random_state=0).to_parquet(installed / "ucdavis-icdm19.parquet")  # any row order
    result = import_from_tcbench("ucdavis-icdm19", tmp_path / "site", tmp_path / "out")
    assert pq.read_table(result.parquet).equals(pq.read_table(parquet).replace_schema_metadata(None))


@pytest.mark.parametrize("make, match", [
    (lambda d: d / "missing.zip", "no such file"),
    (lambda d: (d / "notes.csv").write_text("x") and d / "notes.csv", "not a zip"),
    (lambda d: (d / "broken.zip").write_bytes(b"PK\x03\x04 truncated") and d / "broken.zip", "not a readable zip"),
])
def test_bad_inputs_are_named_and_leave_nothing(tmp_path, make, match):
    with pytest.raises(RawDataError, match=match):
        import_dataset("ucdavis-icdm19", [make(tmp_path)], tmp_path / "out")
    assert not (tmp_path / "out" / "ucdavis-icdm19.parquet").exists()


def test_a_file_in_another_format_is_named(tmp_path):
    folder = tmp_path / "raw" / "pretraining" / "Google Doc"
    folder.mkdir(parents=True)
    (folder / "GoogleDoc-1.txt").write_text("1527987720.4\t0\t295\t1\n")
    (folder / "GoogleDoc-2.txt").write_text("1527987720.4,0,295,1\n")
    with pytest.raises(RawDataError, match="GoogleDoc-2.txt.*4 TAB-separated"):
        import_dataset("ucdavis-icdm19", [tmp_path / "raw"], tmp_path / "out")
    (folder / "GoogleDoc-2.txt").write_text("1527987720.4\t0\t295\t3\n")
    with pytest.raises(RawDataError, match="GoogleDoc-2.txt: direction"):
        import_dataset("ucdavis-icdm19", [tmp_path / "raw"], tmp_path / "out")


def test_cli_import_prints_the_class_counts_and_errors_in_one_line(real_import, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["datasets", "import", "ucdavis-icdm19", "--raw", str(_real_raw(tmp_path / "raw")),
                                 "--output-dir", str(tmp_path / "out"), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "retraining-human-triggered" in result.output and "5 flows" in result.output
    result = runner.invoke(cli, ["datasets", "import", "ucdavis-icdm19", "--raw", str(tmp_path / "nope"),
                                 "--output-dir", str(tmp_path / "out2")])
    assert result.exit_code == 2 and "nope: no such file or folder" in result.output


def test_list_info_and_samples_count(real_import):
    runner = CliRunner()
    datasets_dir = real_import.parquet.parent.parent
    listed = runner.invoke(cli, ["datasets", "list", "--datasets-dir", str(datasets_dir)])
    assert listed.exit_code == 0 and real_import.spec["sha256"][:12] in listed.output
    info = runner.invoke(cli, ["datasets", "info", "ucdavis-icdm19", "--datasets-dir", str(datasets_dir)])
    assert info.exit_code == 0 and "CC BY 4.0" in info.output and "not imported yet" in info.output  # folder is "out"
    counts = runner.invoke(cli, ["datasets", "samples-count", "ucdavis-icdm19", "--dataset-dir", str(real_import.parquet.parent)])
    assert counts.exit_code == 0
    assert "6439" in counts.output and "reference" in counts.output  # the paper's table
    assert "retraining-script-triggered" in counts.output
