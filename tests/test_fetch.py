"""`tcbench datasets fetch / install` and the workflow's fetch rules against a real HTTP server on 127.0.0.1
(tests/mirror_server.py) serving a MIRAGE-2019 archive built from the real samples in ../shared/realdata, in the
published layout. Every request goes to the loopback address (the offline cases point the proxy there), and the
server refuses more than a bounded number of requests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import require_realdata
from mirror_server import MIRAGE19_ARCHIVE, Fault, MirrorServer, manifest_for, mirage19_archive, sha256
from test_workflow import ROOT

PATH = f"mirage19/{MIRAGE19_ARCHIVE}"
URL_PATH = f"/{PATH}"
# Enough unmodified copies of the real samples for two classes to pass the curation's more-than-100-flows rule.
COPIES = {"air.com.hypah.io.slither": 18, "com.waze": 35}


@pytest.fixture(scope="module")
def archive() -> bytes:
    return mirage19_archive(require_realdata("mirage19"), COPIES)


def tcbench(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    """The installed CLI in its own process, as a user runs it (no mirror from the caller's environment)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TCBENCH_MIRROR")}
    return subprocess.run([sys.executable, "-m", "tcbench", *args], capture_output=True, text=True,
                          env={**base, **(env or {})}, timeout=timeout)


def fetch(tmp_path: Path, server: MirrorServer, *extra: str, name: str = "mirage19", timeout: float = 60) -> subprocess.CompletedProcess:
    return tcbench("datasets", "fetch", name, "--datasets-dir", str(tmp_path / "datasets"), "--mirror", server.url,
                   "--no-progress", *extra, timeout=timeout)


def error_line(proc: subprocess.CompletedProcess) -> str:
    """The one error line (stderr's last line, which must start with 'error:'), after no traceback."""
    assert "Traceback" not in proc.stderr, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith("error: "), proc.stderr
    return line


def final(tmp_path: Path) -> Path:
    return tmp_path / "datasets" / "mirage19" / "raw" / MIRAGE19_ARCHIVE


def no_unverified_file(tmp_path: Path) -> None:
    assert not final(tmp_path).exists()


def test_a_download_cut_mid_file_resumes_with_a_range_request(tmp_path, archive):
    files = {PATH: archive}
    with MirrorServer(files, manifest_for(files), faults={PATH: Fault(cut_at=len(archive) // 2)}) as server:
        proc = fetch(tmp_path, server, "--mirror-checksums", "mirror", "--retries", "2")
        ranges = server.gets(URL_PATH)
    assert proc.returncode == 0, proc.stderr
    assert ranges[0] is None and len(ranges) == 2 and ranges[1].startswith("bytes=") and ranges[1] != "bytes=0-"
    assert final(tmp_path).read_bytes() == archive
    assert sorted(p.name for p in final(tmp_path).parent.iterdir()) == [MIRAGE19_ARCHIVE]  # no .part left
    assert "downloaded (" in proc.stderr and "verified" in proc.stderr


def test_a_wrong_checksum_is_refused_and_the_file_set_aside(tmp_path, archive):
    files = {PATH: archive}
    manifest = manifest_for({PATH: archive[:-1] + b"x"})  # the mirror promises other bytes than it serves
    with MirrorServer(files, manifest) as server:
        proc = fetch(tmp_path, server, "--mirror-checksums", "mirror", timeout=30)
    line = error_line(proc)
    assert proc.returncode == 2 and MIRAGE19_ARCHIVE in line and "expected" in line and "set aside" in line
    no_unverified_file(tmp_path)
    (aside,) = final(tmp_path).parent.glob(f"{MIRAGE19_ARCHIVE}.bad-*")
    assert aside.name == f"{MIRAGE19_ARCHIVE}.bad-{sha256(archive)[:12]}" and aside.read_bytes() == archive


def test_by_default_a_mirror_must_serve_the_authors_bytes(tmp_path, archive):
    """Without mirror_checksums: mirror, the authors' md5 still applies: the test archive is not theirs."""
    files = {PATH: archive}
    with MirrorServer(files, manifest_for(files)) as server:
        proc = fetch(tmp_path, server, timeout=30)
    line = error_line(proc)
    assert proc.returncode == 2 and "9a69d6d496023f67f75a7d7efd8bba31" in line and "DATASETS_METADATA" in line
    no_unverified_file(tmp_path)


def test_404_fails_at_once_naming_the_url_and_the_next_step(tmp_path):
    with MirrorServer({}, {"files": {PATH: {"sha256": "0" * 64}}}) as server:
        t0 = time.perf_counter()
        proc = fetch(tmp_path, server, "--mirror-checksums", "mirror", "--retries", "3", timeout=30)
        gets = server.gets(URL_PATH)
    line = error_line(proc)
    assert proc.returncode == 2 and f"{server.url}{URL_PATH}: HTTP 404" in line
    assert f"tcbench datasets import mirage19 --raw {final(tmp_path)}" in line
    assert len(gets) == 1 and time.perf_counter() - t0 < 20  # permanent: not retried
    no_unverified_file(tmp_path)


def test_503_is_retried_then_gives_a_clear_error(tmp_path, archive):
    files = {PATH: archive}
    with MirrorServer(files, manifest_for(files), faults={PATH: Fault(status=503, times=None)}) as server:
        proc = fetch(tmp_path, server, "--mirror-checksums", "mirror", "--retries", "2", timeout=30)
        gets = server.gets(URL_PATH)
    line = error_line(proc)
    assert proc.returncode == 2 and len(gets) == 3
    assert f"{server.url}{URL_PATH}: HTTP 503 Service Unavailable, 3 attempts" in line and "re-run to resume" in line
    no_unverified_file(tmp_path)


def test_a_transient_503_is_retried_and_the_fetch_completes(tmp_path, archive):
    files = {PATH: archive}
    with MirrorServer(files, manifest_for(files), faults={PATH: Fault(status=503, times=1)}) as server:
        proc = fetch(tmp_path, server, "--mirror-checksums", "mirror", "--retries", "1", timeout=30)
        gets = server.gets(URL_PATH)
    assert proc.returncode == 0, proc.stderr
    assert len(gets) == 2 and final(tmp_path).read_bytes() == archive


def test_a_stalled_server_fails_within_the_timeout(tmp_path, archive):
    files = {PATH: archive}
    # The server stalls far longer than any start-up of the fetch process on a loaded machine, so finishing well
    # before the stall ends shows the 1 s read timeout ended the download (the handler thread is a daemon).
    fault = Fault(stall_s=120, stall_after=100_000, times=None)
    with MirrorServer(files, manifest_for(files), faults={PATH: fault}) as server:
        t0 = time.perf_counter()
        proc = fetch(tmp_path, server, "--mirror-checksums", "mirror", "--timeout", "1", "--retries", "0", timeout=90)
        seconds = time.perf_counter() - t0
    line = error_line(proc)
    assert proc.returncode == 2 and f"{server.url}{URL_PATH}" in line and ("stopped sending" in line or "timed out" in line)
    assert seconds < 60  # the 1 s timeout, not the server's 120 s stall
    no_unverified_file(tmp_path)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("name", ["mirage19", "ucdavis-icdm19"])
def test_offline_one_line_names_the_file_where_to_put_it_and_the_raw_command(tmp_path, name):
    """No mirror, no network: the proxy is a closed port on 127.0.0.1, so nothing leaves the machine (HTTP for
    mirage19, gdown for ucdavis-icdm19's Google Drive folder)."""
    proxy = f"http://127.0.0.1:{_closed_port()}"
    env = {"HTTPS_PROXY": proxy, "HTTP_PROXY": proxy, "https_proxy": proxy, "http_proxy": proxy, "NO_PROXY": "", "no_proxy": ""}
    t0 = time.perf_counter()
    proc = tcbench("datasets", "fetch", name, "--datasets-dir", str(tmp_path / "datasets"), "--no-progress",
                   "--timeout", "5", env=env, timeout=60)
    line = error_line(proc)
    first = "MIRAGE-2019_traffic_dataset_downloadable_v2.tar.gz" if name == "mirage19" else "pretraining.zip"
    raw = tmp_path / "datasets" / name / "raw"
    assert proc.returncode == 2 and "cannot reach https://" in line and f"download it by hand to {raw / first}" in line
    assert f"tcbench datasets import {name} --raw {raw / first}" in line and time.perf_counter() - t0 < 30
    assert not (raw / first).exists()


def test_a_box_share_says_how_to_download_it_by_hand(tmp_path):
    proc = tcbench("datasets", "fetch", "utmobilenet21", "--datasets-dir", str(tmp_path / "d"), "--no-progress")
    line = error_line(proc)
    assert "UTMobileNet2021.zip cannot be downloaded by a script" in line and "utexas.app.box.com" in line
    assert f"--raw {tmp_path / 'd' / 'utmobilenet21' / 'raw' / 'UTMobileNet2021.zip'}" in line


def test_a_licence_that_needs_acceptance_is_refused_before_any_download(tmp_path, archive):
    files = {PATH: archive}
    manifest = {**manifest_for(files), "licences": {"mirage19": {"acceptance_required": True, "terms": "lab terms"}}}
    with MirrorServer(files, manifest) as server:
        refused = fetch(tmp_path, server, "--mirror-checksums", "mirror", timeout=30)
        before = len(server.gets(URL_PATH))
        accepted = fetch(tmp_path, server, "--mirror-checksums", "mirror", "--accept-licence", timeout=30)
    line = error_line(refused)
    assert refused.returncode == 2 and "must be accepted before download: pass --accept-licence" in line
    assert before == 0 and accepted.returncode == 0, accepted.stderr


def test_install_fetches_verifies_and_imports_and_info_shows_the_declaration(tmp_path, archive):
    files = {PATH: archive}
    with MirrorServer(files, manifest_for(files)) as server:
        proc = tcbench("datasets", "install", "mirage19", "--datasets-dir", str(tmp_path / "datasets"), "--no-progress",
                       env={"TCBENCH_MIRROR": server.url, "TCBENCH_MIRROR_CHECKSUMS": "mirror"})
        again = tcbench("datasets", "fetch", "mirage19", "--datasets-dir", str(tmp_path / "datasets"), "--no-progress",
                        env={"TCBENCH_MIRROR": server.url, "TCBENCH_MIRROR_CHECKSUMS": "mirror"})
        gets = server.gets(URL_PATH)
    assert proc.returncode == 0, proc.stderr
    folder = tmp_path / "datasets" / "mirage19"
    assert (folder / "dataset.json").exists() and (folder / "filtered" / "mirage19_filtered_minpkts10.parquet").exists()
    assert "from the mirror's manifest" in proc.stderr and "(mirror)" in proc.stderr
    assert again.returncode == 0 and "is there and verified" in again.stderr and len(gets) == 1  # nothing downloaded again
    info = tcbench("datasets", "info", "mirage19", "--datasets-dir", str(tmp_path / "datasets"))
    assert info.returncode == 0
    for text in ("MIRAGE-2019_traffic_dataset_downloadable_v2.tar.gz", "md5:9a69d6d496023f67f75a7d7efd8bba31",
                 "CC BY-NC-ND 4.0", "1.4 GB", "tcbench datasets install mirage19", f"imported in {folder}"):
        assert text in info.stdout


def snakemake(workdir: Path, config: dict, *args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    path = workdir / "campaign.yaml"
    path.write_text(yaml.safe_dump(config))
    base = {k: v for k, v in os.environ.items() if not k.startswith("TCBENCH_MIRROR")}
    return subprocess.run([sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(workdir),
                           "--cores", "2", "--configfile", str(path), *args], capture_output=True, text=True,
                          env={**base, "PATH": "/usr/bin:/bin", **env}, timeout=timeout)


TINY_MIRAGE = {"campaign_id": "tiny-mirage", "datasets_dir": "datasets", "start_project": True,
               "dataset": {"name": "mirage19", "source": "imported", "min_pkts": 10, "fetch": True},
               "grid": {"split_index": [0], "aug_name": ["noaug"], "flowpic_dim": [32], "seed": [12345]},
               "training": {"epochs": 2, "with_dropout": False}}


def test_snakemake_alone_fetches_imports_and_runs_a_campaign_on_a_dataset_never_imported(tmp_path, archive):
    files = {PATH: archive}
    with MirrorServer(files, manifest_for(files)) as server:
        env = {"TCBENCH_MIRROR": server.url, "TCBENCH_MIRROR_CHECKSUMS": "mirror"}
        proc = snakemake(tmp_path, TINY_MIRAGE, env=env)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        again = snakemake(tmp_path, TINY_MIRAGE, "-n", env=env)
        assert len(server.requests) == 2  # the manifest and the archive, once
    assert f"dataset.fetch: mirage19 is not in datasets/mirage19: downloading {MIRAGE19_ARCHIVE} (1.4 GB)" in proc.stderr
    assert "localrule fetch_raw" in proc.stderr
    log = (tmp_path / "results" / "logs" / "datasets" / "mirage19" / "fetch.log").read_text()
    assert f"downloaded ({len(archive) / 1e6:.1f} MB" in log
    (marker,) = (tmp_path / "results" / "runs").glob("*/marker.json")
    assert yaml.safe_load(marker.read_text())["params"]["dataset"]["sha256"]
    assert (tmp_path / "results" / "campaigns" / "tiny-mirage" / "report.html").exists()
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr  # now planned as any campaign


def test_snakemake_offline_fetch_fails_in_one_line_on_the_terminal(tmp_path):
    env = {"TCBENCH_MIRROR": f"http://127.0.0.1:{_closed_port()}"}
    config = {**TINY_MIRAGE, "dataset": {**TINY_MIRAGE["dataset"], "download": {"timeout_s": 2, "retries": 0}}}
    proc = snakemake(tmp_path, config, env=env, timeout=120)
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "cannot reach the mirror" in lines[0], proc.stderr[-3000:]
    assert not (tmp_path / "datasets" / "mirage19" / "raw" / MIRAGE19_ARCHIVE).exists()


def test_without_fetch_planning_names_install_and_the_fetch_key(tmp_path):
    from tcbench.campaign.compose import complete_config
    from tcbench.campaign.config import ConfigError

    config = {**TINY_MIRAGE, "datasets_dir": str(tmp_path), "dataset": {"name": "mirage19", "source": "imported"}}
    with pytest.raises(ConfigError, match="tcbench datasets install mirage19 .*dataset.fetch: true"):
        complete_config(config)


@pytest.mark.slow  # about 45 s: the campaign steps; the same campaign runs in the Snakemake-alone test above
def test_install_then_a_tiny_campaign(tmp_path, archive):
    files = {PATH: archive}
    with MirrorServer(files, manifest_for(files)) as server:
        env = {"TCBENCH_MIRROR": server.url, "TCBENCH_MIRROR_CHECKSUMS": "mirror"}
        proc = tcbench("datasets", "install", "mirage19", "--datasets-dir", str(tmp_path / "datasets"), "--no-progress", env=env)
        assert proc.returncode == 0, proc.stderr
    config = {**TINY_MIRAGE, "dataset": {k: v for k, v in TINY_MIRAGE["dataset"].items() if k != "fetch"}}
    run = snakemake(tmp_path, config, env={})
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert (tmp_path / "results" / "campaigns" / "tiny-mirage" / "report.html").exists()
