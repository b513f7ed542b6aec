"""The one run template every method executes in: validate, place, log, track, report, mark.

``execute_run`` does, for any method: check the run's parameters against their declarations, check the dataset
folder is the data the parameters name, run the method's pre-step first when it is missing, claim a GPU, prepare
the content-addressed run folder, attach the run's log file, give the method a :class:`RunContext` (metrics,
AIM tracking on a side thread, per-context report files, phase timings), then write ``params.yml`` and the marker,
last and atomically. A run is complete only once ``marker.json`` exists, so an interrupted run leaves no marker and
is re-run from a clean folder.
"""

from __future__ import annotations

import logging
import os
import platform
import shutil
import time
from collections.abc import Mapping
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import yaml

from tcbench import RESULTS_VERSION, __version__
from tcbench.contract import Method, Placement, RunContext
from tcbench.data.paths import DatasetPaths
from tcbench.data.registry import DatasetDef, get_dataset
from tcbench.runs.identity import run_key
from tcbench.runs.provenance import provenance
from tcbench.training.metrics import check_finite

log = logging.getLogger("tcbench.run")

MARKER_VERSION = 1


# --------------------------------------------------------------------------------------------------------------
def check_dataset(method: Method, params: Mapping[str, Any], place: Placement) -> tuple[DatasetPaths, DatasetDef]:
    """The dataset folder must hold the data the parameters name (``dataset.json`` identity) in a readable file."""
    from tcbench.data.checks import check_dataset_content, check_dataset_file
    from tcbench.data.dataset_info import read_dataset_spec, with_min_pkts

    named = params["dataset"]
    dataset = get_dataset(named["name"])
    min_pkts = int(named.get("min_pkts", -1))
    if dataset.variants and min_pkts not in dataset.variants:
        raise ValueError(f"dataset {dataset.name} needs its filtered variant (--dataset-minpkts): valid values: "
                         f"{list(dataset.variants)}")
    paths = DatasetPaths(Path(place.dataset_dir), dataset.name, min_pkts if dataset.variants else -1)
    found = with_min_pkts(read_dataset_spec(paths.root), min_pkts)
    if found != named:
        raise ValueError(f"the dataset in {paths.root} ({found}) is not the data this run names ({named}): point "
                         "--dataset-dir at that dataset, or re-plan the campaign")
    method.check_params(params, dataset)
    # The file is the one the folder was made with (size and footer), then footer, schema and labels (~10 ms): an
    # edited, truncated or foreign file fails here, before any work.
    note = check_dataset_content(paths.root, paths.parquet)
    if note:
        log.warning(note)
    check_dataset_file(paths.parquet, dataset.name)
    return paths, dataset


def run_folder(key: str, run_dir: Path | None, results_dir: Path, kind: str = "runs") -> tuple[Path, Path]:
    """(run folder, its empty artifacts folder); the folder must be named by the run's content key."""
    run_dir = Path(run_dir) if run_dir is not None else Path(results_dir) / kind / key
    if run_dir.name != key:
        raise ValueError(
            f"the run parameters hash to run_key {key} but the run folder is {run_dir}: the workflow and the code "
            "disagree on the parameters (re-run `snakemake` so it re-plans the campaign)"
        )
    # A previous interrupted attempt may have left a partial folder: start clean, the marker is absent anyway.
    for stale in ("aim", "artifacts"):
        if (run_dir / stale).exists():
            shutil.rmtree(run_dir / stale)
    artifacts = run_dir / "artifacts"
    artifacts.mkdir(parents=True)
    return run_dir, artifacts


def ensure_pre_step(method: Method, params: Mapping[str, Any], place: Placement) -> tuple[Path | None, str | None]:
    """The folder and run key of the run's pre-step (SimCLR's pre-training), run first when it has no marker yet."""
    pre_params = method.pre_step_params(params)
    if pre_params is None:
        return None, None
    step = method.pre_step()  # type: ignore[misc]
    key = run_key(pre_params)
    folder = Path(place.pre_step_dir) if place.pre_step_dir else Path(place.results_dir) / step.results_kind / key
    if not (folder / "marker.json").exists():
        execute_run(step, pre_params, Placement(dataset_dir=place.dataset_dir, results_dir=place.results_dir,
                                                run_dir=folder, device=place.device, threads=place.threads))
    return folder, key


def execute_run(method: Method, params: dict[str, Any], place: Placement) -> dict[str, Any]:
    """Run ``method`` on ``params`` (validated here against the declarations) at ``place``; write the run folder
    and its marker; return the marker."""
    from tcbench.tracking.marker import write_marker

    started = time.time()
    if method.uses_gpu:  # a device this machine does not have fails first, in one line
        from tcbench.runs.gpu import check_cuda_visible

        check_cuda_visible(place.device)
    method.validate(params)
    params = {**params, **{p.name: p.cast(params[p.name]) for p in method.identity_params(params)}}
    paths, dataset = check_dataset(method, params, place)
    pre_step_dir, pre_step_key = ensure_pre_step(method, params, place)
    if method.uses_gpu and place.device == "cuda":  # claim a GPU no other run of this machine uses
        from dataclasses import replace

        from tcbench.runs.gpu import resolve_cuda

        place = replace(place, device=resolve_cuda(place.device))
    key = run_key(params)
    run_dir, artifacts = run_folder(key, place.run_dir, place.results_dir, method.results_kind)
    experiment = place.experiment or method.experiment_name(params)

    handler = logging.FileHandler(artifacts / "log.txt", mode="w")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger("tcbench")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        with ExitStack() as stack:
            run = RunContext(method=method, params=params, key=key, data=paths, dataset=dataset, run_dir=run_dir,
                             artifacts=artifacts, place=place, experiment=experiment, started=started, stack=stack,
                             pre_step_dir=pre_step_dir, pre_step_key=pre_step_key)
            extras = method.execute(run)
            last = time.time()
            check_finite(run.metrics)
            if method.tracked:
                check_complete(method, run)
            if method.tracked:
                run.side_tracker().flush()
        # Leaving the block closed the AIM run (also on errors), which sets its end_time.
        key_name = "run_key" if method.results_kind == "runs" else f"{method.results_kind}_key"
        labels = {"device": place.device, "threads": place.threads}
        if method.tracked:
            labels["experiment"] = experiment
        write_params(artifacts, params, **{key_name: key}, **labels, **run.params_extra, dataset_dir=str(place.dataset_dir))
        ended = time.time()
        run.durations.update(tracking_close=ended - last, total=ended - started)
        if method.tracked:
            marker = marker_base(run) | extras
        else:
            marker = {"marker_version": MARKER_VERSION, key_name: key, "params": params, **extras,
                      "creation_time": started, "end_time": ended, "durations": run.durations, "versions": versions(),
                      "provenance": provenance(params)}
        marker["artifacts"] = sorted(p.name for p in artifacts.iterdir())
        marker_path = write_marker(run_dir / "marker.json", marker)
        log.info("run %s done in %.1f s: marker %s", key, marker["durations"]["total"], marker_path)
        return marker
    except BaseException as exc:  # the run's own log says why it has no marker (also when interrupted)
        log.error("run %s failed, no marker written: %s: %s", key, type(exc).__name__, exc)
        raise
    finally:
        root.removeHandler(handler)
        handler.close()


class IncompleteRunError(ValueError):
    """A method returned without recording every test context and metric it declares: its run gets no marker,
    since the summaries and the report would miss the context (and a half result must never count as done)."""


def check_complete(method: Method, run: RunContext) -> None:
    missing = method.missing_results(run.metrics, run.dataset, run.params)
    if missing:
        declared = ", ".join(method.test_contexts(run.dataset, run.params))
        raise IncompleteRunError(
            f"run {run.key}: method {method.name} recorded no {', '.join(missing)} (it declares the test contexts "
            f"{declared}, each with {', '.join(method.test_metrics)}); no marker written: the method must call "
            "run.record(context, scores) for each")


def write_params(artifacts: Path, params: Mapping[str, Any], **extra: Any) -> None:
    """``params.yml``: every parameter of the run, as the original dumps its namespace."""
    with open(artifacts / "params.yml", "w") as fh:
        yaml.safe_dump({**params, **extra}, fh, sort_keys=False)


def marker_base(run: RunContext) -> dict[str, Any]:
    writer = run.side_tracker().writer
    return {
        "marker_version": MARKER_VERSION,
        "run_key": run.key,
        "method": run.method.name,
        "experiment": run.experiment,
        "hparams": run.method.hparams(run.params),
        "params": run.params,
        "aim": {"repo": "aim", "run_hash": writer.run_hash},
        "metrics": run.metrics,
        "creation_time": writer.creation_time,
        "end_time": writer.end_time,
        "durations": run.durations,
        "versions": versions(),
        "environment": execution_environment(),
        "provenance": provenance(run.params),
    }


def execution_environment() -> dict[str, str]:
    """Where the run executed: the host and what a scheduler handed it (GPU ids, SLURM job), for provenance."""
    names = ("CUDA_VISIBLE_DEVICES", "SLURM_JOB_ID", "SLURM_JOB_PARTITION", "SLURM_ARRAY_TASK_ID")
    return {"host": platform.node(), **{n: os.environ[n] for n in names if n in os.environ}}


def versions() -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    from tcbench.runs.provenance import library_versions

    found = {"tcbench": __version__, "results_version": RESULTS_VERSION, "python": platform.python_version(),
             **library_versions()}
    try:
        found["aim"] = version("aim")
    except PackageNotFoundError:
        pass
    return found
