"""Figure: one training epoch of the Full net (dim 1500), dense vs sparse, one torch thread.

Two epochs of split 0 of the full-scale synthetic ucdavis-icdm19: its 400 training flows, and 4 500 augmented copies
(changertt: 9 copies of each of the split's 500 flows, as augment-at-loading makes them). Each epoch trains the same
initial Full net (seed 12345, dropout on, batch 32, Adam 1e-3) once on the dense path (every flowpic densified to
1500x1500 float32, the convolutions run whole) and once on the sparse path (tcbench.models.sparse_full), and prints
both times, their ratio and the largest difference between the two paths' logits for the epoch's first batch.
Target (issue 10): sparse >= 10x faster per epoch.
Usage: python benchmarks/bench_full_net.py [--epochs noaug,changertt] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import scipy.sparse as sp
import torch
from _common import ensure_full_dataset, machine


def _split0(dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from tcbench.data.labels import read_labels
    from tcbench.data.splits import TrainSplits, ucdavis_run_split

    labels = read_labels(dataset / "ucdavis-icdm19.parquet")
    splits = TrainSplits.read(dataset / "splits" / "train_splits_n5_per_class100.parquet")
    split = ucdavis_run_split(labels, splits, 0, 12345, 0.8, -1, False)
    return split.train, split.val, labels.app.astype(np.int64)


def _epoch(counts: sp.csr_matrix, labels: np.ndarray, path: str) -> tuple[float, torch.Tensor]:
    """Seconds of one training epoch on ``path`` and the logits of the first batch before training."""
    from tcbench.models.cnn import build_flowpic_cnn
    from tcbench.training.adam import Adam
    from tcbench.training.batches import FlowpicBatches
    from tcbench.training.loop import train_epoch

    os.environ["TCBENCH_FULL_NET"] = path
    data = FlowpicBatches(counts, labels, 1500)
    torch.manual_seed(12345)
    net = build_flowpic_cnn(5, 1500, True)
    net.eval()
    with torch.no_grad():
        logits = net(data.batch(slice(0, 32))[0])
    net.train()
    optimizer = Adam(net.parameters(), lr=1e-3)
    perm = torch.randperm(len(data), generator=torch.Generator().manual_seed(1))
    t0 = time.perf_counter()
    train_epoch(net, data, perm, 32, optimizer, torch.nn.CrossEntropyLoss(), torch.device("cpu"))
    return time.perf_counter() - t0, logits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", default="noaug,changertt", help="which epochs to time: noaug, changertt")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dataset = ensure_full_dataset()
    cache = dataset / "flowpics" / "flowpic_dim1500_block15.npz"
    if not cache.exists():
        import subprocess
        import sys

        subprocess.run([sys.executable, "-m", "tcbench", "datasets", "flowpics", "--dataset-dir", str(dataset),
                        "--dim", "1500"], check=True, capture_output=True)
    from tcbench.features.flowpic_store import load_flowpic_store

    store = load_flowpic_store(cache)
    train, val, codes = _split0(dataset)
    print(f"machine: {machine()}, torch threads {args.threads}")
    for name in args.epochs.split(","):
        if name == "noaug":
            counts, labels = store.rows_for(train), codes[train]
        else:
            from tcbench.augment import augment_at_loading
            from tcbench.features.flowpic_store import read_flow_series

            rows = np.concatenate([train, val])
            series, last = read_flow_series(dataset / "ucdavis-icdm19.parquet", rows, 2 * 15.0 + 1)
            counts = augment_at_loading(name, store.rows_for(rows), series, 1500, 15.0, seed=12345, aug_samples=10,
                                        last_time=last)
            labels = np.tile(codes[rows], 9)
        dense_s, dense_logits = _epoch(counts, labels, "dense")
        sparse_s, sparse_logits = _epoch(counts, labels, "sparse")
        diff = (dense_logits - sparse_logits).abs().max().item()
        print(f"{name}: {counts.shape[0]} images ({counts.nnz / counts.shape[0]:.0f} non-zero pixels each): dense "
              f"{dense_s:.1f} s, sparse {sparse_s:.1f} s per epoch, sparse {dense_s / sparse_s:.1f}x faster; "
              f"max |logit difference| {diff:.2e}", flush=True)


if __name__ == "__main__":
    main()
