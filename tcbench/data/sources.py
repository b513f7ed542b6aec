"""Where a campaign's dataset comes from (``dataset.source``): a small registry of sources.

A source knows, for the datasets it provides: the folder a config's dataset lives in, the identity that enters
every run key, what a campaign can check before anything runs, how a user gets a damaged file back, and whether
results on it are about real traffic. Code elsewhere asks the source instead of comparing ``dataset.source`` with
a string, so a new kind of source (datasets fetched from their authors' servers) is one more class here.

- ``synthetic``: the generated ucdavis-icdm19 stand-in, built by the workflow itself; its identity is the
  generator's settings (version included), so the same settings give the same run keys on every machine.
- ``imported``: a public dataset converted by ``tcbench datasets import`` (or ``install``, which fetches its raw
  files first); its identity is what the importer wrote into ``dataset.json`` (with the parquet's sha256). With
  ``dataset.fetch: true`` the workflow fetches and imports a missing one before it plans the runs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from tcbench.data import ucdavis
from tcbench.data.dataset_info import DATASET_INFO, read_dataset_spec, with_min_pkts
from tcbench.data.paths import DatasetPaths, dataset_min_pkts
from tcbench.data.registry import DATASETS, get_dataset
from tcbench.data.synthetic import (
    GENERATOR_VERSION,
    check_generator_version,
    synthetic_class_counts,
    synthetic_dataset_id,
)

__all__ = ["DataSource", "dataset_id", "dataset_paths", "dataset_spec", "find_source", "get_source", "source_names",
           "source_of"]


class DataSource(ABC):
    """One kind of dataset source."""

    #: The value of ``dataset.source``.
    name: ClassVar[str]
    #: Whether the data is made up to show the tool (results on it are evidence about the tool, not about traffic).
    stand_in: ClassVar[bool] = False
    #: Whether the workflow builds the dataset itself (otherwise it must exist before planning).
    built_by_workflow: ClassVar[bool] = False

    @abstractmethod
    def folder_name(self, dataset: Mapping[str, Any]) -> str:
        """The dataset's folder under ``datasets_dir``."""

    @abstractmethod
    def identity(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The identity of the campaign's data (part of every run key), not where it is stored."""

    @abstractmethod
    def rebuild_hint(self, spec: Mapping[str, Any], folder: Path, derived: bool) -> str:
        """How to get a sound file back in ``folder`` (``derived``: a filtered variant or split of it)."""

    def missing(self, config: Mapping[str, Any], paths: DatasetPaths) -> str | None:
        """Why the campaign cannot plan with this dataset yet (and what to do), or None."""
        return None

    def fetch_first(self, config: Mapping[str, Any], paths: DatasetPaths) -> bool:
        """Whether the workflow must fetch and import the dataset before it can plan the campaign's runs."""
        return False

    def pretraining_counts(self, config: Mapping[str, Any]) -> tuple[dict[str, int], str]:
        """ucdavis-icdm19's pretraining flows per class and where that count comes from (for the split sizes)."""
        return dict(ucdavis.CLASS_COUNTS[ucdavis.PARTITION_PRETRAINING]), f"the imported {config['dataset']['name']}"


class SyntheticSource(DataSource):
    name = "synthetic"
    stand_in = True
    built_by_workflow = True

    def folder_name(self, dataset: Mapping[str, Any]) -> str:
        syn = dataset["synthetic"]
        return synthetic_dataset_id(syn["seed"], syn["scale"], syn["lookalikes"],
                                    syn.get("generator_version", GENERATOR_VERSION))

    def identity(self, config: Mapping[str, Any]) -> dict[str, Any]:
        dataset = config["dataset"]
        # The version a config names (the default when it names none, as configs written before versions were
        # selectable): the same key and value as before for version 2, so runs made on it keep their run keys.
        synthetic = dict(sorted(dataset["synthetic"].items()))
        version = check_generator_version(synthetic.get("generator_version", GENERATOR_VERSION))
        return {"name": dataset["name"], "source": self.name, "synthetic": {**synthetic, "generator_version": version}}

    def rebuild_hint(self, spec: Mapping[str, Any], folder: Path, derived: bool) -> str:
        synth = spec.get("synthetic", {})
        flags = f" --seed {synth.get('seed', 12345)} --scale {synth.get('scale', 1.0)}"
        flags += "" if synth.get("lookalikes", True) else " --no-lookalikes"
        flags += f" --generator-version {synth.get('generator_version', GENERATOR_VERSION)}"
        return (f"regenerate it with `tcbench datasets synth --output-dir {folder}{flags}` (the same settings give "
                "the same bytes), or delete it and re-run the workflow, which rebuilds it")

    def pretraining_counts(self, config: Mapping[str, Any]) -> tuple[dict[str, int], str]:
        scale = config["dataset"]["synthetic"]["scale"]
        return synthetic_class_counts(scale)[ucdavis.PARTITION_PRETRAINING], f"dataset.synthetic.scale={scale}"


class ImportedSource(DataSource):
    name = "imported"

    def folder_name(self, dataset: Mapping[str, Any]) -> str:
        return str(dataset["name"])

    def identity(self, config: Mapping[str, Any]) -> dict[str, Any]:
        # The importer wrote the identity (with the data's sha256); runs read the same file, so keys agree.
        paths = dataset_paths(config)
        return with_min_pkts(read_dataset_spec(paths.root), paths.min_pkts)

    def rebuild_hint(self, spec: Mapping[str, Any], folder: Path, derived: bool) -> str:
        name = spec.get("name", "<dataset>")
        if derived:
            return (f"delete {folder / 'filtered'} and {folder / 'splits'} and re-run `tcbench datasets import {name} "
                    f"... --output-dir {folder}`, which derives the filtered variants and their splits again")
        return (f"re-import it with `tcbench datasets import {name} --raw <the authors' files> --output-dir {folder}` "
                "(the same data repairs the file in place)")

    def missing(self, config: Mapping[str, Any], paths: DatasetPaths) -> str | None:
        needed = [paths.parquet, paths.root / DATASET_INFO] + ([paths.index_splits] if paths.variant else [])
        absent = [p for p in needed if not p.exists()]
        if not absent:
            return None
        name = config["dataset"]["name"]
        others = [s.name for s in _SOURCES.values() if s is not self and get_dataset(name).synthetic]
        fetch = (f"; or download and import it: tcbench datasets install {name} --datasets-dir {config['datasets_dir']}, "
                 "or dataset.fetch: true in the config" if get_dataset(name).raw_files else "")
        return (f"dataset: {name} (source imported) is not in {paths.root} "
                f"({', '.join(str(p.relative_to(paths.root)) for p in absent)} missing); import it first: tcbench "
                f"datasets import {name} --raw <the authors' archives> --datasets-dir {config['datasets_dir']}"
                + fetch + (f"  (or set dataset.source: {others[0]})" if others else ""))

    def fetch_first(self, config: Mapping[str, Any], paths: DatasetPaths) -> bool:
        """``dataset.fetch: true``, raw files declared, and the dataset not imported yet."""
        dataset = config["dataset"]
        return bool(dataset.get("fetch")) and bool(get_dataset(dataset["name"]).raw_files) and self.missing(config, paths) is not None


_SOURCES: dict[str, DataSource] = {source.name: source for source in (SyntheticSource(), ImportedSource())}


def source_names() -> list[str]:
    return list(_SOURCES)


def find_source(name: object) -> DataSource | None:
    return _SOURCES.get(name) if isinstance(name, str) else None


def get_source(name: str) -> DataSource:
    """The source called ``name``; ValueError naming the valid ones otherwise."""
    source = find_source(name)
    if source is None:
        raise ValueError(f"dataset.source: {name!r} is unknown; valid values: {source_names()}")
    return source


def source_of(config: Mapping[str, Any]) -> DataSource:
    return get_source(config["dataset"]["source"])


def synthetic_datasets() -> list[str]:
    """The datasets a generated stand-in exists for."""
    return [d.name for d in DATASETS.values() if d.synthetic]


# ------------------------------------------------------------------------------------------ from a campaign config
def dataset_id(config: Mapping[str, Any]) -> str:
    """Folder name of the configured dataset under datasets_dir."""
    return source_of(config).folder_name(config["dataset"])


def dataset_paths(config: Mapping[str, Any]) -> DatasetPaths:
    return DatasetPaths(Path(config["datasets_dir"]) / dataset_id(config), config["dataset"]["name"],
                        dataset_min_pkts(config))


def dataset_spec(config: Mapping[str, Any]) -> dict[str, Any]:
    """The identity of a campaign's data (part of every run key), not where it is stored: the generator's settings
    for the synthetic stand-in, or what the importer wrote into ``dataset.json`` (with the parquet's sha256)."""
    return source_of(config).identity(config)
