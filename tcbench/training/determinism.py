"""Bitwise-repeatable torch training, and the record of how repeatable a run was.

On CPU, torch's kernels are deterministic for a fixed number of intra-op threads: the same run twice gives the
same weights and metrics bit for bit (tests/test_reliability.py). Reductions split work by thread, so a different
``threads_per_run`` can change the last digits; the thread count is part of the record.

On CUDA three things are not repeatable by default, and a run switches each off before building its model:
- cuDNN picks convolution algorithms by timing them (``cudnn.benchmark``), and some of them accumulate with atomics
  (Conv2d forward and backward of the flowpic CNNs): ``cudnn.benchmark = False``, ``cudnn.deterministic = True``;
- cuBLAS matrix products (the Linear layers, NT-Xent's similarity matrix) split reductions over a workspace whose
  layout varies: ``CUBLAS_WORKSPACE_CONFIG=:4096:8``, set before the first CUDA call;
- any other kernel without a deterministic implementation: ``torch.use_deterministic_algorithms(True,
  warn_only=True)`` makes torch warn instead of silently using it (a hard error would kill a long campaign for an
  operation our models do not use today); the warnings are collected and stored in the run's marker
  (``determinism.nondeterministic_ops``), so a result that may not repeat says so.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

CUBLAS_WORKSPACE_CONFIG = ":4096:8"
# torch's wording when an operation has no deterministic implementation (warn_only mode).
_NONDETERMINISTIC = "does not have a deterministic implementation"


def seed_everything(seed: int, threads: int, device: str) -> dict[str, Any]:
    """Seed torch and numpy, fix the thread count and, on CUDA, switch to deterministic kernels; returns the
    settings for the run's marker (completed by :func:`collect_nondeterminism`)."""
    import torch

    cuda = str(device).startswith("cuda")
    if cuda:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE_CONFIG)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    return {
        "device": str(device),
        "threads": threads,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG") if cuda else None,
        "nondeterministic_ops": [],
    }


@contextmanager
def collect_nondeterminism(record: dict[str, Any]) -> Iterator[None]:
    """Record in ``record["nondeterministic_ops"]`` every operation torch reported as nondeterministic inside the
    block (each distinct message once); other warnings pass through unchanged."""
    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        seen = record["nondeterministic_ops"]
        for w in caught:
            message = str(w.message)
            if _NONDETERMINISTIC not in message:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            elif message not in seen:
                seen.append(message)
