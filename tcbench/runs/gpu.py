"""Which GPU a run uses when several run side by side on one machine.

Snakemake counts GPUs (``--resources gpu=N`` with ``gpu=1`` per job) but does not say which one a job gets, so a
run started with ``--device cuda`` claims a free device itself: it takes an exclusive ``flock`` on one lock file per
device in a node-local folder and keeps it until the process ends (the kernel releases it even on a crash). With N
jobs in flight and N devices, every job finds its own. Under SLURM, ``--gpus=1`` already restricts
``CUDA_VISIBLE_DEVICES`` to the job's GPU, which is then the only candidate.

The candidates are ``TCBENCH_GPUS`` (comma list, for tests and to reserve some devices), else the indexes of
``CUDA_VISIBLE_DEVICES`` as torch numbers them (0..k-1), else every device torch sees.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from pathlib import Path
from typing import IO

# The lock this process holds (device index -> open lock file), kept open for its lifetime: a process that runs a
# pre-training and then a finetune claims once.
_HELD: dict[int, IO[str]] = {}


def candidate_devices() -> list[int]:
    listed = os.environ.get("TCBENCH_GPUS")
    if listed is not None:
        return [int(v) for v in listed.split(",") if v.strip()]
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return list(range(len([v for v in visible.split(",") if v.strip()])))
    import torch

    return list(range(torch.cuda.device_count()))


def lock_folder() -> Path:
    """Node-local (the temp folder of this machine), one per user: jobs of one node compete, other nodes do not."""
    return Path(os.environ.get("TCBENCH_GPU_LOCKS", Path(tempfile.gettempdir()) / f"tcbench-gpu-locks-{os.getuid()}"))


def claim_gpu(devices: list[int] | None = None, folder: Path | None = None, timeout: float = 600.0) -> int:
    """Index of a device no other run of this machine holds; waits (up to ``timeout`` s) when all are taken."""
    if _HELD:
        return next(iter(_HELD))
    devices = candidate_devices() if devices is None else devices
    if not devices:
        raise RuntimeError("--device cuda asked for a GPU but none is visible (CUDA_VISIBLE_DEVICES / TCBENCH_GPUS)")
    folder = lock_folder() if folder is None else folder
    folder.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        for device in devices:
            handle = open(folder / f"gpu{device}.lock", "w")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                continue
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            _HELD[device] = handle
            return device
        if time.monotonic() > deadline:
            raise RuntimeError(f"no free GPU among {devices} after {timeout:.0f} s: more GPU jobs than GPUs "
                               "(give Snakemake --resources gpu=<number of GPUs>)")
        time.sleep(1.0)


def check_cuda_visible(device: str, option: str = "--device") -> None:
    """A cuda device on a machine where torch sees none is a usage error, said before any work (ValueError naming
    ``option``: the CLI option, or the config key at planning)."""
    if not device.startswith("cuda"):
        return
    import platform

    import torch

    from tcbench.training.loop import resolve_device

    try:
        resolve_device(device)
    except RuntimeError as exc:
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        where = platform.node() + (f", CUDA_VISIBLE_DEVICES={visible!r}" if visible is not None else "")
        valid = ["cpu"] + (["cuda"] + [f"cuda:{i}" for i in range(count)] if count else [])
        raise ValueError(f"{option} {device}: {exc} on {where}; valid values here: {valid}") from None


def resolve_cuda(device: str) -> str:
    """``cuda`` becomes ``cuda:<claimed index>``; an explicit ``cuda:N`` or ``cpu`` is kept as asked."""
    return f"cuda:{claim_gpu()}" if device == "cuda" else device


def release_all() -> None:
    """Drop this process's claim (tests; a run's process keeps it until it exits)."""
    for handle in _HELD.values():
        handle.close()
    _HELD.clear()
