"""Tests of the synthetic ucdavis-icdm19 generator: schema, counts, per-flow invariants, determinism."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from tcbench.data.synthetic import (
    SCHEMA,
    generate_synthetic_ucdavis,
    synthetic_class_counts,
    synthetic_dataset_id,
    write_synthetic_ucdavis,
)
from tcbench.data.ucdavis import (
    CLASS_COUNTS,
    CLASSES,
    PARTITION_HUMAN,
    PARTITION_PRETRAINING,
    PARTITION_SCRIPT,
    PARTITIONS,
)

SCALE = 0.02


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same dataset written twice into two directories."""
    a = write_synthetic_ucdavis(tmp_path_factory.mktemp("a") / "synth.parquet", seed=12345, scale=SCALE)
    b = write_synthetic_ucdavis(tmp_path_factory.mktemp("b") / "synth.parquet", seed=12345, scale=SCALE)
    return a, b


@pytest.fixture(scope="module")
def table(written: tuple[Path, Path]) -> pa.Table:
    return pq.read_table(written[0])


def _flat(table: pa.Table, column: str) -> tuple[np.ndarray, np.ndarray]:
    arr = table[column].combine_chunks()
    return arr.offsets.to_numpy(), arr.values.to_numpy()


def _by_flow_id(table: pa.Table) -> dict[str, pa.Table]:
    """One single-row table per flow, without row_id (which depends on how many flows sort before it)."""
    body = table.drop_columns(["row_id"])
    return {fid: body.slice(i, 1) for i, fid in enumerate(table["flow_id"].to_pylist())}


def test_schema_and_dtypes(table: pa.Table) -> None:
    assert table.schema.equals(SCHEMA)
    assert table.column_names == (
        "row_id app flow_id partition num_pkts duration bytes unixtime timetofirst pkts_size pkts_dir pkts_iat".split()
    )
    app = table["app"].combine_chunks()
    assert app.type == pa.dictionary(pa.int8(), pa.string())
    assert app.dictionary.to_pylist() == list(CLASSES)
    df = table.select(["app", "partition"]).to_pandas()
    assert list(df["app"].cat.categories) == list(CLASSES)
    assert set(df["partition"]) == set(PARTITIONS)
    # category codes are the class index, which is what the training code uses as target
    assert (df["app"].cat.codes.to_numpy() == np.array([CLASSES.index(a) for a in df["app"].astype(str)])).all()


def test_class_counts_scale_only_pretraining(table: pa.Table) -> None:
    expected = synthetic_class_counts(SCALE)
    for partition in (PARTITION_HUMAN, PARTITION_SCRIPT):
        assert expected[partition] == CLASS_COUNTS[partition]
    for app, n in CLASS_COUNTS[PARTITION_PRETRAINING].items():
        assert expected[PARTITION_PRETRAINING][app] == max(1, math.floor(n * SCALE + 0.5))
    assert set(synthetic_class_counts(1e-6)[PARTITION_PRETRAINING].values()) == {1}
    assert synthetic_class_counts(1.0) == CLASS_COUNTS
    counts = table.select(["partition", "app"]).to_pandas().astype(str).value_counts()
    got = {(p, a): int(n) for (p, a), n in counts.items()}
    assert got == {(p, a): n for p, per_app in expected.items() for a, n in per_app.items()}


def test_sorted_rows_row_id_and_flow_ids(table: pa.Table) -> None:
    keys = list(zip(table["partition"].to_pylist(), table["flow_id"].to_pylist()))
    assert keys == sorted(keys)
    assert table["row_id"].to_pylist() == list(range(table.num_rows))
    flow_ids = table["flow_id"].to_pylist()
    assert len(set(flow_ids)) == len(flow_ids)
    assert table["flow_id"][0].as_py() == "GoogleDoc-1"
    human = table.filter(pc.equal(table["partition"], PARTITION_HUMAN))
    assert "GoogleSearch-human15" in human["flow_id"].to_pylist()


def test_per_flow_invariants(table: pa.Table) -> None:
    off, ttf = _flat(table, "timetofirst")
    for col in ("unixtime", "pkts_size", "pkts_dir", "pkts_iat"):
        assert np.array_equal(_flat(table, col)[0], off), col
    _, sizes = _flat(table, "pkts_size")
    _, dirs = _flat(table, "pkts_dir")
    _, iat = _flat(table, "pkts_iat")
    _, unixtime = _flat(table, "unixtime")
    starts, ends = off[:-1], off[1:] - 1
    num_pkts = np.diff(off)
    assert (num_pkts >= 1).all()
    assert np.array_equal(table["num_pkts"].to_numpy(), num_pkts)
    assert (ttf[starts] == 0).all()
    assert (iat[starts] == 0).all()
    within = np.ones(len(ttf), dtype=bool)
    within[starts] = False
    assert (np.diff(ttf, prepend=0.0)[within] >= 0).all()
    assert np.array_equal(iat[within], np.diff(ttf, prepend=0.0)[within])
    assert np.array_equal(table["duration"].to_numpy(), ttf[ends])
    assert np.array_equal(table["bytes"].to_numpy(), np.add.reduceat(sizes.astype(np.int64), starts))
    assert sizes.min() >= 0 and sizes.max() <= 1500
    assert set(np.unique(dirs)) <= {0, 1}
    assert (dirs[starts] == 1).all()  # the client Initial opens every flow
    epoch = np.repeat(unixtime[starts], num_pkts)
    assert np.allclose(unixtime - epoch, ttf, atol=1e-5)
    assert ((unixtime[starts] > 1.52e9) & (unixtime[starts] < 1.54e9)).all()  # capture year of the real data


def test_rewrite_is_byte_identical_and_atomic(written: tuple[Path, Path]) -> None:
    a, b = written
    assert a.read_bytes() == b.read_bytes()
    assert [p.name for p in a.parent.iterdir()] == ["synth.parquet"]  # no temp file left behind


def test_other_seed_gives_other_data(table: pa.Table) -> None:
    other = generate_synthetic_ucdavis(seed=1, scale=SCALE)
    assert other["flow_id"].to_pylist() == table["flow_id"].to_pylist()
    assert not other["num_pkts"].equals(table["num_pkts"])
    assert not other["timetofirst"].equals(table["timetofirst"])


def test_flows_do_not_depend_on_scale(table: pa.Table) -> None:
    larger = _by_flow_id(generate_synthetic_ucdavis(seed=12345, scale=0.03))
    base = _by_flow_id(table)
    assert len(larger) > len(base)
    for flow_id in ("GoogleSearch-human3", "Youtube-script7", "GoogleDrive-1"):
        assert larger[flow_id].equals(base[flow_id]), flow_id


def test_lookalikes_switch_and_human_shift(table: pa.Table) -> None:
    """Look-alikes replace some flows only, and human searches mostly look like long, bursty doc sessions."""
    plain = _by_flow_id(generate_synthetic_ucdavis(seed=12345, scale=SCALE, lookalikes=False))
    with_la = _by_flow_id(table)
    assert plain.keys() == with_la.keys()
    changed = {fid for fid in plain if not plain[fid].equals(with_la[fid])}
    df = table.select(["flow_id", "partition", "app", "duration"]).to_pandas().astype({"app": str})
    human = set(df.flow_id[df.partition == PARTITION_HUMAN])
    human_search = df[(df.partition == PARTITION_HUMAN) & (df.app == "google-search")]
    # expected human look-alikes: 0.3 doc + 3.6 drive + 1.2 music + 14.25 search + 4 youtube
    assert 15 <= len(changed & human) <= 30
    assert len(changed & set(human_search.flow_id)) >= 13
    assert len(changed) < len(plain) / 4
    assert (human_search.duration > 50).sum() >= 12  # drawn by the doc generator (~2 min sessions)
    script_search = df[(df.partition == PARTITION_SCRIPT) & (df.app == "google-search")]
    assert script_search.duration.median() < 15


def test_dataset_id() -> None:
    assert synthetic_dataset_id() == "ucdavis-icdm19-synth2_seed12345_scale1"
    assert synthetic_dataset_id(42, 0.25) == "ucdavis-icdm19-synth2_seed42_scale0.25"
    assert synthetic_dataset_id(7, 2, lookalikes=False) == "ucdavis-icdm19-synth2_seed7_scale2_nolookalikes"
    with pytest.raises(ValueError):
        synthetic_dataset_id(1, 0.0)
    with pytest.raises(ValueError):
        generate_synthetic_ucdavis(seed=-1)
