"""How a fetch behaves: where from (a mirror), how long to wait, how often to retry, whether the licence is accepted.

Set by command-line options, by a campaign's ``dataset.download`` keys, or by the environment (``TCBENCH_MIRROR``,
``TCBENCH_MIRROR_CHECKSUMS``): a lab points every user and job at its own server with one variable, and a test
points fetches at a server on 127.0.0.1 the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

MIRROR_ENV = "TCBENCH_MIRROR"
MIRROR_CHECKSUMS_ENV = "TCBENCH_MIRROR_CHECKSUMS"
#: ``published``: a file must match the authors' checksum (and the mirror manifest's, when it lists one).
#: ``mirror``: the mirror's manifest replaces the authors' checksums (a mirror serving archives of its own: a
#: repackaged subset, a test server); only ever a decision of the user, never of the mirror.
MIRROR_CHECKSUM_POLICIES = ("published", "mirror")
MirrorChecksums = Literal["published", "mirror"]

DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRIES = 3


@dataclass(frozen=True)
class FetchSettings:
    """``timeout_s`` bounds each wait (connecting, and each read of the body): a server that stalls, or a compute
    node without network, fails within it. ``retries``: further attempts after a transient error (a 5xx answer, a
    connection cut or stalled mid-file), each resuming the partial file, after ``backoff_s`` x 2^n seconds."""

    mirror: str | None = None
    mirror_checksums: MirrorChecksums = "published"
    accept_licence: bool = False
    timeout_s: float = DEFAULT_TIMEOUT_S
    retries: int = DEFAULT_RETRIES
    backoff_s: float = 1.0

    def __post_init__(self) -> None:
        if self.mirror_checksums not in MIRROR_CHECKSUM_POLICIES:
            raise ValueError(f"mirror checksums: {self.mirror_checksums!r} is unknown; valid values: "
                             f"{list(MIRROR_CHECKSUM_POLICIES)}")
        if self.timeout_s <= 0 or self.retries < 0:
            raise ValueError(f"timeout {self.timeout_s} s, retries {self.retries}: valid values: timeout > 0, retries >= 0")

    @property
    def mirror_url(self) -> str | None:
        return self.mirror.rstrip("/") if self.mirror else None


def mirror_from_env(value: str | None = None) -> str | None:
    """The mirror given, else ``$TCBENCH_MIRROR`` (empty = none)."""
    return value or os.environ.get(MIRROR_ENV) or None


def settings_from_config(config: Mapping[str, Any]) -> FetchSettings:
    """A campaign's ``dataset.download`` keys, each falling back to the environment, then the defaults."""
    download = config.get("dataset", {}).get("download", {}) or {}
    return FetchSettings(
        mirror=mirror_from_env(download.get("mirror")),
        mirror_checksums=download.get("mirror_checksums") or os.environ.get(MIRROR_CHECKSUMS_ENV) or "published",
        accept_licence=bool(download.get("accept_licence", False)),
        timeout_s=float(download.get("timeout_s", DEFAULT_TIMEOUT_S)),
        retries=int(download.get("retries", DEFAULT_RETRIES)),
    )
