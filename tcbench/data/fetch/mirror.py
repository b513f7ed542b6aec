"""Where each raw file is fetched from, and which checksums it must match.

Without a mirror: the URLs the dataset registry declares, verified against the authors' checksum. With a mirror
(``--mirror``, ``dataset.download.mirror`` or ``$TCBENCH_MIRROR``): only ``<mirror>/<dataset>/<file name>`` (a lab's
server, or a test's on 127.0.0.1; the authors' servers are never contacted then). A mirror may publish a manifest,
``<mirror>/tcbench-mirror.json``::

    {"files": {"mirage19/MIRAGE-2019_traffic_dataset_downloadable_v2.tar.gz": {"size": 1234, "sha256": "..."}},
     "licences": {"mirage19": {"acceptance_required": true, "terms": "https://lab.example/terms"}}}

Its sizes and checksums are checked *in addition to* the authors' (so a lab serving the authors' archives needs no
manifest, and one that lists them only adds checks), and supply one where the authors publish none. They *replace*
the authors' only when the user says the mirror serves archives of its own (``mirror_checksums: mirror``); a file
the manifest does not list is then refused. A manifest can require licence acceptance, never waive it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import requests

from tcbench.data.fetch.errors import FetchError
from tcbench.data.fetch.settings import FetchSettings
from tcbench.data.raw_files import ALGORITHMS, Checksum, Licence, RawFile

MANIFEST = "tcbench-mirror.json"


@dataclass(frozen=True)
class Source:
    """One raw file as this fetch gets it: the URLs to try, the size and checksums it must match."""

    file: RawFile
    urls: tuple[str, ...]
    transport: str
    size: int | None
    checksums: tuple[Checksum, ...]
    from_mirror: bool


@dataclass(frozen=True)
class MirrorManifest:
    files: dict[str, dict[str, Any]]
    licences: dict[str, dict[str, Any]]


def load_manifest(settings: FetchSettings) -> MirrorManifest | None:
    """The mirror's manifest; None without a mirror or when the mirror publishes none (404)."""
    base = settings.mirror_url
    if base is None:
        return None
    url = f"{base}/{MANIFEST}"
    try:
        response = requests.get(url, timeout=settings.timeout_s)
    except requests.RequestException as exc:
        raise FetchError(f"cannot reach the mirror {base} ({url}: {type(exc).__name__}); check the mirror address "
                         f"(--mirror, dataset.download.mirror or ${'TCBENCH_MIRROR'})") from None
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise FetchError(f"{url}: HTTP {response.status_code} {response.reason}; check the mirror or retry later")
    try:
        data = json.loads(response.content)
        return MirrorManifest(dict(data.get("files", {})), dict(data.get("licences", {})))
    except (ValueError, AttributeError) as exc:
        raise FetchError(f"{url}: not a mirror manifest ({exc}); expected {{\"files\": {{\"<dataset>/<file>\": "
                         "{\"size\": ..., \"sha256\": ...}}}}") from None


def _manifest_checksums(entry: dict[str, Any], where: str) -> tuple[Checksum, ...]:
    return tuple(Checksum(a, str(entry[a]).lower(), f"the mirror's manifest {where}") for a in ALGORITHMS if entry.get(a))


def resolve(dataset: str, file: RawFile, settings: FetchSettings, manifest: MirrorManifest | None) -> Source:
    """Where ``file`` of ``dataset`` comes from in this fetch and what it must match (see the module docstring)."""
    base = settings.mirror_url
    if base is None:
        return Source(file, file.urls, file.transport, file.size, (file.checksum,) if file.checksum else (), False)
    key = f"{dataset}/{file.name}"
    entry = (manifest.files.get(key) if manifest else None) or {}
    where = f"{base}/{MANIFEST}"
    listed = _manifest_checksums(entry, where)
    if settings.mirror_checksums == "mirror":
        if not listed:
            raise FetchError(f"{key}: mirror_checksums is 'mirror' but {where} lists no sha256/md5 for it; add it "
                             "to the manifest, or use mirror_checksums: published (the authors' checksums)")
        checksums = listed
        size = entry.get("size")
    else:
        checksums = ((file.checksum,) if file.checksum else ()) + listed
        size = file.size if file.size is not None else entry.get("size")
    return Source(file, (f"{base}/{dataset}/{file.name}",), "http", size, checksums, True)


def licence_terms(dataset: str, licence: Licence | None, manifest: MirrorManifest | None) -> tuple[bool, str]:
    """(whether acceptance is required, the terms to name): the declaration's, or the mirror's when it adds one."""
    required = bool(licence and licence.acceptance_required)
    terms = f"{licence.name} ({licence.url})" if licence else "its licence"
    extra = (manifest.licences.get(dataset) if manifest else None) or {}
    if extra.get("acceptance_required"):
        required = True
        terms = f"{terms} and the mirror's terms ({extra.get('terms', 'see the mirror')})"
    return required, terms
