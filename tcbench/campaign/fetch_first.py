"""What the workflow needs when a campaign's imported dataset is missing and ``dataset.fetch: true``: the fetch
command's options from the config, the plan's announcement (what is downloaded, how big, from where), and the
command that runs the campaign once the data exists.

Why a second Snakemake: a run's key holds the sha256 of the imported parquet, so no training job can be named
before the data is imported. The first invocation fetches and imports (local rules, logged); its last job starts
the very same snakemake command line again, which then plans and runs the campaign on the imported data.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from tcbench.data.fetch.plan import human_size, raw_paths
from tcbench.data.fetch.settings import settings_from_config
from tcbench.data.registry import get_dataset


def fetch_options(config: Mapping[str, Any]) -> str:
    """The ``tcbench datasets fetch`` options for the keys a config sets (the rest come from the environment, as
    for a fetch typed by hand: ``$TCBENCH_MIRROR``, ``$TCBENCH_MIRROR_CHECKSUMS``)."""
    download = config["dataset"].get("download", {}) or {}
    options = []
    for key, flag in (("mirror", "--mirror"), ("mirror_checksums", "--mirror-checksums"), ("timeout_s", "--timeout"),
                      ("retries", "--retries")):
        if download.get(key) is not None:
            options += [flag, shlex.quote(str(download[key]))]
    if download.get("accept_licence"):
        options.append("--accept-licence")
    return " ".join(options)


def announcement(config: Mapping[str, Any], root: Path) -> str:
    """One line for the plan: which files are fetched, how big, from where, and what follows."""
    name = config["dataset"]["name"]
    settings = settings_from_config(config)
    files = []
    for raw, path in zip(get_dataset(name).raw_files, raw_paths(name, root / "raw")):
        if path.exists():
            files.append(f"{raw.name} (there, verified before use)")
            continue
        source = f"{settings.mirror_url}/{name}/{raw.name}" if settings.mirror_url else raw.url
        size = human_size(raw.size) if raw.size is not None else raw.approx_size
        files.append(f"{raw.name} ({size}) from {source}")
    return (f"dataset.fetch: {name} is not in {root}: downloading {'; '.join(files)} into {root / 'raw'}, importing it, "
            "then planning the campaign's runs on it (their keys hold the data's sha256)")


def rerun_command(argv: Sequence[str] | None = None, start: Path | None = None) -> str:
    """The snakemake command line of this process, run again from the folder it started in, without the lock (the
    invocation that runs it holds it). Refused (ValueError) when Snakemake was not started from its command line."""
    argv = list(sys.argv if argv is None else argv)
    entry = Path(argv[0]) if argv else Path()
    if not (entry.name == "snakemake" or entry.parts[-2:] == ("snakemake", "__main__.py")):
        raise ValueError(f"dataset.fetch: true needs Snakemake started from its command line (this process is {entry}); "
                         "install the dataset first with `tcbench datasets install <name>`")
    args = [a for a in argv[1:] if a not in ("--nolock",)]
    command = [sys.executable, "-m", "snakemake", *args, "--nolock"]
    return f"cd {shlex.quote(str(start or Path.cwd()))} && " + " ".join(shlex.quote(a) for a in command)
