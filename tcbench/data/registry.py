"""The datasets tcbench knows, each declared once: name, importer, filtered variants, test sets.

Config checks, the schema's list of dataset names, the ``tcbench datasets`` and ``tcbench run`` choices, the
importers and the methods' test contexts all read this table, so a fifth dataset is one more entry here (and its
importer module). Nothing here imports the heavy data code.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcbench.data import ucdavis

# Number of train/val/test index splits an import derives for the datasets with filtered variants.
INDEX_SPLITS = 5


@dataclass(frozen=True)
class DatasetDef:
    """One dataset.

    ``variants`` are the ``min_pkts`` thresholds of its filtered variants (flows with more than that many packets):
    a campaign trains on one of them and uses the index splits of the import. A dataset without variants
    (ucdavis-icdm19) is used whole, and the workflow draws its train splits from the pretraining partition.
    ``test_partitions`` name the partitions held out as test sets (context names ``ucdavis.TEST_CONTEXT_BY_PARTITION``);
    without them the index splits' test rows form the single context ``test``.
    """

    name: str
    importer: tuple[str, str | None]  # module and, for a module serving several datasets, the variant it binds
    variants: tuple[int, ...] = ()
    synthetic: bool = False  # the embedded generator can stand in for it
    test_partitions: tuple[str, ...] = ()

    @property
    def draws_train_splits(self) -> bool:
        return not self.variants

    @property
    def default_min_pkts(self) -> int:
        return self.variants[0] if self.variants else -1

    def test_contexts(self, leftover: bool) -> tuple[str, ...]:
        """The test contexts a supervised run on this dataset reports (leftover: the unused pretraining flows)."""
        if not self.test_partitions:
            return ("test",)
        named = tuple(ucdavis.TEST_CONTEXT_BY_PARTITION[p] for p in self.test_partitions)
        return named + ((ucdavis.LEFTOVER_CONTEXT,) if leftover else ())


DATASETS: dict[str, DatasetDef] = {
    d.name: d
    for d in (
        DatasetDef(ucdavis.DATASET_NAME, ("tcbench.data.importers.ucdavis", None), synthetic=True,
                   test_partitions=(ucdavis.PARTITION_SCRIPT, ucdavis.PARTITION_HUMAN)),
        DatasetDef("mirage19", ("tcbench.data.importers.mirage", "MIRAGE19"), variants=(10,)),
        DatasetDef("mirage22", ("tcbench.data.importers.mirage", "MIRAGE22"), variants=(10, 1000)),
        DatasetDef("utmobilenet21", ("tcbench.data.importers.utmobilenet", None), variants=(10,)),
    )
}
DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)


def get_dataset(name: str) -> DatasetDef:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"dataset {name!r} is unknown; valid values: {list(DATASET_NAMES)}") from None
