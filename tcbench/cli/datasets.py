"""``tcbench datasets``: fetch, import or install the public datasets, build the embedded synthetic dataset, its
train splits and the flowpic caches."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from tcbench.data import ucdavis
from tcbench.data.registry import DATASET_NAMES as _NAMES
from tcbench.data.synthetic import GENERATOR_VERSION, GENERATOR_VERSIONS

DATASET_NAMES = click.Choice(_NAMES)


@click.group()
def datasets() -> None:
    """Prepare curated datasets: install (fetch + import) the public ones, the synthetic ucdavis-icdm19 stand-in,
    train splits, flowpic caches."""


@datasets.command("synth")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Dataset folder to write; default: <datasets-dir>/<synthetic dataset id>.")
@click.option("--datasets-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("resources/datasets"),
              help="Parent folder of all datasets, used when --output-dir is not given.")
@click.option("--seed", type=int, default=12345, help="Generator seed; the same seed gives a byte-identical parquet.")
@click.option("--scale", type=click.FloatRange(min=0, min_open=True, max=1), default=1.0,
              help="Fraction of the real pretraining flows to generate (human and script partitions stay full).")
@click.option("--lookalikes/--no-lookalikes", default=True,
              help="Draw a few flows with another class's generator (the real data's confusions).")
@click.option("--generator-version", type=click.Choice([str(v) for v in GENERATOR_VERSIONS]),
              default=str(GENERATOR_VERSION), show_default=True,
              help="Generator version (docs/synthetic.md); part of the dataset identity and folder name.")
def synth(output_dir: Path | None, datasets_dir: Path, seed: int, scale: float, lookalikes: bool,
          generator_version: str) -> None:
    """Generate the synthetic ucdavis-icdm19 dataset (curated schema, real class counts)."""
    from tcbench.data.dataset_info import write_content_record, write_dataset_spec
    from tcbench.data.sources import dataset_spec
    from tcbench.data.synthetic import synthetic_dataset_id, write_synthetic_ucdavis

    version = int(generator_version)
    output_dir = output_dir or datasets_dir / synthetic_dataset_id(seed, scale, lookalikes, version)
    t0 = time.perf_counter()
    path = write_synthetic_ucdavis(output_dir / f"{ucdavis.DATASET_NAME}.parquet", seed=seed, scale=scale,
                                   lookalikes=lookalikes, generator_version=version)
    config = {"dataset": {"name": ucdavis.DATASET_NAME, "source": "synthetic",
                          "synthetic": {"seed": seed, "scale": scale, "lookalikes": lookalikes,
                                        "generator_version": version}}}
    write_dataset_spec(output_dir, dataset_spec(config))
    write_content_record(output_dir, path)  # what runs check the file against (an edit is refused, not trained on)
    click.echo(f"wrote {path} ({path.stat().st_size / 2**20:.1f} MiB) in {time.perf_counter() - t0:.1f} s")


def _fetch_options(command: Callable[..., None]) -> Callable[..., None]:
    """The options of `fetch` and `install` (declared once)."""
    from tcbench.data.fetch.settings import (
        DEFAULT_RETRIES,
        DEFAULT_TIMEOUT_S,
        MIRROR_CHECKSUM_POLICIES,
        MIRROR_CHECKSUMS_ENV,
        MIRROR_ENV,
    )

    options = [
        click.option("--raw-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
                     help="Folder for the raw files; default: <datasets-dir>/<name>/raw."),
        click.option("--datasets-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("resources/datasets"),
                     show_default=True, help="Parent folder of all datasets (the config's datasets_dir)."),
        click.option("--mirror", envvar=MIRROR_ENV, default=None, show_envvar=True,
                     help="Base URL of a mirror serving <mirror>/<name>/<file> (and optionally tcbench-mirror.json); "
                          "the authors' servers are not contacted then."),
        click.option("--mirror-checksums", type=click.Choice(MIRROR_CHECKSUM_POLICIES), envvar=MIRROR_CHECKSUMS_ENV,
                     default="published", show_default=True, show_envvar=True,
                     help="published: files must match the authors' checksums (a mirror manifest only adds checks); "
                          "mirror: the mirror's manifest replaces them (a mirror serving archives of its own)."),
        click.option("--accept-licence", is_flag=True, help="Accept the dataset's licence where it must be accepted before download."),
        click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True), default=DEFAULT_TIMEOUT_S,
                     show_default=True, help="Seconds to wait for a connection, and for each read of a download."),
        click.option("--retries", type=click.IntRange(min=0), default=DEFAULT_RETRIES, show_default=True,
                     help="Further attempts after a transient error (5xx, a cut or stalled transfer), each resuming."),
        click.option("--progress/--no-progress", default=True, help="Show a progress bar (bytes, rate, ETA)."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _run_fetch(name: str, raw_dir: Path | None, datasets_dir: Path, mirror: str | None, mirror_checksums: str,
               accept_licence: bool, timeout_s: float, retries: int, progress: bool) -> list[Path]:
    """Fetch ``name``'s raw files (FetchError: one line on stderr, exit status 2)."""
    import sys

    from tcbench.data.fetch import FetchError, FetchSettings, fetch_dataset
    from tcbench.data.fetch.plan import import_command

    raw_dir = raw_dir or datasets_dir / name / "raw"
    settings = FetchSettings(mirror=mirror or None, mirror_checksums=mirror_checksums, accept_licence=accept_licence,  # type: ignore[arg-type]
                             timeout_s=timeout_s, retries=retries)
    try:
        report = fetch_dataset(name, raw_dir, settings, next_step=import_command(name, raw_dir, datasets_dir),
                               say=lambda line: click.echo(line, err=True), progress=progress)
    except FetchError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    return report.files


@datasets.command("fetch")
@click.argument("name", type=DATASET_NAMES)
@_fetch_options
def fetch(name: str, **options: Any) -> None:
    """Download the raw files of a public dataset that are missing (resumed, retried, checksum-verified) into
    --raw-dir; `tcbench datasets info NAME` lists them with their sizes, checksums and licence."""
    for path in _run_fetch(name, **options):
        click.echo(str(path))


@datasets.command("install")
@click.argument("name", type=DATASET_NAMES)
@_fetch_options
@click.option("--workers", type=click.IntRange(min=1), default=1, help="Processes converting parts in parallel (import).")
@click.option("--force", is_flag=True, help="Replace a different dataset already imported there (deletes its splits and flowpic caches).")
def install(name: str, workers: int, force: bool, **options: Any) -> None:
    """Fetch a public dataset's raw files, then import them into <datasets-dir>/<name> (the original's one command)."""
    files = _run_fetch(name, **options)
    _import(name, tuple(files), None, options["datasets_dir"] / name, workers, 64.0, force, options["progress"])


@datasets.command("import")
@click.argument("name", type=DATASET_NAMES)
@click.option("--raw", "raw", multiple=True, type=click.Path(path_type=Path),
              help="The authors' files: a zip archive or a folder (repeatable). ucdavis-icdm19: the three zips "
                   "pretraining.zip, Retraining(human-triggered).zip, Retraining(script-triggered).zip, their "
                   "extracted folders, or the folder holding them. mirage19: MIRAGE-2019_traffic_dataset_downloadable_v2.tar.gz "
                   "or its extracted folder. mirage22: MIRAGE-COVID-CCMA-2022.zip (its per-app zips are read too) or a folder. "
                   "utmobilenet21: UTMobileNet2021.zip or its extracted folder.")
@click.option("--from-tcbench", "from_tcbench", type=click.Path(path_type=Path), default=None,
              help="Instead of --raw: the datasets folder of an installation of the original tcbench (its curated "
                   "<name>.parquet; the filtered variants and splits are derived again).")
@click.option("--output-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Dataset folder to write; default: <datasets-dir>/<name>.")
@click.option("--datasets-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("resources/datasets"),
              help="Parent folder of all datasets (the config's datasets_dir), used when --output-dir is not given.")
@click.option("--workers", type=click.IntRange(min=1), default=1, help="Processes converting parts in parallel.")
@click.option("--part-mb", type=click.FloatRange(min=1), default=64.0,
              help="Raw megabytes per part: memory is about 10 x part-mb per worker; an interrupted import resumes "
                   "from its finished parts.")
@click.option("--force", is_flag=True, help="Replace a different dataset already imported there (deletes its splits and flowpic caches).")
@click.option("--progress/--no-progress", default=True, help="Show a progress bar with throughput and ETA.")
def import_(name: str, raw: tuple[Path, ...], from_tcbench: Path | None, output_dir: Path | None, datasets_dir: Path,
            workers: int, part_mb: float, force: bool, progress: bool) -> None:
    """Import a public dataset from the files its authors publish into a curated dataset folder (parquet +
    dataset.json) that campaigns use with `dataset: {name: NAME, source: imported}`."""
    if bool(raw) == bool(from_tcbench):
        raise click.UsageError("pass either --raw (one or more times) or --from-tcbench")
    _import(name, raw, from_tcbench, output_dir or datasets_dir / name, workers, part_mb, force, progress)


def _import(name: str, raw: tuple[Path, ...], from_tcbench: Path | None, output_dir: Path, workers: int,
            part_mb: float, force: bool, progress: bool) -> None:
    import sys

    from tcbench.data.importers import import_dataset, import_from_tcbench
    from tcbench.data.importers.errors import RawDataError
    from tcbench.data.importers.staging import Progress

    t0 = time.perf_counter()
    try:
        if from_tcbench:
            result = import_from_tcbench(name, from_tcbench, output_dir, force=force)
        else:
            with Progress(f"importing {name}", enabled=progress) as bar:
                result = import_dataset(name, raw, output_dir, workers=workers, part_mb=part_mb, force=force, progress=bar)
    except (RawDataError, OSError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    seconds = time.perf_counter() - t0
    if not result.changed:
        click.echo(f"{result.parquet} already holds this data (sha256 {result.spec['sha256'][:12]}): nothing changed")
        return
    click.echo(f"wrote {result.parquet}: {result.spec['flows']} flows in {seconds:.1f} s")
    for path in result.derived:
        click.echo(f"wrote {path}")
    _print_counts(name, result.parquet)


def _print_counts(name: str, parquet: Path) -> None:
    """Flows per partition and class (ucdavis-icdm19) or per class of each curated file (the others)."""
    from tcbench.reporting.console import print_class_counts, print_value_counts

    if name == ucdavis.DATASET_NAME:
        from tcbench.data.labels import read_labels

        print_class_counts(read_labels(parquet), title=name)
        return
    import pyarrow.parquet as pq

    files = {"unfiltered": parquet, **{p.stem.removeprefix(f"{name}_filtered_"): p
                                       for p in sorted((parquet.parent / "filtered").glob("*.parquet"))}}
    columns = {label: pq.read_table(path, columns=["app"]).column("app").to_pylist() for label, path in files.items()}
    print_value_counts(columns, title=f"{name}: flows per class")


@datasets.command("splits")
@click.option("--dataset-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Prepared dataset folder (holds ucdavis-icdm19.parquet and dataset.json).")
@click.option("--n-splits", type=click.IntRange(min=1), default=5, help="Number of non-overlapping train splits.")
@click.option("--samples-per-class", type=click.IntRange(min=1), default=100, help="Flows per class in each split.")
@click.option("--seed", type=int, default=12345, help="Seed of default_rng drawing the splits (the original's 12345).")
def splits(dataset_dir: Path, n_splits: int, samples_per_class: int, seed: int) -> None:
    """Draw the ucdavis-icdm19 train splits from the pretraining partition, as the original tcbench does."""
    from tcbench.data.labels import read_labels
    from tcbench.data.parquet import DatasetError
    from tcbench.data.paths import DatasetPaths
    from tcbench.data.splits import ucdavis_train_splits

    paths = DatasetPaths(dataset_dir, ucdavis.DATASET_NAME)
    try:
        splits = ucdavis_train_splits(read_labels(paths.parquet), n_splits, samples_per_class, seed)
    except DatasetError as exc:  # a broken dataset: its message says what is wrong and how to rebuild it
        raise click.ClickException(str(exc)) from exc
    out = splits.write(paths.train_splits(n_splits, samples_per_class))
    click.echo(f"wrote {out}: {n_splits} splits x {samples_per_class} flows per class")


@datasets.command("flowpics")
@click.option("--dataset-dir", type=click.Path(exists=True, file_okay=False, path_type=Path), required=True,
              help="Prepared dataset folder (holds <dataset>.parquet).")
@click.option("--dataset", "dataset_name", type=DATASET_NAMES,
              default="ucdavis-icdm19", help="Dataset of --dataset-dir.")
@click.option("--min-pkts", type=int, default=-1, help="Filtered variant of an imported mirage19 / mirage22 / utmobilenet21 (10 or 1000).")
@click.option("--dim", type=click.Choice(["32", "64", "1500"]), required=True, help="Flowpic resolution.")
@click.option("--block-duration", type=click.FloatRange(min=0, min_open=True), default=15.0,
              help="Seconds of each flow that the flowpic covers (packets at or after it are dropped).")
def flowpics(dataset_dir: Path, dataset_name: str, min_pkts: int, dim: str, block_duration: float) -> None:
    """Compute the flowpics of every flow once and cache them as a sparse matrix shared by all runs."""
    from tcbench.data.parquet import DatasetError
    from tcbench.data.paths import DatasetPaths
    from tcbench.features.flowpic_store import build_flowpic_store, save_flowpic_store

    paths = DatasetPaths(dataset_dir, dataset_name, min_pkts)
    t0 = time.perf_counter()
    try:
        store = build_flowpic_store(paths.parquet, int(dim), block_duration)
    except DatasetError as exc:  # a broken dataset: its message says what is wrong and how to rebuild it
        raise click.ClickException(str(exc)) from exc
    out = save_flowpic_store(store, paths.flowpics(int(dim), block_duration))
    click.echo(f"wrote {out}: {store.matrix.shape[0]} flows, {store.matrix.nnz} non-zero pixels, "
               f"{time.perf_counter() - t0:.2f} s")


DATASETS_DIR_OPTION = click.option("--datasets-dir", type=click.Path(file_okay=False, path_type=Path),
                                   default=Path("resources/datasets"), show_default=True,
                                   help="Parent folder of the dataset folders (the config's datasets_dir).")


@datasets.command("list")
@DATASETS_DIR_OPTION
def list_(datasets_dir: Path) -> None:
    """The dataset folders under --datasets-dir (source, flows, identity) and the importable datasets not imported yet."""
    import json

    from rich.table import Table

    from tcbench.data.importers import IMPORTABLE
    from tcbench.data.sources import find_source
    from tcbench.reporting.console import make_console

    table = Table(title=f"datasets in {datasets_dir}")
    for column in ("folder", "name", "source", "flows", "identity"):
        table.add_column(column)
    found = set()
    for info in sorted(datasets_dir.glob("*/dataset.json")):
        spec = json.loads(info.read_text())
        source = find_source(spec.get("source"))
        found.add(spec.get("name") if source is not None and not source.built_by_workflow else None)
        identity = spec.get("sha256", "")[:12] or json.dumps(spec.get("synthetic", {}), sort_keys=True)
        table.add_row(info.parent.name, spec.get("name", "?"), spec.get("source", "?"), str(spec.get("flows", "")), identity)
    for name in IMPORTABLE:
        if name not in found:
            table.add_row("-", name, "not imported", "", f"tcbench datasets install {name}  (or import {name} --raw <files>)")
    make_console().print(table)


@datasets.command("info")
@click.argument("name", type=DATASET_NAMES)
@DATASETS_DIR_OPTION
def info(name: str, datasets_dir: Path) -> None:
    """Where the dataset comes from: its raw files (URLs, sizes, checksums), licence, raw format, how to install it,
    and whether it is imported here."""
    from tcbench.data.catalog import INFO
    from tcbench.data.registry import get_dataset

    folder = datasets_dir / name
    definition = get_dataset(name)
    details = dict(INFO[name])
    if definition.licence is not None:
        licence = definition.licence
        details["licence"] = (f"{licence.name} ({licence.url})"
                              + ("; must be accepted before download (--accept-licence)" if licence.acceptance_required else "")
                              + (f"; {licence.note}" if licence.note else ""))
    if name == ucdavis.DATASET_NAME:
        details.update(classes=", ".join(ucdavis.CLASSES), partitions=", ".join(ucdavis.PARTITIONS))
    details["install"] = f"tcbench datasets install {name}   (fetch, then: {details.pop('import')})"
    for key, value in details.items():
        click.echo(f"{key:>11}: {value}")
    for raw in definition.raw_files:
        click.echo(f"{'raw file':>11}: {raw.name}")
        size = f"{raw.size} bytes" if raw.size is not None else f"exact size not published; {raw.approx_size}"
        checksum = f"{raw.checksum} ({raw.checksum.source})" if raw.checksum else "none published (its sha256 is printed when fetched)"
        for key, value in (("url", ", ".join(raw.urls)), ("via", raw.transport + (f": {raw.note}" if raw.note else "")),
                           ("size", size), ("checksum", checksum)):
            click.echo(f"{key:>15}: {value}")
    status = f"imported in {folder}" if (folder / "dataset.json").exists() else "not imported yet"
    click.echo(f"{'here':>11}: {status}")


@datasets.command("samples-count")
@click.argument("name", type=DATASET_NAMES)
@DATASETS_DIR_OPTION
@click.option("--dataset-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="A dataset folder to count (e.g. a synthetic one); default: <datasets-dir>/<name>.")
def samples_count(name: str, datasets_dir: Path, dataset_dir: Path | None) -> None:
    """Flows per class (and partition, for ucdavis-icdm19) of the dataset folder when it exists, then the reference
    (paper) table."""
    import numpy as np

    from tcbench.data.catalog import REFERENCE_COUNTS
    from tcbench.data.labels import FlowLabels
    from tcbench.reporting.console import print_class_counts, print_value_counts

    folder = dataset_dir or datasets_dir / name
    parquet = folder / f"{name}.parquet"
    if parquet.exists():
        _print_counts(name, parquet)
    if name != ucdavis.DATASET_NAME:
        columns = {label: [app for app, n in counts.items() for _ in range(n)] for label, counts in REFERENCE_COUNTS[name].items()}
        print_value_counts(columns, title=f"{name}: reference")
        return
    codes, partitions = [], []
    for partition, counts in ucdavis.CLASS_COUNTS.items():
        for app, n in counts.items():
            codes += [ucdavis.CLASSES.index(app)] * n
            partitions += [partition] * n
    print_class_counts(FlowLabels(np.array(codes, dtype=np.int8), np.array(partitions)), title=f"{name}: reference")
