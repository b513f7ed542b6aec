"""The state of every run of a campaign, from the run markers and Snakemake's own bookkeeping, so a campaign can be
watched while it runs locally or on SLURM (`tcbench campaign status`).

A run is
- ``done`` when its marker is complete (the marker is written last, atomically);
- ``running`` when Snakemake has marked its output incomplete (done at job start locally, at submission on
  SLURM, with the SLURM job id) since the Snakemake process that holds the working directory's lock took it (an
  older record was left by a killed process: that run is failed, interrupted);
- ``failed`` when it has a log but no marker and is not running (the job failed or was interrupted): the log says why;
- ``pending`` otherwise.
"""

from __future__ import annotations

import json
from base64 import urlsafe_b64encode
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcbench.campaign.grid import RunSpec, campaign_runs, grid_axes
from tcbench.campaign.reuse import marker_problem
from tcbench.data.registry import get_dataset
from tcbench.tracking.marker import MarkerError, read_marker

STATES = ("done", "running", "failed", "pending")


@dataclass(frozen=True)
class RunStatus:
    run_key: str
    campaign_exp_idx: int
    state: str
    tags: dict[str, Any]
    log: Path
    seconds: float | None = None  # total duration of a done run
    external_jobid: str | None = None  # the SLURM job id of a submitted run
    detail: str = ""


@dataclass
class CampaignStatus:
    runs: list[RunStatus]
    counts: Counter = field(default_factory=Counter)
    #: Projected seconds of each run left to train by key (tcbench.campaign.cost), and where the figures come from.
    costs: dict[str, float] = field(default_factory=dict)
    cost_source: str = ""
    #: Projected seconds of each pre-step (SimCLR's pre-training) still to run, by key: part of the ETA.
    pre_steps_left: dict[str, float] = field(default_factory=dict)
    #: The keys of those pre-steps that the live Snakemake is running: jobs in flight, as running runs are.
    pre_steps_running: set[str] = field(default_factory=set)
    #: Projected seconds of the campaign steps still to make after the runs (summaries, merge, page; of every
    #: campaign in a plan): part of the ETA, as in the dry run's projection.
    steps_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.counts = Counter(r.state for r in self.runs)

    @property
    def finished(self) -> bool:
        return self.counts["done"] == len(self.runs)

    def eta_seconds(self) -> float | None:
        """The cost model's seconds of the pending runs and pre-steps plus half those of the running ones and the
        campaign steps after them, over the jobs in flight (runs and pre-steps, at least one at a time): a pending
        dim-1500 run weighs what it costs, not what the mean run did. Without costs, the mean duration of the
        finished runs x runs left."""
        left = [r for r in self.runs if r.state in ("pending", "running")]
        if not left:
            return None
        parallel = max(1, self.counts["running"] + len(self.pre_steps_running))
        if self.costs:
            runs = sum(self.costs.get(r.run_key, 0.0) * (0.5 if r.state == "running" else 1.0) for r in left)
            steps = sum(cost * (0.5 if key in self.pre_steps_running else 1.0)
                        for key, cost in self.pre_steps_left.items())
            return (runs + steps + self.steps_seconds) / parallel
        seconds = [r.seconds for r in self.runs if r.seconds is not None]
        if not seconds:
            return None
        return sum(seconds) / len(seconds) * len(left) / parallel


def _record_path(workdir: Path, output: str, kind: str = "incomplete") -> Path:
    """Where Snakemake records something about ``output`` (snakemake.persistence.file: urlsafe-base64 of the path,
    in .snakemake/<kind>, kind ``incomplete`` (job started, not seen finished) or ``metadata`` (the job's command,
    params, inputs when it finished))."""
    return workdir / ".snakemake" / kind / urlsafe_b64encode(output.encode()).decode()


def _incomplete_record(workdir: Path, output: str) -> dict[str, Any] | None:
    """Snakemake's record that ``output`` is being produced, or None."""
    path = _record_path(workdir, output)
    if len(path.name) > 254 or not path.exists():
        return None
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return {}


def release_finished_records(markers: Mapping[str, bool], workdir: Path = Path(".")) -> list[str]:
    """Drop Snakemake's records of markers that are complete; returns the outputs whose records were released.

    A marker is written last and atomically, and its folder is named by the run's key (every parameter that
    changes the result), so a valid marker proves the result is the one asked for, whatever Snakemake recorded:
    - its "incomplete" record: written when the job starts and cleared once Snakemake sees it finish; a kill in
      between leaves a finished run flagged, and `--rerun-incomplete` would train it again;
    - its "metadata" record: the job's shell command, params and inputs, which Snakemake compares to decide on
      reruns; a changed job command (a tcbench upgrade) or anything else that is not in the key would retrain a
      finished run that the key says is still valid.
    ``markers`` maps each marker path to whether its method tracks its runs (``Method.tracked``): a run marker is
    validated as such; an untracked pre-step's (SimCLR's pre-training) has a shape of its own and only needs to parse,
    as when planning checks it (tcbench.campaign.reuse.inspect_finished).
    Only done while no Snakemake process holds the directory (a live one owns its records).
    """
    root = workdir / ".snakemake"
    if not root.is_dir() or snakemake_running(workdir):
        return []
    recorded = {kind: {e.name for e in (root / kind).iterdir()} for kind in ("incomplete", "metadata")
                if (root / kind).is_dir()}  # one listing each, not a stat per run
    released = []
    for output, tracked in markers.items():
        records = [_record_path(workdir, output, kind) for kind in recorded]
        present = [r for r in records if r.name in recorded[r.parent.name]]
        if not present:
            continue
        try:
            read_marker(workdir / output, validate=tracked)
        except MarkerError:
            continue
        for record in present:
            record.unlink(missing_ok=True)
        released.append(output)
    return released


def snakemake_running(workdir: Path) -> bool:
    """A Snakemake process holds the working directory (its lock files exist while it runs)."""
    return lock_time(workdir) is not None


def lock_time(workdir: Path) -> float | None:
    """When the Snakemake process that holds the working directory took it (the mtime of its first lock file), or
    None when none holds it. A job's "incomplete" record older than that was left by an earlier process that was
    killed: that job is not running (the current process trains it again if it needs it)."""
    locks = workdir / ".snakemake" / "locks"
    if not locks.is_dir():
        return None
    times = [entry.stat().st_mtime for entry in locks.iterdir()]
    return min(times) if times else None


def _in_flight(workdir: Path, output: str, since: float | None) -> bool:
    """Whether the live Snakemake (holding ``workdir`` since ``since``) is making ``output``: its "incomplete"
    record is there and no older than that Snakemake's lock."""
    path = _record_path(workdir, output)
    return since is not None and len(path.name) <= 254 and path.exists() and path.stat().st_mtime >= since


def run_status(spec: RunSpec, results_dir: str, workdir: Path, since: float | None, tag_names: list[str]) -> RunStatus:
    """The state of one run. ``results_dir`` is the config's value: Snakemake keys its records by the output path
    built from it (relative to ``workdir``, the directory Snakemake runs in); ``since`` is when the live Snakemake
    took the directory (:func:`lock_time`), None when none holds it."""
    output = str(Path(results_dir) / "runs" / spec.run_key / "marker.json")  # as the Snakefile builds it
    marker_path = workdir / output
    log = workdir / Path(results_dir) / "logs" / "runs" / f"{spec.run_key}.log"
    common = {"run_key": spec.run_key, "campaign_exp_idx": spec.campaign_exp_idx,
              "tags": {name: spec.params.get(name) for name in tag_names}, "log": log}
    if marker_path.exists():
        try:
            marker = read_marker(marker_path)
        except MarkerError as exc:
            return RunStatus(state="failed", detail=str(exc), **common)
        problem = marker_problem(marker, spec.params, get_dataset(spec.params["dataset"]["name"]))
        if problem is not None:  # a marker without every declared context is not a result (planned again)
            return RunStatus(state="failed", detail=f"incomplete: {problem}", **common)
        return RunStatus(state="done", seconds=float(marker["durations"].get("total", 0.0)), **common)
    record = _incomplete_record(workdir, output)
    if record is not None and _in_flight(workdir, output, since):
        return RunStatus(state="running", external_jobid=record.get("external_jobid"), **common)
    if record is not None or log.exists():
        return RunStatus(state="failed", detail="interrupted" if record is not None else "", **common)
    return RunStatus(state="pending", **common)


def campaign_status(config: dict[str, Any], workdir: Path = Path("."), model: Any = None,
                    since: float | None = None) -> CampaignStatus:
    """The state of every run of ``config`` (validated, defaults filled) for a Snakemake run in ``workdir``; the
    cost model (tcbench.campaign.cost.load_model) and the lock time are read here unless given."""
    from tcbench.campaign.cost import load_model, marker_path, run_jobs, steps_to_make

    tag_names = [name for name, _ in grid_axes(config)]
    since = lock_time(workdir) if since is None else since
    specs = campaign_runs(config)
    device = config["resources"]["device"]
    model = model or load_model(workdir / config["results_dir"], device)
    left = run_jobs(((spec.run_key, spec.params) for spec in specs), model, device,
                    results=workdir / config["results_dir"])
    pre = [job for job in left if job.name.startswith("pre:")]
    steps_left = {job.key: job.seconds for job in pre}
    costs = {job.key: job.seconds for job in left if job.name.startswith("run:")}
    running = {job.key for job in pre
               if _in_flight(workdir, str(marker_path(Path(config["results_dir"]), job.key, job.params or {})), since)}
    steps = steps_to_make(workdir / config["results_dir"], config["campaign_id"], bool(left))
    return CampaignStatus([run_status(spec, config["results_dir"], workdir, since, tag_names) for spec in specs],
                          costs=costs,
                          cost_source=model.source, pre_steps_left=steps_left, pre_steps_running=running,
                          steps_seconds=model.campaign_steps_seconds(len(specs)) if steps else 0.0)


@dataclass
class PlanStatus:
    """A paper plan's state: each campaign's, and every distinct run of the plan once (a run that several campaigns
    select is one job), whose ETA is the plan's."""

    campaigns: dict[str, CampaignStatus]
    total: CampaignStatus
    #: The campaigns of each distinct run, by key.
    owners: dict[str, list[str]]

    @property
    def finished(self) -> bool:
        return self.total.finished


def plan_status(campaigns: list[dict[str, Any]], workdir: Path = Path(".")) -> PlanStatus:
    """The state of every campaign of a plan (prepared configs sharing results_dir and device, as a paper config's
    campaigns do), the cost model and the lock read once."""
    from tcbench.campaign.cost import load_model

    first = campaigns[0]
    model = load_model(workdir / first["results_dir"], first["resources"]["device"])
    since = lock_time(workdir)
    per = {c["campaign_id"]: campaign_status(c, workdir, model, since) for c in campaigns}
    runs: dict[str, RunStatus] = {}
    owners: dict[str, list[str]] = {}
    for cid, status in per.items():
        for run in status.runs:
            runs.setdefault(run.run_key, run)
            owners.setdefault(run.run_key, []).append(cid)
    costs = {key: cost for status in per.values() for key, cost in status.costs.items()}
    steps_left = {key: cost for status in per.values() for key, cost in status.pre_steps_left.items()}
    running = {key for status in per.values() for key in status.pre_steps_running}
    return PlanStatus(per, CampaignStatus(list(runs.values()), costs=costs, cost_source=model.source,
                                          pre_steps_left=steps_left, pre_steps_running=running,
                                          steps_seconds=sum(status.steps_seconds for status in per.values())), owners)
