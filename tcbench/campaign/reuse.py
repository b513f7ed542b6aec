"""Which finished runs of a campaign may be reused, checked at planning before Snakemake decides what to run.

Snakemake reuses every output that exists. A marker file is a run's output, so two kinds of finished runs need a
look first:

- **incomplete runs**: the marker lacks a test context or metric that the run's method declares (made before
  tcbench refused to write such markers, or by a method that was fixed since). They are not done: the workflow
  plans them again (Snakemake's ``--forcerun`` on their markers) and says why.
- **runs made by other code**: their recorded code or libraries differ from today's
  (:class:`tcbench.runs.provenance.CodeNow`). Plugins without a declared version never land here, since their
  code hash is part of the run key. What does land here: tcbench's own code changed without a results-version
  bump or acknowledgement, a plugin that kept its declared version, another torch or numpy. They are reused, but
  never silently: planning names each run and each reason, and the config key ``rerun_other_code: true`` plans them
  again.

Markers written before tcbench recorded provenance are counted and reused, with one line that says so.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tcbench.data.registry import DatasetDef
from tcbench.methods.registry import get_method
from tcbench.runs.provenance import CodeNow
from tcbench.tracking.marker import MarkerError, read_marker

#: How many run keys a planning message lists per reason before it says "and N more".
SHOWN_KEYS = 6


def marker_problem(marker: Mapping[str, Any], params: Mapping[str, Any], dataset: DatasetDef) -> str | None:
    """Why a valid marker is not a complete result of its method (a missing context or metric), or None."""
    method = get_method(params["method"])
    if not method.tracked:
        return None
    missing = method.missing_results(marker.get("metrics", {}), dataset, params)
    if missing:
        return f"its marker has no {', '.join(missing)} (method {method.name} declares them)"
    return None


@dataclass
class FinishedRuns:
    """What planning found among a campaign's finished runs."""

    incomplete: dict[str, str] = field(default_factory=dict)  # marker path -> why it is not done
    other_code: dict[str, list[str]] = field(default_factory=dict)  # marker path -> reasons
    unrecorded: list[str] = field(default_factory=list)  # marker paths of runs made before provenance was recorded

    def retrained(self, rerun_other_code: bool) -> dict[str, str]:
        """The markers to make again, each with the suffix of the name it is kept under meanwhile."""
        out = dict.fromkeys(self.incomplete, "incomplete")
        if rerun_other_code:
            out.update(dict.fromkeys(self.other_code, "other-code"))
        return out

    def set_aside(self, rerun_other_code: bool, campaign_manifest: Path) -> list[Path]:
        """Rename the markers of the runs to train again (``marker.<why>-<UTC time>.json``, beside the run's other
        files), so Snakemake sees them missing; nothing is deleted. Returns the new names.

        Snakemake regenerates a missing file only for a job that needs to run, and the campaign's merged outputs
        are up to date: the campaign manifest, the first input of each of them, is touched so they are made
        again, from the retrained runs."""
        import datetime
        import os

        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        moved = []
        for path, why in self.retrained(rerun_other_code).items():
            target = Path(path).with_name(f"marker.{why}-{stamp}.json")
            Path(path).rename(target)
            moved.append(target)
        if moved and campaign_manifest.exists():
            os.utime(campaign_manifest)
        return moved

    def messages(self, rerun_other_code: bool, rerun_hint: str, dry_run: bool = False) -> list[str]:
        """What planning prints: incomplete runs trained again, runs of other code grouped by reason."""
        lines = []
        again = "to be trained again when the campaign runs (the dry run plans them as done)" if dry_run else \
            "trained again (each marker kept aside as marker.<why>-<time>.json)"
        if self.incomplete:
            lines.append(f"{len(self.incomplete)} finished run(s) lack results their method declares, {again}:")
            lines += [f"  run {_key(path)}: {why}" for path, why in sorted(self.incomplete.items())]
        if self.other_code:
            action = again if rerun_other_code else "reused as they are"
            lines.append(f"warning: {len(self.other_code)} finished run(s) were made by other code, {action}:")
            by_reason: dict[str, list[str]] = defaultdict(list)
            for path, reasons in self.other_code.items():
                for reason in reasons:
                    by_reason[reason].append(_key(path))
            for reason, keys in sorted(by_reason.items()):
                shown = ", ".join(sorted(keys)[:SHOWN_KEYS]) + (f" and {len(keys) - SHOWN_KEYS} more" if len(keys) > SHOWN_KEYS else "")
                lines.append(f"  {reason}: {len(keys)} run(s): {shown}")
            if not rerun_other_code:
                lines.append(f"  to retrain them: {rerun_hint}")
        if self.unrecorded:
            lines.append(f"note: {len(self.unrecorded)} finished run(s) predate code provenance in markers; reused as "
                         "made by this results version's code")
        return lines


def _key(marker_path: str) -> str:
    return Path(marker_path).parent.name


def inspect_finished(runs: Iterable[tuple[str, Mapping[str, Any]]], dataset: DatasetDef,
                     now: CodeNow | None = None) -> FinishedRuns:
    """Check the finished runs among ``runs`` (marker path, the run's parameters); absent markers are skipped."""
    found = FinishedRuns()
    for path, params in runs:
        if not Path(path).exists():
            continue
        try:
            marker = read_marker(path, validate=get_method(params["method"]).tracked)
        except MarkerError as exc:  # the reader's message names the file and what is wrong
            found.incomplete[path] = f"its marker is not valid: {exc}"
            continue
        problem = marker_problem(marker, params, dataset)
        if problem is not None:
            found.incomplete[path] = problem
            continue
        recorded = marker.get("provenance")
        if recorded is None:
            found.unrecorded.append(path)
            continue
        now = now or CodeNow.current()
        reasons = now.changes(recorded, params)
        if reasons:
            found.other_code[path] = reasons
    return found
