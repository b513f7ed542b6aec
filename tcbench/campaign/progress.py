"""Campaign progress with an ETA while `tcbench campaign ...` runs Snakemake.

Snakemake reports "N of M steps (P%) done" after each finished job but no time estimate; a campaign of hundreds of
runs needs one. The wrapper streams Snakemake's output unchanged and keeps a progress line under it (a live bar on a
terminal, a plain line after each step otherwise, e.g. in a SLURM log). The estimate comes from the cost model
(tcbench.campaign.cost) when the wrapper knows each run's projected seconds: the projected seconds of the runs not
finished yet, spread over the cores, times how fast this invocation's finished runs went against their projection
(a campaign of dim-1500 runs after its dim-32 runs is not "nearly done"). Without it, the mean time per finished
step times the steps left. A resumed campaign counts only what is left to do.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field

from rich.console import Console

STEP_LINE = re.compile(r"(\d+) of (\d+) steps \(")
JOBID_LINE = re.compile(r"^\s*jobid: (\d+)")
KEY_LINE = re.compile(r"^\s*wildcards: (?:run_key|pretrain_key)=([0-9a-f]{16})")
FINISHED_LINE = re.compile(r"Finished job(?:id)?:? (\d+)")


def format_seconds(seconds: float) -> str:
    """1h02m03s / 4m05s / 6s: short enough for a progress line."""
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m{secs:02d}s"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


@dataclass
class StepProgress:
    """Steps done out of the steps this Snakemake invocation has to run, read from its output lines."""

    started: float = field(default_factory=time.monotonic)
    done: int = 0
    total: int | None = None
    #: Projected seconds of each run and pre-step to train, by key (the cost model), and the cores they share.
    costs: dict[str, float] = field(default_factory=dict)
    cores: int = 1
    _job: str | None = None
    _keys: dict[str, str] = field(default_factory=dict)  # Snakemake job id -> run key
    _finished: set[str] = field(default_factory=set)

    def update(self, line: str, now: float | None = None) -> bool:
        """Take one output line; True when it was a step count."""
        if self.costs:
            self._follow(line)
        match = STEP_LINE.search(line)
        if match is None:
            return False
        self.done, self.total = int(match.group(1)), int(match.group(2))
        return True

    def _follow(self, line: str) -> None:
        """Which run each Snakemake job is (its jobid and run_key lines) and which jobs finished."""
        if (m := JOBID_LINE.match(line)) is not None:
            self._job = m.group(1)
        elif (m := KEY_LINE.match(line)) is not None and self._job is not None:
            self._keys[self._job] = m.group(1)
        elif (m := FINISHED_LINE.search(line)) is not None and m.group(1) in self._keys:
            self._finished.add(self._keys[m.group(1)])

    def eta_seconds(self, now: float) -> float | None:
        if self.costs:
            left = sum(s for k, s in self.costs.items() if k not in self._finished)
            finished = sum(self.costs[k] for k in self._finished if k in self.costs)
            if not left:
                return None
            # how fast this machine goes against the projection, once some work is done
            speed = (now - self.started) * self.cores / finished if finished else 1.0
            return left / self.cores * min(max(speed, 0.2), 5.0)
        if not self.done or self.total is None or self.done >= self.total:
            return None
        return (now - self.started) / self.done * (self.total - self.done)

    def describe(self, now: float) -> str:
        elapsed = format_seconds(now - self.started)
        if self.total is None:
            return f"planning, {elapsed} elapsed"
        eta = self.eta_seconds(now)
        left = f", ETA {format_seconds(eta)}" if eta is not None else ""
        return f"{self.done} of {self.total} steps, {elapsed} elapsed{left}"


def run_with_progress(cmd: list[str], label: str, console: Console, costs: dict[str, float] | None = None,
                      cores: int = 1) -> int:
    """Run ``cmd`` (a Snakemake command line), echo its output and show the campaign's progress (ETA from ``costs``,
    the projected seconds of the runs to train, on ``cores``); its exit code.

    Ctrl-C reaches Snakemake too (same process group): it stops its jobs and exits, and its own exit code is returned.
    """
    from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
    from rich.text import Text

    progress = StepProgress(costs=dict(costs or {}), cores=max(1, cores))

    class StepsColumn(ProgressColumn):
        """Steps, elapsed time and ETA, recomputed at each refresh (so the clock runs between steps)."""

        def render(self, task: object) -> Text:
            return Text(progress.describe(time.monotonic()))

    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    assert proc.stdout is not None
    live = console.is_terminal
    bar = Progress(TextColumn(f"[bold]{label}"), BarColumn(), StepsColumn(), console=console, disable=not live)
    task = bar.add_task(label, total=None)
    with bar:
        while True:
            try:
                line = proc.stdout.readline()
            except KeyboardInterrupt:
                continue
            if not line:
                break
            console.out(line.rstrip("\n"), highlight=False)
            if progress.update(line):
                if live:
                    bar.update(task, completed=progress.done, total=progress.total)
                else:
                    console.out(f"[{label}] {progress.describe(time.monotonic())}", highlight=False)
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            continue
