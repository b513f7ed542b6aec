"""Read an AIM repo into marker-like dicts, so the long table / summaries run on AIM repos too (``tcbench aimrepo``).

Works on a campaign repo built by ``tcbench campaign merge`` and on a repo written by the original tcbench: both
store the run configuration under ``run["hparams"]`` (campaign labels ``campaign_id`` / ``campaign_exp_idx``
included after a merge) and track metrics with ``context={"subset": <split>}``. Each run also gets its AIM
``experiment`` and ``tags`` (AIM's own run tags, e.g. ``campaign:quickstart``, ``aug:noaug``), which live in the
repo's SQLite run table, so ``tcbench aimrepo --tag`` can select runs the way the AIM UI does.

Runs are listed by hash from the chunk folders (closed runs copied into a repo are invisible to
``Repo.iter_runs()`` until re-indexed) and opened read-only one by one from their own chunk, so the repo index is
neither needed nor modified. The last value of a sequence is the one
at the highest step: ``Sequence.values`` is ordered by step *hash*, so ``data.numpy()`` (sorted by step) is used.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from tcbench.reporting.runs_table import CAMPAIGN_LABELS
from tcbench.tracking.aim_repo import is_repo, list_run_hashes, open_repo

RunT = TypeVar("RunT", bound=Mapping[str, Any])

#: Metric names starting with this prefix are AIM system metrics, never reported, as in the original
#: (docs/original-behaviour.md, Metrics and contexts).
SYSTEM_PREFIX = "__system"


class AimRepoError(RuntimeError):
    """The path is not a readable AIM repo."""


def _last_value(sequence: Any) -> float | None:
    """Value at the highest step of a metric sequence (None when empty or not numeric)."""
    try:
        steps, columns = sequence.data.numpy()  # (steps, [values, epochs, timestamps])
        values = columns[0]
    except Exception:  # pragma: no cover - defensive: older/newer aim layouts
        try:
            items = sorted(zip(sequence.data.indices_list(), sequence.data.values_list()))
        except Exception:
            return None
        return None if not items else _number(items[-1][1])
    if len(values) == 0:
        return None
    if len(steps) == len(values) and len(steps) > 1:
        order = steps.argsort(kind="stable")
        values = values[order]
    return _number(values[-1])


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out


def _plain_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): v for k, v in value.items()}
    return {}


def _order_hparams(hparams: Mapping[str, Any]) -> dict[str, Any]:
    """Campaign labels last, as ``runs_long_table`` places them for markers (same column / group-by order)."""
    out = {k: v for k, v in hparams.items() if k not in CAMPAIGN_LABELS}
    out.update({k: hparams[k] for k in CAMPAIGN_LABELS if k in hparams})
    return out


def _read_run(repo: Any, run_hash: str) -> dict[str, Any]:
    from aim import Run

    run = Run(run_hash=run_hash, repo=repo, read_only=True)
    try:
        hparams = _order_hparams(_plain_dict(run.get("hparams")))
        metrics: dict[str, dict[str, float | None]] = {}
        for seq in run.metrics():
            name = seq.name
            if name.startswith(SYSTEM_PREFIX):
                continue
            ctx = seq.context.to_dict() if seq.context is not None else {}
            subset = ctx.get("subset")
            if subset is None:
                continue
            metrics.setdefault(str(subset), {})[name] = _last_value(seq)
        for ctx_metrics in metrics.values():
            # same key order whatever order aim yields sequences in
            items = sorted(ctx_metrics.items())
            ctx_metrics.clear()
            ctx_metrics.update(items)
        run_key = run.get("run_key")
        end_time = run.end_time
        experiment = run.experiment  # aim gives a falsy SafeNone, not None, for a run without experiment
        return {
            "hash": run_hash,
            "aim": {"run_hash": run_hash},
            "run_key": run_key,
            "experiment": experiment if isinstance(experiment, str) else None,
            # sorted: aim lists a run's tags in tag-table order, i.e. in whichever order the repo first saw them
            "tags": sorted(str(t) for t in run.tags),
            "creation_time": run.creation_time,
            "end_time": math.nan if end_time is None else end_time,
            "hparams": hparams,
            "metrics": dict(sorted(metrics.items())),
        }
    finally:
        close = getattr(run, "close", None)
        if callable(close):
            try:
                close()
            except Exception:  # pragma: no cover - read-only runs have nothing to flush
                pass


def _use_union_meta(repo: Any) -> Any:
    """Make read-only Runs read metadata from the union of all run chunks instead of the repo index.

    A read-only ``Run`` reads its metadata from ``.aim/meta/index``, which lacks runs that were never indexed
    (closed in another repo and copied in, or tracked without ``aim up``): they would look empty. AIM itself falls
    back to a union over every chunk when no index exists; installing that container first gives every run,
    indexed or not, without writing the repo (aim 3.29 ``Repo.request_container`` layout).
    """
    from aim.sdk.repo import ContainerConfig
    from aim.storage.union import RocksUnionContainer

    config = ContainerConfig("meta", None, True)
    container = RocksUnionContainer(os.path.join(repo.path, "meta"), read_only=True)
    repo.container_pool[config] = container  # a weak pool: the caller keeps the returned reference alive
    return container


def aim_runs_table(repo_path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Marker-like dicts (hash, run_key, experiment, tags, hparams, metrics, creation_time, end_time), one per run.

    ``metrics`` maps each context (``subset``) to ``{metric: last value}``, the layout of a run marker, so the
    result feeds :func:`tcbench.reporting.runs_table.runs_long_table` directly. Runs are in creation order
    (hash order on ties). An empty repo gives ``[]``; a path that is not a repo raises :class:`AimRepoError`.
    """
    from aim.sdk.repo import ContainerConfig

    root = Path(repo_path).absolute()
    if not is_repo(root):
        raise AimRepoError(f"{repo_path} is not an AIM repo (no .aim/VERSION); create one with `aim init`")
    hashes = list_run_hashes(root)
    if not hashes:
        return []
    with open_repo(root) as repo:
        union = _use_union_meta(repo)
        try:
            runs = [_read_run(repo, h) for h in hashes]
        finally:
            repo.container_pool.pop(ContainerConfig("meta", None, True), None)
            union.close()
    runs.sort(key=lambda r: (_sort_time(r["creation_time"]), r["hash"]))
    return runs


def _sort_time(value: Any) -> float:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return math.inf
    return math.inf if math.isnan(out) else out


def campaign_ids(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Distinct ``campaign_id`` of the runs that have one, sorted."""
    ids = {str(r["hparams"]["campaign_id"]) for r in runs if (r.get("hparams") or {}).get("campaign_id") is not None}
    return sorted(ids)


class UnknownTagError(ValueError):
    """``--tag`` names a tag that no run of the repo has; the message lists the tags that are there."""

    def __init__(self, unknown: Sequence[str], present: Sequence[str]) -> None:
        self.unknown = list(unknown)
        self.present = list(present)
        shown = ", ".join(self.present) if self.present else "none"
        super().__init__(f"unknown tag(s) {', '.join(map(repr, self.unknown))}; tags in this repo: {shown}")


def repo_tags(runs: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every tag any of the runs has, sorted."""
    return sorted({str(t) for r in runs for t in (r.get("tags") or ())})


def select_by_tags(runs: Sequence[RunT], tags: Sequence[str]) -> list[RunT]:
    """The runs having every one of ``tags`` (AND, as successive tag filters in the AIM UI); all runs if none given.

    A tag no run has raises :class:`UnknownTagError`: it is almost always a typo (``aug:noaugs``), and an empty
    selection would hide that.
    """
    wanted = list(dict.fromkeys(tags))
    if not wanted:
        return list(runs)
    present = repo_tags(runs)
    unknown = [t for t in wanted if t not in present]
    if unknown:
        raise UnknownTagError(unknown, present)
    return [r for r in runs if set(wanted) <= set(r.get("tags") or ())]



#: The per-epoch metrics drawn as learning curves.
CURVE_METRICS = ("loss", "acc", "acc_top_5")


def learning_curves(repo_path: str | os.PathLike[str], metrics: Sequence[str] = CURVE_METRICS) -> Any:
    """Every per-epoch sequence of ``metrics`` (those tracked more than once in a context) of every run, as a long
    ``pandas.DataFrame``: run_key, the run's hparams, metric, context, epoch, value."""
    import pandas as pd
    from aim import Run
    from aim.sdk.repo import ContainerConfig

    root = Path(repo_path).absolute()
    if not is_repo(root):
        raise AimRepoError(f"{repo_path} is not an AIM repo (no .aim/VERSION)")
    rows: list[dict[str, Any]] = []
    with open_repo(root) as repo:
        union = _use_union_meta(repo)
        try:
            for run_hash in list_run_hashes(root):
                run = Run(run_hash=run_hash, repo=repo, read_only=True)
                hparams = _plain_dict(run.get("hparams"))
                for seq in run.metrics():
                    context = (seq.context.to_dict() if seq.context is not None else {}).get("subset")
                    if seq.name not in metrics or context is None:
                        continue
                    steps, (values, epochs, _) = seq.data.numpy()
                    if len(values) < 2:
                        continue
                    for epoch, value in zip(epochs, values):
                        rows.append({**hparams, "run_key": run.get("run_key"), "metric": seq.name, "context": str(context),
                                     "epoch": int(epoch), "value": float(value)})
        finally:
            repo.container_pool.pop(ContainerConfig("meta", None, True), None)
            union.close()
    return pd.DataFrame(rows)
