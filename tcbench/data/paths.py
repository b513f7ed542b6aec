"""Where a dataset's files live inside its folder: curated parquet, splits and flowpic caches.

Only locations: which folder a config's dataset is in, and what identifies the data (and so enters run keys), are
the dataset source's (``tcbench.data.sources``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tcbench.data.registry import get_dataset


@dataclass(frozen=True)
class DatasetPaths:
    """Where a dataset's curated parquet, splits and flowpic caches live. ``min_pkts > 0`` selects the filtered
    variant of an imported mirage19 / mirage22 / utmobilenet21 (``filtered/<name>_filtered_minpkts<n>.parquet`` and
    its index splits); ucdavis-icdm19 uses the whole parquet and draws its train splits."""

    root: Path
    name: str
    min_pkts: int = -1

    @property
    def variant(self) -> str | None:
        return f"{self.name}_filtered_minpkts{self.min_pkts}" if self.min_pkts > 0 else None

    @property
    def parquet(self) -> Path:
        if self.variant:
            return self.root / "filtered" / f"{self.variant}.parquet"
        return self.root / f"{self.name}.parquet"

    @property
    def index_splits(self) -> Path:
        """The train/val/test row indexes of each split (datasets other than ucdavis-icdm19)."""
        return self.root / "splits" / f"{self.variant}_splits.parquet"

    def train_splits(self, n_splits: int, samples_per_class: int) -> Path:
        return self.root / "splits" / f"train_splits_n{n_splits}_per_class{samples_per_class}.parquet"

    def splits_file(self, n_splits: int, samples_per_class: int) -> Path:
        """The splits a run reads: the drawn train splits, or the index splits of an imported variant."""
        return self.index_splits if self.variant else self.train_splits(n_splits, samples_per_class)

    @property
    def flowpic_prefix(self) -> str:
        return f"{self.variant}_" if self.variant else ""

    def flowpics(self, dim: int, block_duration: float) -> Path:
        return self.root / "flowpics" / self.flowpic_name(str(dim), f"{block_duration:g}")

    def flowpic_name(self, dim: str, block: str) -> str:
        """The cache's file name; with ``{dim}`` and ``{block}`` it is the workflow's wildcard pattern."""
        return f"{self.flowpic_prefix}flowpic_dim{dim}_block{block}.npz"


def dataset_min_pkts(config: dict[str, Any]) -> int:
    """The filtered variant a campaign uses: -1 for a dataset used whole (ucdavis-icdm19), else ``dataset.min_pkts``."""
    dataset = config["dataset"]
    definition = get_dataset(dataset["name"])
    return int(dataset.get("min_pkts", definition.default_min_pkts)) if definition.variants else -1

