"""Downloading the public datasets' raw files: ``fetch_dataset`` (what ``tcbench datasets fetch`` and the workflow's
fetch rule run), its settings, and the one-line error it raises.

One module per job: ``settings`` (timeouts, retries, mirror, licence acceptance; from options, config and the
environment), ``mirror`` (where a file is fetched from and which checksums it must match), ``http`` (a resumable,
retried, time-bounded HTTP download into a ``.part`` file), ``gdrive`` (Google Drive through gdown), ``verify``
(streamed checksums; a file that fails is set aside, never left under its final name), ``plan`` (what is missing,
the licence, the order of the steps).
"""

from tcbench.data.fetch.errors import FetchError
from tcbench.data.fetch.plan import FetchReport, fetch_dataset, raw_paths
from tcbench.data.fetch.settings import FetchSettings

__all__ = ["FetchError", "FetchReport", "FetchSettings", "fetch_dataset", "raw_paths"]
