"""Figure: augment-at-loading copies of one ucdavis training split (500 flows) per augmentation, time and peak RSS.

The 500 flows are split 0 of the full-scale synthetic dataset's train splits (5 classes x 100 pretraining flows).
Each (augmentation, dim) runs in its own child process (torch on one thread) that loads the prepared inputs, then
times ``augment_at_loading`` (default 10 samples: 9 copies, hflip 1) REPEAT times; the peak RSS is the child's
whole-process maximum (interpreter, torch and inputs included). Targets: < 2 s at dim 32, < 20 s and < 4 GB for
the series augmentations at dim 1500.
Usage: python benchmarks/bench_augment.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from _common import ensure_full_dataset, machine, timed_child

REPEAT = 3
N_SPLITS, SAMPLES_PER_CLASS, SPLIT_INDEX = 5, 100, 0
RUNS = [(aug, 32) for aug in ("horizontalflip", "rotate", "colorjitter", "packetloss", "changertt", "timeshift")] + [
    (aug, 1500) for aug in ("packetloss", "changertt", "timeshift", "horizontalflip", "rotate", "colorjitter")
]

CHILD = r"""
import json, sys, time
import numpy as np, scipy.sparse as sp, torch
torch.set_num_threads(1)
from tcbench.augment import augment_at_loading
from tcbench.features.flowpic import PacketSeries, flowpic_matrix
aug, dim, inputs, repeat = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
with np.load(inputs) as z:
    series = PacketSeries(z["times"], z["sizes"], z["offsets"])
    flowpics = sp.csr_matrix((z["fp_data"], z["fp_indices"], z["fp_indptr"]), shape=tuple(z["fp_shape"])) if dim == 32 else None
if flowpics is None:
    flowpics = flowpic_matrix(series, dim, 15.0)
times = []
for _ in range(repeat):
    t0 = time.perf_counter()
    out = augment_at_loading(aug, flowpics, series, dim, 15.0, seed=12345)
    times.append(time.perf_counter() - t0)
print(json.dumps({"times": times, "rows": out.shape[0], "nnz": int(out.nnz)}))
"""


def prepare_inputs(dataset: Path, path: Path) -> str:
    """Packet series (every packet) of split 0's 500 flows and their dim-32 flowpics from the flowpic store."""
    from tcbench.features.flowpic import PacketSeries, flowpic_matrix
    from tcbench.features.flowpic_store import build_flowpic_store, iter_packet_series

    splits = pq.read_table(dataset / "splits" / f"train_splits_n{N_SPLITS}_per_class{SAMPLES_PER_CLASS}.parquet").to_pandas()
    wanted = np.sort(splits.loc[splits["split_index"] == SPLIT_INDEX, "row_id"].to_numpy())
    parquet = dataset / "ucdavis-icdm19.parquet"
    times, sizes, ids = [], [], []
    for row_ids, series in iter_packet_series(parquet):
        for pos in np.flatnonzero(np.isin(row_ids, wanted)):
            lo, hi = series.offsets[pos], series.offsets[pos + 1]
            times.append(series.times[lo:hi].copy())
            sizes.append(series.sizes[lo:hi].copy())
            ids.append(row_ids[pos])
    order = np.argsort(ids)
    selected = PacketSeries.from_lists([times[i] for i in order], [sizes[i] for i in order])
    store = build_flowpic_store(parquet, 32)
    fp = store.rows_for(wanted)
    assert (fp != flowpic_matrix(selected, 32)).nnz == 0
    np.savez(path, times=selected.times, sizes=selected.sizes, offsets=selected.offsets, fp_data=fp.data,
             fp_indices=fp.indices, fp_indptr=fp.indptr, fp_shape=np.asarray(fp.shape))
    n_window = int((selected.times < 15).sum())
    return (f"{selected.n_flows} flows (split {SPLIT_INDEX}), {len(selected.times) / 1e6:.2f} M packets, "
            f"{n_window / 1e6:.2f} M inside 15 s")


def main() -> None:
    dataset = ensure_full_dataset()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp) / "inputs.npz"
        print(f"input: {prepare_inputs(dataset, inputs)}")
        for aug, dim in RUNS:
            _, rss, out = timed_child([sys.executable, "-c", CHILD, aug, str(dim), str(inputs), str(REPEAT)])
            res = json.loads(out.strip().splitlines()[-1])
            times = sorted(res["times"])
            print(f"{aug:>14s} dim {dim:4d}: {res['rows']:5d} copies, {res['nnz'] / 1e6:6.2f} M non-zero | "
                  f"{REPEAT} runs: median {times[len(times) // 2]:6.3f} s (min {times[0]:6.3f}) | peak RSS {rss:5.0f} MiB")


if __name__ == "__main__":
    main()
