"""Bad data: truncated or corrupt parquet, wrong schema, empty classes, flows without packets, unsorted times.

Each case checks the decision documented in tcbench/data/checks.py: a DatasetError naming the file and the
column, class or flow (and how to rebuild), raised by the functions a run or the flowpics step opens the dataset
with, before any expensive work; or the documented handling, which must not crash.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import scipy.sparse as sp

from tcbench.augment import AUGMENTATIONS, augment_at_loading
from tcbench.augment.views import ViewSource
from tcbench.data import ucdavis
from tcbench.data.checks import FLOWPIC_COLUMNS, RUN_COLUMNS, check_dataset_file, check_schema, check_train_classes
from tcbench.data.curated import SCHEMA, write_curated_parquet
from tcbench.data.labels import read_labels
from tcbench.data.parquet import DatasetError, rebuild_hint
from tcbench.data.splits import RunSplit, TrainSplits, train_val_partition, ucdavis_train_splits
from tcbench.features import flowpic_store
from tcbench.features.flowpic import flowpic
from tcbench.features.flowpic_store import build_flowpic_store, read_flow_series
from tcbench.features.pktseries import read_pktseries_features

T = 15.0
FLOWS_PER_CLASS = 6
SYNTH_SPEC = {"name": ucdavis.DATASET_NAME, "source": "synthetic",
              "synthetic": {"seed": 7, "scale": 0.05, "lookalikes": False}}


# ----------------------------------------------------------------------------------------------- the data
def _flows(n: int, seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    times = [np.concatenate([[0.0], np.sort(rng.uniform(0, 25, rng.integers(0, 30)))]) for _ in range(n)]
    return times, [rng.integers(0, 1501, len(t)).astype(np.int16) for t in times]


def _list(values: list[np.ndarray], item: pa.DataType) -> pa.Array:
    offsets = np.concatenate([[0], np.cumsum([len(v) for v in values])]).astype(np.int32)
    flat = np.concatenate(values) if values else np.zeros(0)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, type=item))


def _table(times: list[np.ndarray] | None = None, sizes: list[np.ndarray] | None = None,
           apps: list[str] | None = None, partitions: list[str] | None = None) -> pa.Table:
    """The curated columns a run reads (row_id, app, partition, timetofirst, pkts_size, pkts_dir), in their
    curated types; by default FLOWS_PER_CLASS pretraining flows of each class and one test flow per class and
    partition. Unlike ``curated_table`` it accepts any packet series: empty, unsorted, NaN."""
    n_default = len(ucdavis.CLASSES) * (FLOWS_PER_CLASS + 2)
    if times is None:
        times, sizes = _flows(n_default)
    n = len(times)
    if apps is None:
        apps = [ucdavis.CLASSES[i % len(ucdavis.CLASSES)] for i in range(n)]
    if partitions is None:
        test = [ucdavis.PARTITION_HUMAN, ucdavis.PARTITION_SCRIPT]
        partitions = [test[i // 5 - FLOWS_PER_CLASS] if i >= 5 * FLOWS_PER_CLASS else ucdavis.PARTITION_PRETRAINING
                      for i in range(n)]
    app = pa.DictionaryArray.from_arrays(pa.array([ucdavis.CLASSES.index(a) if a in ucdavis.CLASSES else 0 for a in apps],
                                                  type=pa.int8()), pa.array(list(ucdavis.CLASSES)))
    if not set(apps) <= set(ucdavis.CLASSES):
        app = pa.array(apps).dictionary_encode()
    return pa.table({
        "row_id": pa.array(np.arange(n, dtype=np.int64)),
        "app": app,
        "partition": pa.array(partitions, type=pa.string()),
        "timetofirst": _list(times, SCHEMA.field("timetofirst").type.value_type),
        "pkts_size": _list(sizes, SCHEMA.field("pkts_size").type.value_type),
        "pkts_dir": _list([(np.arange(len(t)) % 2).astype(np.int8) for t in times], pa.int8()),
    })


def _dataset(folder: Path, table: pa.Table | None = None) -> Path:
    """A dataset folder (synthetic dataset.json) holding ``table`` as ucdavis-icdm19.parquet; the parquet path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "dataset.json").write_text(json.dumps(SYNTH_SPEC))
    return write_curated_parquet(_table() if table is None else table, folder / f"{ucdavis.DATASET_NAME}.parquet")


def _replace(table: pa.Table, name: str, column: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, column)


@pytest.fixture()
def no_packet_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if anything bins flowpics or decodes a row group: errors must come before that work."""
    def fail(*args, **kwargs):
        raise AssertionError("expensive work started before the bad file was reported")

    monkeypatch.setattr(flowpic_store, "flowpic_matrix", fail)
    monkeypatch.setattr(pq.ParquetFile, "read_row_group", fail)


# ----------------------------------------------------------------------------------------- truncated files
@pytest.mark.parametrize("cut", ["half", "few bytes", "empty"])
def test_truncated_parquet_is_reported_before_any_work(tmp_path, cut, no_packet_work):
    path = _dataset(tmp_path / "ds")
    data = path.read_bytes()
    path.write_bytes(data[: {"half": len(data) // 2, "few bytes": 5, "empty": 0}[cut]])
    expected = rf"{path}: truncated or corrupt parquet file .*tcbench datasets synth --output-dir {tmp_path / 'ds'} --seed 7 --scale 0.05 --no-lookalikes"
    for open_dataset in (
        lambda: check_dataset_file(path, ucdavis.DATASET_NAME),  # the per-run check
        lambda: read_labels(path),  # every run
        lambda: build_flowpic_store(path, 32),  # the flowpics step (and runs without a flowpic cache)
        lambda: read_flow_series(path, np.arange(3), 2 * T + 1),  # runs with series augmentations
        lambda: read_pktseries_features(path, None, 10),  # XGBoost runs
    ):
        with pytest.raises(DatasetError, match=expected):
            open_dataset()


def test_flowpics_command_reports_a_truncated_dataset_in_one_line(tmp_path):
    from click.testing import CliRunner

    from tcbench.cli.main import cli

    path = _dataset(tmp_path / "ds")
    path.write_bytes(path.read_bytes()[:100])
    result = CliRunner().invoke(cli, ["datasets", "flowpics", "--dataset-dir", str(tmp_path / "ds"), "--dim", "32"])
    assert result.exit_code == 1 and result.output.startswith(f"Error: {path}: truncated or corrupt parquet file")


def test_missing_dataset_file_says_how_to_build_it(tmp_path):
    (tmp_path / "dataset.json").write_text(json.dumps({"name": "mirage19", "source": "imported"}))
    with pytest.raises(DatasetError, match=r"dataset file not found: .*mirage19.parquet; re-import it with "
                                           r"`tcbench datasets import mirage19 --raw"):
        check_dataset_file(tmp_path / "mirage19.parquet", "mirage19")


def test_damaged_page_inside_a_complete_file_names_the_row_group(tmp_path):
    """The footer is intact but the first page header (row_id, row group 0) is garbage."""
    path = _dataset(tmp_path / "ds")
    data = bytearray(path.read_bytes())
    data[4:68] = b"\xff" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=rf"{path}: row group 0 cannot be read, the file is corrupt"):
        build_flowpic_store(path, 32)
    with pytest.raises(DatasetError, match="cannot be read, the file is corrupt"):
        read_labels(path)


def test_truncated_splits_file_says_how_to_rebuild_it(tmp_path):
    path = TrainSplits(np.zeros(3, np.int64), np.arange(3)).write(tmp_path / "splits" / "train_splits_n5_per_class100.parquet")
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DatasetError, match=r"truncated or corrupt parquet file .*tcbench datasets splits --dataset-dir"):
        TrainSplits.read(path)


# -------------------------------------------------------------------------------------------- wrong schema
@pytest.mark.parametrize(
    ("column", "array", "message"),
    [
        ("pkts_size", _list([np.array(["1", "2"])], pa.string()),
         r"column 'pkts_size' has type list<\w+: string>, expected a list of integers, e.g. list<int16>"),
        ("timetofirst", _list([np.array([0, 1])], pa.int64()),
         r"column 'timetofirst' has type list<\w+: int64>, expected a list of floats, e.g. list<double>"),
        ("app", pa.array([3]), r"column 'app' has type int64, expected string or dictionary<int8, string>"),
        ("row_id", pa.array(["0"]), r"column 'row_id' has type string, expected an integer type"),
    ],
)
def test_column_of_the_wrong_type_is_named_with_the_expected_type(tmp_path, column, array, message, no_packet_work):
    table = _table(*_flows(1), apps=["youtube"], partitions=["pretraining"])
    path = _dataset(tmp_path / "ds", _replace(table, column, array))
    with pytest.raises(DatasetError, match=rf"{path}: not a curated dataset: {message}"):
        check_dataset_file(path)
    if column in FLOWPIC_COLUMNS:
        with pytest.raises(DatasetError, match=message):
            build_flowpic_store(path, 32)


def test_missing_columns_are_all_listed(tmp_path, no_packet_work):
    path = _dataset(tmp_path / "ds", _table().drop_columns(["pkts_size", "partition"]))
    with pytest.raises(DatasetError, match=r"missing column 'pkts_size' \(expected a list of integers.*\); "
                                           r"missing column 'partition' \(expected string"):
        check_dataset_file(path)
    for full_scan in (lambda: build_flowpic_store(path, 32), lambda: read_pktseries_features(path, None, 10)):
        with pytest.raises(DatasetError, match=r"missing column 'pkts_size'"):
            full_scan()


def test_partition_is_required_for_ucdavis_only(tmp_path):
    path = _dataset(tmp_path / "ds", _table().drop_columns(["partition"]))
    with pytest.raises(DatasetError, match=r"missing column 'partition'"):
        check_dataset_file(path, ucdavis.DATASET_NAME)
    check_dataset_file(path, "mirage19")


def test_importer_schemas_pass_the_schema_check():
    """The schemas our importers write (int32 / int64 sizes, plain string labels) are curated datasets too."""
    from tcbench.data.importers import mirage, utmobilenet

    for schema in (SCHEMA, mirage.MIRAGE19.schema, mirage.MIRAGE22.schema, utmobilenet.SCHEMA):
        check_schema(schema, "x.parquet", RUN_COLUMNS)


def test_labels_outside_the_ucdavis_classes(tmp_path):
    table = _table()
    apps = table.column("app").to_pylist()
    apps[3] = apps[8] = "google-maps"
    path = _dataset(tmp_path / "ds", _replace(table, "app", pa.array(apps).dictionary_encode()))
    with pytest.raises(DatasetError, match=r"column 'app' holds label\(s\) \['google-maps'\] \(2 flows\) that are not "
                                           r"ucdavis-icdm19 classes; expected one of \['google-doc', 'google-drive'"):
        check_dataset_file(path, ucdavis.DATASET_NAME)


def test_unknown_partition_and_null_labels(tmp_path):
    table = _table()
    parts = table.column("partition").to_pylist()
    parts[0] = "training"
    with pytest.raises(DatasetError, match=r"column 'partition' holds \['training'\]; expected one of \['pretraining'"):
        check_dataset_file(_dataset(tmp_path / "a", _replace(table, "partition", pa.array(parts))))
    apps = table.column("app").to_pylist()
    apps[2] = None
    path = _dataset(tmp_path / "b", _replace(table, "app", pa.array(apps).dictionary_encode()))
    for read in (lambda: check_dataset_file(path), lambda: read_labels(path)):
        with pytest.raises(DatasetError, match=r"column 'app' has 1 null value\(s\) \(rows \[2\]"):
            read()


def test_null_packet_value(tmp_path):
    table = _table(*_flows(2), apps=["youtube", "google-doc"], partitions=["pretraining"] * 2)
    sizes = pa.array([[1, None, 3], [4]], type=pa.list_(pa.int16()))
    times = pa.array([[0.0, 1.0, 2.0], [0.0]], type=pa.list_(pa.float64()))
    path = _dataset(tmp_path / "ds", _replace(_replace(table, "pkts_size", sizes), "timetofirst", times))
    with pytest.raises(DatasetError, match=r"column 'pkts_size' has 1 null packet value"):
        build_flowpic_store(path, 32)


# ------------------------------------------------------------------------------------------- empty classes
def test_ucdavis_class_without_any_flow(tmp_path):
    table = _table()
    keep = np.array([a != "youtube" for a in table.column("app").to_pylist()])
    path = _dataset(tmp_path / "ds", table.filter(pa.array(keep)).set_column(0, "row_id", pa.array(np.arange(keep.sum()))))
    with pytest.raises(DatasetError, match=r"class\(es\) \['youtube'\] have no flow; every ucdavis-icdm19 class needs flows"):
        check_dataset_file(path)


def test_other_datasets_need_two_classes(tmp_path):
    table = _table(*_flows(3), apps=["a", "a", "a"], partitions=[""] * 3)
    with pytest.raises(DatasetError, match=r"column 'app' holds 1 class\(es\) \['a'\]; classification needs at least 2"):
        check_dataset_file(_dataset(tmp_path / "ds", table), "mirage19")


def test_class_without_pretraining_flows_cannot_be_split(tmp_path):
    """Before, the class was silently left out of every split (and the message indexed ucdavis.CLASSES)."""
    table = _table()
    parts = table.column("partition").to_pylist()
    apps = table.column("app").to_pylist()
    parts = [ucdavis.PARTITION_HUMAN if a == "google-music" else p for a, p in zip(apps, parts)]
    labels = read_labels(_dataset(tmp_path / "ds", _replace(table, "partition", pa.array(parts))))
    with pytest.raises(DatasetError, match=r"class 'google-music' has 0 pretraining flows, fewer than n_splits x "
                                           r"samples_per_class = 5 x 1"):
        ucdavis_train_splits(labels, n_splits=5, samples_per_class=1)


def test_class_with_no_training_flow_in_a_split(tmp_path):
    labels = read_labels(_dataset(tmp_path / "ds"))
    pretraining = labels.rows_in(ucdavis.PARTITION_PRETRAINING)
    with pytest.raises(DatasetError, match=r"class\(es\) \['google-doc', 'google-drive', 'google-music', 'google-search', "
                                           r"'youtube'\] have no training flow"):
        train_val_partition(labels, pretraining, seed=1, max_samples_per_class=1)  # int(1 x 0.8) = 0 train flows
    train, val = train_val_partition(labels, pretraining, seed=1, max_samples_per_class=2)  # 1 train, 1 val per class
    assert len(train) == len(val) == 5
    no_youtube = pretraining[labels.app[pretraining] != ucdavis.CLASSES.index("youtube")]
    with pytest.raises(DatasetError, match=r"\['youtube'\] have no training flow"):
        train_val_partition(labels, no_youtube, seed=1)
    # index splits (mirage19, mirage22, utmobilenet21): the same check, for the caller to run on the split's rows
    split = RunSplit(train=no_youtube, val=pretraining, tests={})
    with pytest.raises(DatasetError, match=r"split 0 of x.parquet: class\(es\) \['youtube'\] have no training flow"):
        check_train_classes(labels, split.train, "split 0 of x.parquet")


def test_read_labels_ignores_unused_dictionary_values(tmp_path):
    """An unused dictionary value is not a class (it would be a class without flows)."""
    table = _table(*_flows(2), apps=["a", "b"], partitions=[""] * 2)
    app = pa.DictionaryArray.from_arrays(pa.array([0, 1], pa.int8()), pa.array(["a", "b", "zz-unused"]))
    labels = read_labels(_dataset(tmp_path / "ds", _replace(table, "app", app)))
    assert labels.classes == ("a", "b") and labels.app.tolist() == [0, 1]


# -------------------------------------------------------------------------------------- flows without packets
def test_flows_without_packets_are_valid_and_stay_empty(tmp_path, caplog):
    times, sizes = _flows(len(ucdavis.CLASSES) * (FLOWS_PER_CLASS + 2))
    empty = [0, 7, 13]
    for i in empty:
        times[i], sizes[i] = np.zeros(0), np.zeros(0, np.int16)
    path = _dataset(tmp_path / "ds", _table(times, sizes))
    check_dataset_file(path)  # valid data

    with caplog.at_level(logging.WARNING, logger="tcbench.data"):
        store = build_flowpic_store(path, 32)
    assert f"3 of {len(times)} flows have no packet: their flowpics are all zero" in caplog.text
    nnz = np.diff(store.matrix.indptr)
    assert (nnz[empty] == 0).all() and (np.delete(nnz, empty) > 0).all()

    ids, features = read_pktseries_features(path, None, 10)
    assert (features[empty] == 0).all() and np.isfinite(features).all()

    rows = np.array(empty + [1, 2])
    series, last = read_flow_series(path, rows, 2 * T + 1)
    assert np.diff(series.offsets).tolist()[:3] == [0, 0, 0] and last[:3].tolist() == [0.0, 0.0, 0.0]
    for aug in AUGMENTATIONS:
        out = augment_at_loading(aug, store.rows_for(rows), series, 32, T, seed=3, last_time=last)
        copies = out.shape[0] // len(rows)
        assert out.shape == (copies * len(rows), 32 * 32)
        copy_of_empty = (np.arange(copies)[:, None] * len(rows) + np.arange(3)[None, :]).ravel()
        assert out[copy_of_empty].nnz == 0, aug
    views = ViewSource(("changertt", "timeshift", "packetloss", "rotate"), 32, T, np.random.default_rng(0),
                       flowpics=store.rows_for(rows), series=series, last_time=last).draw()
    assert views[[0, 1, 2, 5, 6, 7]].nnz == 0


def test_empty_dataset(tmp_path):
    path = _dataset(tmp_path / "ds", _table([], [], [], []))
    with pytest.raises(DatasetError, match="the dataset holds no flow"):
        check_dataset_file(path)
    with pytest.raises(DatasetError, match="the dataset holds no flow"):
        build_flowpic_store(path, 32)


def test_read_flow_series_of_no_flow():
    """An empty set of rows (e.g. no flow to augment) reads nothing, without touching the file."""
    series, last = read_flow_series("/nonexistent.parquet", np.zeros(0, np.int64), 31.0)
    assert series.n_flows == 0 and len(last) == 0


# --------------------------------------------------------------------------------------------- packet times
@pytest.mark.parametrize(
    ("flow", "message"),
    [
        (np.array([0.0, 2.0, 1.0, 3.0]), r"flow row_id=4 has decreasing packet times \(packet 2: 2.0 s then 1.0 s\)"),
        (np.array([0.0, np.nan, 3.0]), r"flow row_id=4 has decreasing packet times \(packet 1: 0.0 s then nan s\)"),
        (np.array([0.0, 1.0, np.nan]), r"flow row_id=4 has packet time nan at packet 2; timetofirst must be finite and >= 0"),
        (np.array([-0.5, 1.0]), r"flow row_id=4 has packet time -0.5 at packet 0; timetofirst must be finite and >= 0"),
        (np.array([0.0, np.inf]), r"flow row_id=4 has packet time inf at packet 1"),
    ],
)
def test_bad_packet_times_name_the_flow(tmp_path, flow, message):
    times, sizes = _flows(len(ucdavis.CLASSES) * (FLOWS_PER_CLASS + 2))
    times[4], sizes[4] = flow, np.full(len(flow), 100, np.int16)
    path = _dataset(tmp_path / "ds", _table(times, sizes))
    check_dataset_file(path)  # the per-run check reads no packet: the full scans catch it
    for full_scan in (lambda: build_flowpic_store(path, 32), lambda: read_pktseries_features(path, None, 10),
                      lambda: read_flow_series(path, np.array([0, 4]), 2 * T + 1)):
        with pytest.raises(DatasetError, match=rf"{path}: {message}"):
            full_scan()


def test_flowpic_itself_does_not_depend_on_packet_order():
    """Why unsorted times are an error of the dataset, not of the flowpic: the histogram is order independent
    (series augmentations and inter-arrival features are not)."""
    rng = np.random.default_rng(4)
    t, s = rng.uniform(0, 20, 300), rng.integers(0, 1500, 300).astype(np.int16)
    order = np.argsort(t)
    for dim in (32, 1500):
        np.testing.assert_array_equal(flowpic(t, s, dim), flowpic(t[order], s[order], dim))


# ------------------------------------------------------------------------------------------- valid datasets
def test_tiny_synthetic_dataset_passes_every_check(tiny_dataset):
    path = tiny_dataset / f"{ucdavis.DATASET_NAME}.parquet"
    check_dataset_file(path, ucdavis.DATASET_NAME)
    assert "tcbench datasets synth --output-dir" in rebuild_hint(path)
    store = build_flowpic_store(path, 32)
    assert sp.isspmatrix_csr(store.matrix) and store.matrix.shape[0] == len(read_labels(path).app)
