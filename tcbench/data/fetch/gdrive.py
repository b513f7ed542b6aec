"""Files of a shared Google Drive folder, through gdown (a maintained library for Drive's confirmation pages and
quotas), never hand-written scraping. Resume, retries and timeouts are gdown's, with this fetch's settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tcbench.data.fetch.errors import FetchError
from tcbench.data.fetch.http import Unreachable
from tcbench.data.fetch.settings import FetchSettings


def download(folder_url: str, name: str, target: Path, settings: FetchSettings,
             progress: Callable[[int, int | None], None] | None = None) -> None:
    """Download the file called ``name`` of the Drive folder ``folder_url`` to ``target`` (gdown keeps the partial
    file beside it and resumes it on the next call)."""
    import gdown
    import requests

    try:
        listing = gdown.download_folder(url=folder_url, skip_download=True, quiet=True, timeout=settings.timeout_s,
                                        retries=settings.retries)
    except requests.exceptions.ConnectionError as exc:
        raise Unreachable(f"cannot reach {folder_url} ({type(exc).__name__}, timeout {settings.timeout_s:g} s)") from None
    except Exception as exc:  # gdown's own errors (quota, changed page) and network errors: one line, not a traceback
        raise FetchError(f"{folder_url}: cannot list the Google Drive folder ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    matches = [f for f in listing or [] if Path(f.path).name == name]
    if not matches:
        found = sorted(Path(f.path).name for f in listing or [])
        raise FetchError(f"{folder_url}: no file {name!r} in the Google Drive folder (it holds {found})")
    try:
        gdown.download(id=matches[0].id, output=str(target), quiet=True, resume=True, timeout=settings.timeout_s,
                       retries=settings.retries, progress=progress)
    except Exception as exc:
        raise FetchError(f"{folder_url}: downloading {name} through gdown failed ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
