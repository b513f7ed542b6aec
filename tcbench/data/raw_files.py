"""What a dataset's raw files are: where they are published, how big, their checksum and licence.

Only the types; the declarations themselves live with each dataset in ``tcbench.data.registry`` (one place), and
``tcbench datasets fetch`` / ``install`` / ``info`` and the workflow's fetch rule all read them from there. Light on
purpose: the registry imports this module, and nothing here touches the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: How a file is downloaded: plain HTTP(S); a Google Drive folder (through gdown); or not by a script at all (a
#: share that needs a browser): the user downloads it by hand, unless a mirror serves it.
Transport = Literal["http", "gdrive", "manual"]

ALGORITHMS = ("md5", "sha256")


@dataclass(frozen=True)
class Checksum:
    """A digest of a raw file and where its value comes from (the authors' publication, a reference page)."""

    algorithm: Literal["md5", "sha256"]
    value: str
    source: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.value}"


@dataclass(frozen=True)
class Licence:
    """A dataset's licence. ``acceptance_required``: fetching refuses to download until the user accepts it
    explicitly (``--accept-licence``, or ``dataset.download.accept_licence: true`` in a campaign)."""

    name: str
    url: str
    acceptance_required: bool = False
    note: str = ""


@dataclass(frozen=True)
class RawFile:
    """One file as its authors publish it.

    ``name`` is the file name as published, which is also its name in the raw folder (the importer recognises it by
    that name). ``urls`` are tried in order (the first is the authors'). ``size`` is the exact byte count when
    published (a downloaded file of another size is refused), else None; ``approx_size`` is what the authors' page
    says, for people (and for the plan's log). ``checksum`` is the authors' (None where they publish none: the
    download is then kept with its sha256 printed, and a mirror's manifest can supply one).
    """

    name: str
    urls: tuple[str, ...]
    size: int | None
    approx_size: str
    checksum: Checksum | None
    transport: Transport = "http"
    note: str = ""

    @property
    def url(self) -> str:
        return self.urls[0]
