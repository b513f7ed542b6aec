"""Campaign progress with an ETA while `tcbench campaign ...` runs Snakemake.

Snakemake reports "N of M steps (P%) done" after each finished job but no time estimate; a campaign of hundreds of
runs needs one. The wrapper streams Snakemake's output unchanged and keeps a progress line under it (a live bar on a
terminal, a plain line after each step otherwise, e.g. in a SLURM log). The estimate is the mean time per finished
step of this invocation times the steps left: a resumed campaign counts only what is left to do.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field

from rich.console import Console

STEP_LINE = re.compile(r"(\d+) of (\d+) steps \(")


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

    def update(self, line: str) -> bool:
        """Take one output line; True when it was a step count."""
        match = STEP_LINE.search(line)
        if match is None:
            return False
        self.done, self.total = int(match.group(1)), int(match.group(2))
        return True

    def eta_seconds(self, now: float) -> float | None:
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


def run_with_progress(cmd: list[str], label: str, console: Console) -> int:
    """Run ``cmd`` (a Snakemake command line), echo its output and show the campaign's progress; its exit code.

    Ctrl-C reaches Snakemake too (same process group): it stops its jobs and exits, and its own exit code is returned.
    """
    from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn
    from rich.text import Text

    progress = StepProgress()

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
