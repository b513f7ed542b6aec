"""The run marker: `results/runs/<run_key>/marker.json`, the done-signal and the source of truth of a run.

Snakemake (and every summary) decides that a run is finished by the presence of this file, so it must never be
visible half-written: it is serialised in memory first, written to a temp file in the same directory (same file
system, so the rename is atomic), flushed and fsync'ed, and only then renamed to its final name. A crash at any
point leaves either no marker or the complete previous one, never a truncated file under the final name.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tcbench.atomic import atomic_write_text

MARKER_VERSION = 1
MARKER_NAME = "marker.json"

# key -> accepted types; bool is excluded from the numeric keys explicitly in _check_types.
REQUIRED_KEYS: dict[str, tuple[type, ...]] = {
    "marker_version": (int,),
    "run_key": (str,),
    "method": (str,),
    "experiment": (str,),
    "hparams": (dict,),
    "aim": (dict,),
    "metrics": (dict,),
    "creation_time": (int, float),
    "end_time": (int, float),
    "durations": (dict,),
    "versions": (dict,),
    "artifacts": (list,),
}
REQUIRED_AIM_KEYS = ("repo", "run_hash")


class MarkerError(ValueError):
    """A marker that cannot be written or read; the message names the file and what is wrong."""


def _non_finite_path(obj: Any, prefix: str = "") -> str | None:
    """Dotted path of the first NaN/inf in `obj`, so the error says *which* metric blew up, not just 'NaN'."""
    if isinstance(obj, bool):
        return None
    if isinstance(obj, Mapping):
        for key, value in obj.items():
            found = _non_finite_path(value, f"{prefix}.{key}" if prefix else str(key))
            if found is not None:
                return found
        return None
    if isinstance(obj, (list, tuple)):
        for i, value in enumerate(obj):
            found = _non_finite_path(value, f"{prefix}[{i}]")
            if found is not None:
                return found
        return None
    try:
        is_number = isinstance(obj, (int, float)) or hasattr(obj, "dtype")
        if is_number and not math.isfinite(float(obj)):
            return prefix or "<root>"
    except (TypeError, ValueError):
        pass
    return None


def _json_default(obj: Any) -> Any:
    """Accept numpy scalars (metrics often are); anything else is a bug in the caller, not something to stringify."""
    if hasattr(obj, "item") and hasattr(obj, "dtype") and getattr(obj, "ndim", None) == 0:
        return obj.item()
    raise TypeError(f"object of type {type(obj).__name__} is not JSON serializable")


def dumps_marker(data: Mapping[str, Any]) -> str:
    """Canonical marker text: sorted keys, indent 1, strict JSON (no NaN/Infinity, which many readers reject)."""
    bad = _non_finite_path(data)
    if bad is not None:
        raise MarkerError(f"marker value at {bad!r} is not finite (NaN/inf are not valid JSON)")
    return json.dumps(data, sort_keys=True, indent=1, allow_nan=False, default=_json_default) + "\n"


def write_marker(path: str | os.PathLike[str], data: Mapping[str, Any]) -> Path:
    """Write `data` atomically to `path` and return the path.

    The temp file is a hidden sibling (`.marker.json.<random>.tmp`), so globbing for the final name never sees
    it; it is removed if anything fails before the rename.
    """
    path = Path(path)
    try:
        text = dumps_marker(data)
    except (TypeError, ValueError) as exc:
        if isinstance(exc, MarkerError):
            raise MarkerError(f"{path}: {exc}") from None
        raise MarkerError(f"{path}: cannot serialise marker: {exc}") from exc

    return atomic_write_text(path, text, durable=True)


def validate_marker(data: Any, path: str | os.PathLike[str] = "<marker>") -> dict[str, Any]:
    """Check the marker_version and the required keys/types; raise MarkerError naming `path` otherwise."""
    if not isinstance(data, dict):
        raise MarkerError(f"{path}: marker must be a JSON object, got {type(data).__name__}")
    version = data.get("marker_version")
    if version != MARKER_VERSION:
        raise MarkerError(
            f"{path}: unsupported marker_version {version!r} (this tcbench reads version {MARKER_VERSION})"
        )
    missing = sorted(k for k in REQUIRED_KEYS if k not in data)
    if missing:
        raise MarkerError(f"{path}: missing required key(s) {', '.join(missing)}")
    for key, types in REQUIRED_KEYS.items():
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, types):
            names = " or ".join(t.__name__ for t in types)
            raise MarkerError(f"{path}: key {key!r} must be {names}, got {type(value).__name__}")
    missing_aim = [k for k in REQUIRED_AIM_KEYS if k not in data["aim"]]
    if missing_aim:
        raise MarkerError(f"{path}: missing required key(s) {', '.join('aim.' + k for k in missing_aim)}")
    return data


def read_marker(path: str | os.PathLike[str], validate: bool = True) -> dict[str, Any]:
    """Load and validate a marker; any problem (absent, partial, invalid, wrong version) is a MarkerError.

    ``validate=False`` only parses it: the marker of an untracked pre-step (SimCLR's pre-training) is written by
    its method in a shape of its own, not the run marker's."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MarkerError(f"{path}: marker file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise MarkerError(f"{path}: cannot read marker: {exc}") from exc
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise MarkerError(f"{path}: invalid or partial JSON ({exc.msg} at line {exc.lineno} col {exc.colno})") from exc
    except ValueError as exc:
        raise MarkerError(f"{path}: {exc}") from None
    if not validate:
        if not isinstance(data, dict):
            raise MarkerError(f"{path}: a marker is a JSON object, not {type(data).__name__}")
        return data
    return validate_marker(data, path)


def _reject_constant(name: str) -> Any:
    """Python's json accepts NaN/Infinity by default; a marker holding them was not written by write_marker."""
    raise ValueError(f"non-standard JSON constant {name} in marker")


def is_complete(path: str | os.PathLike[str]) -> bool:
    """True when `path` holds a valid marker, i.e. the run finished and its results can be trusted."""
    try:
        read_marker(path)
    except MarkerError:
        return False
    return True
