"""The campaign cost model: expected seconds per job, and the wall time of a plan on N cores or one GPU.

Why: a campaign's runs differ in cost by 10x and more (dim 1500 and augmentations applied at loading against a
noaug dim-32 run), so counting runs says nothing about time. Each run's features come from its method
(``Method.cost_features``: dim, augmentation, training set, input representation ...) plus the device; the seconds
of a feature cell come from runs finished on this machine when there are enough of them (``results/runs/*/marker.json``
and Snakemake's benchmark file of the job), else from the coefficients shipped in ``cost_defaults.yaml``, measured
on the reference machine. Every figure says which was used.

A plan's wall time is a list-scheduling simulation: jobs start, longest critical path first, when their
dependencies (a SimCLR pre-training before its finetunes) are done and enough cores (each job takes its threads)
and GPUs are free, plus Snakemake's per-job overhead.
"""

from __future__ import annotations

import heapq
import json
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

DEFAULTS_FILE = "cost_defaults.yaml"


@cache
def shipped_defaults() -> dict[str, Any]:
    """The coefficients measured on the reference machine (``cost_defaults.yaml`` beside this module)."""
    from tcbench.campaign.config import parse_yaml

    return parse_yaml(resources.files("tcbench.campaign").joinpath(DEFAULTS_FILE).read_text(encoding="utf-8"))


def device_kind(device: str) -> str:
    """``cuda:1`` and ``cuda`` cost alike: the kind of device, not its index."""
    return "cuda" if str(device).startswith("cuda") else "cpu"


def run_features(params: Mapping[str, Any], device: str) -> tuple[str, dict[str, str]]:
    """(method name, the features its cost depends on, the device kind among them), asked of the run's method."""
    from tcbench.methods.registry import get_method

    method = get_method(params["method"])
    return method.name, {**method.cost_features(params), "device": device_kind(device)}


def _cell(spec: Mapping[str, Any], features: Mapping[str, str]) -> str:
    return " ".join(features.get(name, "?") for name in spec.get("cell_by", []))


def cell_and_factor(spec: Mapping[str, Any], features: Mapping[str, str]) -> tuple[str, float]:
    """A run's cell in a method's coefficients (``spec``: one entry of ``methods`` in cost_defaults.yaml) and the
    product of the method's other factors for it (leftover test, training set, device): seconds = cell x factor."""
    factor = 1.0
    for name, table in spec.get("factors", {}).items():
        factor *= _factor(table, name, features)
    return _cell(spec, features), factor


def _factor(table: Mapping[str, Any], name: str, features: Mapping[str, str]) -> float:
    """One factor of a run. A table is keyed by one feature (``train: {split: 1.0, larger: 3.9}``) or by several,
    named with spaces, where the factor of one depends on another (``train aug: {larger: 8.0, larger rotate: 9.1}``:
    the larger training set costs more with some augmentations); the most specific entry wins (every named feature's
    value, then fewer from the right), else 1.0."""
    values = [features.get(feature, "") for feature in name.split()]
    for n in range(len(values), 0, -1):
        key = " ".join(values[:n])
        if key in table:
            return float(table[key])
    return 1.0


@dataclass
class CostModel:
    """Seconds of a job by its method and features. ``source`` says where the figures come from."""

    defaults: dict[str, Any] = field(default_factory=shipped_defaults)
    measured: dict[tuple[str, str], float] = field(default_factory=dict)  # (method, cell key incl. device) -> median
    scale: dict[str, float] = field(default_factory=dict)  # method (or "*") -> measured / shipped, median
    calibrated_from: int = 0

    @property
    def source(self) -> str:
        if self.calibrated_from:
            return f"calibrated from {self.calibrated_from} runs finished on this machine"
        return f"shipped defaults (measured on the reference machine: {self.defaults.get('reference', 'unknown')})"

    def shipped_seconds(self, method: str, features: Mapping[str, str]) -> float:
        """The reference machine's figure: the cell's seconds (or the method's base) times every factor."""
        spec = self.defaults["methods"].get(method)
        if spec is None:
            return float(self.defaults["methods"]["monolithic"]["base"])  # a plugin method: a run like a CNN's
        cell, factor = cell_and_factor(spec, features)
        return float(spec.get("cells", {}).get(cell, spec.get("base", 30.0))) * factor

    def seconds(self, method: str, features: Mapping[str, str]) -> float:
        """Expected wall seconds of one job: this machine's median for the cell when it ran enough of them, else the
        shipped figure times this machine's measured/shipped ratio (of the method, else of every method)."""
        cell = (method, self._key(method, features))
        if cell in self.measured:
            return self.measured[cell]
        factor = self.scale.get(method, self.scale.get("*", 1.0))
        return self.shipped_seconds(method, features) * factor

    def _key(self, method: str, features: Mapping[str, str]) -> str:
        return json.dumps(dict(sorted(features.items())))

    def run_seconds(self, params: Mapping[str, Any], device: str) -> float:
        method, features = run_features(params, device)
        return self.seconds(method, features)

    def campaign_steps_seconds(self, n_runs: int) -> float:
        """The steps after a campaign's last run (summaries, plots, analysis, merge, page), by its number of runs."""
        steps = self.defaults["steps"]
        return float(steps["campaign_fixed"]) + float(steps["campaign_per_run"]) * n_runs


# ------------------------------------------------------------------------------------------------- calibration
@dataclass(frozen=True)
class FinishedRun:
    method: str
    features: dict[str, str]
    seconds: float
    end_time: float | None = None  # when its marker was written (epoch seconds): measuring a window of a campaign


def _job_seconds(marker: Mapping[str, Any], benchmark: Path, job_start: float) -> float | None:
    """The job's wall: Snakemake's benchmark file of the job when there is one, else the marker's own clock plus
    the process start it does not see."""
    try:
        lines = benchmark.read_text().splitlines()
        return float(lines[1].split("\t")[0])
    except (OSError, IndexError, ValueError):
        total = marker.get("durations", {}).get("total")
        return float(total) + job_start if isinstance(total, (int, float)) else None


def finished_runs(results_dir: Path, job_start: float | None = None) -> list[FinishedRun]:
    """Every finished run and pre-step under ``results_dir`` with its features and job seconds (unreadable markers
    and those of unknown methods are skipped: they only calibrate)."""
    from tcbench.methods.registry import get_method

    job_start = float(shipped_defaults()["job_start_s"]) if job_start is None else job_start
    out = []
    logs = results_dir / "logs"
    for kind in ("runs", "pretrain"):
        folder = results_dir / kind
        if not folder.is_dir():
            continue
        for run_dir in folder.iterdir():
            try:
                marker = json.loads((run_dir / "marker.json").read_text())
                params = marker["params"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            try:
                method = get_method(params["method"])
            except (KeyError, TypeError, ValueError):
                continue
            device = str(marker.get("determinism", {}).get("device") or "cpu")
            seconds = _job_seconds(marker, logs / kind / f"{run_dir.name}.benchmark.tsv", job_start)
            try:
                features = {**method.cost_features(params), "device": device_kind(device)}
            except (KeyError, TypeError, ValueError):
                continue
            if seconds is not None and seconds > 0:
                end = marker.get("end_time")
                out.append(FinishedRun(method.name, features, seconds, float(end) if isinstance(end, (int, float)) else None))
    return out


def calibrated(runs: Sequence[FinishedRun], device: str, defaults: dict[str, Any] | None = None) -> CostModel:
    """The model calibrated from ``runs`` of the same device kind when there are at least ``min_runs_to_calibrate``
    of them; otherwise the shipped defaults."""
    model = CostModel(defaults=defaults or shipped_defaults())
    kind = device_kind(device)
    same = [r for r in runs if r.features.get("device") == kind]
    if len(same) < int(model.defaults["min_runs_to_calibrate"]):
        return model
    by_cell: dict[tuple[str, str], list[float]] = {}
    ratios: dict[str, list[float]] = {}
    for run in same:
        by_cell.setdefault((run.method, model._key(run.method, run.features)), []).append(run.seconds)
        ratio = run.seconds / model.shipped_seconds(run.method, run.features)
        ratios.setdefault(run.method, []).append(ratio)
        ratios.setdefault("*", []).append(ratio)
    per_cell = int(model.defaults["min_runs_per_cell"])
    model.measured = {cell: statistics.median(s) for cell, s in by_cell.items() if len(s) >= per_cell}
    model.scale = {name: statistics.median(r) for name, r in ratios.items() if name == "*" or len(r) >= per_cell}
    model.calibrated_from = len(same)
    return model


def load_model(results_dir: Path, device: str) -> CostModel:
    """The cost model for a campaign writing to ``results_dir`` on ``device``."""
    return calibrated(finished_runs(results_dir), device)


# ------------------------------------------------------------------------------------------------- projection
@dataclass(frozen=True)
class Job:
    """One job of a plan: its seconds, the cores and GPUs it holds, the jobs it waits for (by name) and, for a run or
    pre-step, its parameters (which name its marker: :func:`marker_path`)."""

    name: str
    seconds: float
    cores: int = 1
    gpus: int = 0
    after: tuple[str, ...] = ()
    params: Mapping[str, Any] | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        """The run key of a run or pre-step job (names are ``run:<key>`` and ``pre:<key>``)."""
        return self.name.split(":", 1)[1]


def makespan(jobs: Sequence[Job], cores: int, gpus: int = 0, overhead: float | None = None) -> float:
    """Wall seconds of ``jobs`` on ``cores`` cores and ``gpus`` GPUs: list scheduling, the job with the longest path to
    the end first among those whose dependencies are done and whose cores and GPUs are free (how Snakemake fills
    free cores, with the critical path first); each job pays Snakemake's per-job overhead. A job asking for more
    cores than there are gets them all, as Snakemake scales it down."""
    if not jobs:
        return 0.0
    overhead = float(shipped_defaults()["per_job_overhead_s"]) if overhead is None else overhead
    cores = max(1, cores)
    by_name = {job.name: job for job in jobs}
    children: dict[str, list[str]] = {name: [] for name in by_name}
    waiting = {}
    for job in jobs:
        deps = [d for d in job.after if d in by_name]
        waiting[job.name] = len(deps)
        for dep in deps:
            children[dep].append(job.name)
    rank: dict[str, float] = {}
    for name in _reverse_topological(by_name, children):
        rank[name] = by_name[name].seconds + max((rank[c] for c in children[name]), default=0.0)
    ready = [(-rank[n], n) for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    running: list[tuple[float, str]] = []
    now, free_cores, free_gpus = 0.0, cores, gpus
    held: list[tuple[float, str]] = []  # ready jobs that did not fit now
    while ready or running or held:
        for item in held:
            heapq.heappush(ready, item)
        held = []
        while ready and free_cores:  # every job holds at least one core: none fits without a free one
            item = heapq.heappop(ready)
            job = by_name[item[1]]
            need_cores, need_gpus = min(job.cores, cores), job.gpus
            if need_gpus > gpus:  # a GPU job where there is no GPU: it runs on the cores
                need_gpus = 0
            if need_cores <= free_cores and need_gpus <= free_gpus:
                free_cores -= need_cores
                free_gpus -= need_gpus
                heapq.heappush(running, (now + job.seconds + overhead, job.name))
            else:
                held.append(item)
        if not running:
            break
        now, name = heapq.heappop(running)
        job = by_name[name]
        free_cores += min(job.cores, cores)
        free_gpus += job.gpus if job.gpus <= gpus else 0
        for child in children[name]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (-rank[child], child))
    return now


def _reverse_topological(by_name: Mapping[str, Job], children: Mapping[str, list[str]]) -> list[str]:
    order: list[str] = []
    seen: set[str] = set()
    for root in by_name:
        stack = [(root, iter(children[root]))]
        if root in seen:
            continue
        seen.add(root)
        while stack:
            node, it = stack[-1]
            nxt = next((c for c in it if c not in seen), None)
            if nxt is None:
                order.append(node)
                stack.pop()
            else:
                seen.add(nxt)
                stack.append((nxt, iter(children[nxt])))
    return order  # children before parents


def run_jobs(runs: Iterable[tuple[str, Mapping[str, Any]]], model: CostModel, device: str, threads: int = 1,
             gpu_jobs: bool = False, results: Path | None = None) -> list[Job]:
    """The jobs of ``runs`` ((run key, params), each distinct run once) and of the pre-steps they need. With
    ``results`` (the results folder), only the jobs left to do: a run or pre-step whose marker is there is left out,
    and so is the wait on it."""
    from tcbench.methods.registry import get_method
    from tcbench.runs.identity import run_key

    def finished(key: str, params: Mapping[str, Any]) -> bool:
        return results is not None and marker_path(results, key, params).exists()

    jobs: dict[str, Job] = {}
    for key, params in runs:
        if f"run:{key}" in jobs or finished(key, params):
            continue
        method = get_method(params["method"])
        after: tuple[str, ...] = ()
        pre = method.pre_step_params(params)
        if pre is not None:
            pre_key = run_key(pre)
            name = f"pre:{pre_key}"
            if name not in jobs and not finished(pre_key, pre):
                gpu = int(gpu_jobs and method.pre_step is not None and method.pre_step.uses_gpu)
                jobs[name] = Job(name, model.run_seconds(pre, device), threads, gpu, params=pre)
            after = (name,) if name in jobs else ()
        jobs[f"run:{key}"] = Job(f"run:{key}", model.run_seconds(params, device), threads,
                                 int(gpu_jobs and method.uses_gpu), after, params)
    return list(jobs.values())


def marker_path(results: Path, key: str, params: Mapping[str, Any]) -> Path:
    """Where the job of ``params`` (a run or pre-step, run key ``key``) writes its marker, as the workflow names it:
    ``<results>/<its method's results_kind>/<key>/marker.json``."""
    from tcbench.methods.registry import get_method

    return results / get_method(params["method"]).results_kind / key / "marker.json"


def steps_to_make(results: Path, campaign_id: str, jobs_left: bool) -> bool:
    """Whether Snakemake will make a campaign's steps (summaries, merge, page): when a run or pre-step of it is left
    (``jobs_left``) or its page is not there yet. A finished campaign has none to price."""
    from tcbench.campaign.folder import REPORT_PAGE, campaign_folder

    return jobs_left or not (campaign_folder(results, campaign_id) / REPORT_PAGE).exists()


def step_jobs(n_runs_by_campaign: Mapping[str, int], flowpic_dims: Iterable[int], synthetic: int,
              model: CostModel) -> list[Job]:
    """The jobs that are not runs: datasets to build, their splits and flowpic caches, each campaign's reporting."""
    steps = model.defaults["steps"]
    jobs = [Job(f"synth:{i}", float(steps["synth_dataset"])) for i in range(synthetic)]
    jobs += [Job(f"splits:{i}", float(steps["train_splits"])) for i in range(synthetic)]
    flowpics = steps["flowpics"]
    jobs += [Job(f"flowpics:{dim}", float(flowpics.get(str(dim), flowpics["default"]))) for dim in flowpic_dims]
    jobs += [Job(f"report:{cid}", model.campaign_steps_seconds(n)) for cid, n in n_runs_by_campaign.items()]
    return jobs


def describe_seconds(seconds: float) -> str:
    """3.2 h / 14 min / 40 s: the unit that reads best for a projection."""
    if seconds >= 2 * 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 120:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


# ------------------------------------------------------------------------------------------------- a plan's price
@dataclass
class Projection:
    """The price of a plan: distinct runs (and pre-steps) per table and in total, those left to train, and the
    projected wall time on ``cores`` cores (and on one GPU when the plan runs on cuda)."""

    source: str
    cores: int
    tables: dict[str, tuple[int, int]]  # table -> (distinct runs, distinct pre-steps)
    runs: int
    pre_steps: int
    left: int
    seconds: float
    gpu_seconds: float | None = None

    def lines(self) -> list[str]:
        width = max([len(t) for t in self.tables] + [5])
        out = [f"{'table':<{width}}  distinct runs  pre-trainings"]
        out += [f"{t:<{width}}  {r:>13}  {p:>13}" for t, (r, p) in self.tables.items()]
        out.append(f"{'total':<{width}}  {self.runs:>13}  {self.pre_steps:>13}  (each distinct run trains once)")
        out.append(f"left to train: {self.left} jobs (runs and pre-trainings without a finished marker)")
        out.append(f"cost model: {self.source}")
        out.append(f"projected wall time with --cores {self.cores}: {describe_seconds(self.seconds)}")
        if self.gpu_seconds is not None:
            out.append(f"projected wall time on one GPU (resources.device cuda) and {self.cores} cores: "
                       f"{describe_seconds(self.gpu_seconds)}")
        return out


def project(campaigns: Sequence[Mapping[str, Any]], tables: Mapping[str, Sequence[str]] | None, cores: int,
            model: CostModel | None = None, workdir: Path = Path("."),
            planned: Mapping[str, Mapping[str, Mapping[str, Any]]] | None = None) -> Projection:
    """Price the prepared ``campaigns`` (configs, completed): distinct runs per table (``tables``: table -> campaign
    ids; None: one table per campaign), and the wall time of the jobs left to train plus the steps to make.
    ``planned``: each campaign's runs (campaign id -> run key -> params) when the caller has them already."""
    from tcbench.campaign.grid import campaign_runs, pre_steps
    from tcbench.data.sources import dataset_paths

    first = campaigns[0]
    results = workdir / first["results_dir"]
    device = first["resources"]["device"]
    threads = int(first["resources"]["threads_per_run"])
    model = model or load_model(results, device)
    by_id: dict[str, dict[str, Any]] = {}
    pre_by_id: dict[str, dict[str, Any]] = {}
    all_runs: dict[str, Any] = {}
    for cfg in campaigns:
        runs = dict(planned[cfg["campaign_id"]]) if planned else {s.run_key: s.params for s in campaign_runs(dict(cfg))}
        by_id[cfg["campaign_id"]] = runs
        pre_by_id[cfg["campaign_id"]] = pre_steps([_Spec(k, p) for k, p in runs.items()])  # type: ignore[list-item]
        all_runs.update(runs)
    tables = tables or {cid: [cid] for cid in by_id}
    per_table = {}
    for table, ids in tables.items():
        keys = {k for cid in ids if cid in by_id for k in by_id[cid]}
        pres = {k for cid in ids if cid in by_id for k in pre_by_id[cid]}
        if keys:
            per_table[table] = (len(keys), len(pres))
    all_pre = {k: p for pres in pre_by_id.values() for k, p in pres.items()}

    dims = {int(c["grid"].get("flowpic_dim", [32])[0]) for c in campaigns}
    dims = {d for c in campaigns for d in c["grid"].get("flowpic_dim", [])} or dims
    built = {str(dataset_paths(c).root) for c in campaigns}
    missing = [r for r in built if not (workdir / r).is_dir()]
    left = run_jobs(all_runs.items(), model, device, threads, results=results)
    left_keys = {job.key for job in left}
    to_report = {cid: len(runs) for cid, runs in by_id.items()
                 if steps_to_make(results, cid, bool(left_keys.intersection(runs) or left_keys.intersection(pre_by_id[cid])))}
    steps = step_jobs(to_report, [d for d in dims if missing], len(missing), model)
    data = [s for s in steps if not s.name.startswith("report:")]
    reports = [s for s in steps if s.name.startswith("report:")]

    def wall(jobs: Sequence[Job], gpus: int) -> float:
        return makespan(data, cores) + makespan(jobs, cores, gpus) + makespan(reports, cores)

    gpu_left = run_jobs(all_runs.items(), model, device, threads, True, results) if device_kind(device) == "cuda" else None
    return Projection(model.source, cores, per_table, len(all_runs), len(all_pre), len(left), wall(left, 0),
                      None if gpu_left is None else wall(gpu_left, 1))


@dataclass(frozen=True)
class _Spec:
    run_key: str
    params: Mapping[str, Any]
