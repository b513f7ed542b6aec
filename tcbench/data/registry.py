"""The datasets tcbench knows, each declared once: name, importer, filtered variants, test sets, and the raw files
its authors publish (URLs, size, checksum, licence).

Config checks, the schema's list of dataset names, the ``tcbench datasets`` and ``tcbench run`` choices, the
importers, the methods' test contexts, ``tcbench datasets fetch / install / info`` and the workflow's fetch rule all
read this table, so a fifth dataset is one more entry here (and its importer module). Nothing here imports the heavy
data code.
"""

from __future__ import annotations

from dataclasses import dataclass

from tcbench.data import ucdavis
from tcbench.data.raw_files import Checksum, Licence, RawFile

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
    raw_files: tuple[RawFile, ...] = ()  # what `tcbench datasets fetch` downloads, as the authors publish it
    licence: Licence | None = None

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


# ------------------------------------------------------------------------------------------------- raw files
# URLs: those the original tcbench 0.0.22 downloads from (or points to: docs/original-behaviour.md, Datasets); md5s:
# the ones its dev branch publishes for the raw archives (DATASETS_METADATA.yml). Exact byte counts are published for
# none of them: ``size`` stays None (a download is checked by its checksum; a real byte count would come from the
# authors' server's Content-Length, recorded here once someone downloads it) and ``approx_size`` is the authors' page.
_DEV_BRANCH_MD5 = "tcbench dev branch, DATASETS_METADATA.yml (published md5 of the raw archive)"
_UCDAVIS_FOLDER = "https://drive.google.com/drive/folders/1Pvev0hJ82usPh6dWDlz7Lv8L6h3JpWhE"
_MIRAGE = "https://traffic.comics.unina.it/mirage/MIRAGE"
_CC_BY_NC_ND = Licence("CC BY-NC-ND 4.0", "https://creativecommons.org/licenses/by-nc-nd/4.0/",
                       note="non-commercial use, no redistribution of modified copies; the authors' site and the "
                            "original tcbench download it without a click-through")


def _ucdavis_zip(name: str, md5: str) -> RawFile:
    return RawFile(name, (_UCDAVIS_FOLDER,), None, "part of 283.8 MB for the three zips", Checksum("md5", md5, _DEV_BRANCH_MD5),
                   transport="gdrive", note="a file of a shared Google Drive folder (downloaded through gdown; the "
                                           "original refused to download it)")


DATASETS: dict[str, DatasetDef] = {
    d.name: d
    for d in (
        DatasetDef(ucdavis.DATASET_NAME, ("tcbench.data.importers.ucdavis", None), synthetic=True,
                   test_partitions=(ucdavis.PARTITION_SCRIPT, ucdavis.PARTITION_HUMAN),
                   raw_files=(_ucdavis_zip("pretraining.zip", "92f0aa3b7c92ce9e0e7f5186f5c6193f"),
                              _ucdavis_zip("Retraining(human-triggered).zip", "8bc31c064939e4a7b4cdeac3af632953"),
                              _ucdavis_zip("Retraining(script-triggered).zip", "da320c8114f51d5540f4b8a5b8d92669")),
                   licence=Licence("CC BY 4.0", "https://creativecommons.org/licenses/by/4.0/")),
        DatasetDef("mirage19", ("tcbench.data.importers.mirage", "MIRAGE19"), variants=(10,),
                   raw_files=(RawFile("MIRAGE-2019_traffic_dataset_downloadable_v2.tar.gz",
                                      (f"{_MIRAGE}/MIRAGE-2019_traffic_dataset_downloadable_v2.tar.gz",), None, "1.4 GB",
                                      Checksum("md5", "9a69d6d496023f67f75a7d7efd8bba31", _DEV_BRANCH_MD5)),),
                   licence=_CC_BY_NC_ND),
        DatasetDef("mirage22", ("tcbench.data.importers.mirage", "MIRAGE22"), variants=(10, 1000),
                   raw_files=(RawFile("MIRAGE-COVID-CCMA-2022.zip", (f"{_MIRAGE}/MIRAGE-COVID-CCMA-2022.zip",), None,
                                      "3.1 GB", Checksum("md5", "ceca39439c25b268fb0de1436d39e7b5", _DEV_BRANCH_MD5)),),
                   licence=_CC_BY_NC_ND),
        # No checksum is published for UTMobileNet2021.zip: the first download's sha256 is printed (and a mirror's
        # manifest may supply one). A Box share needs a browser: the user downloads it by hand (or a mirror serves it).
        DatasetDef("utmobilenet21", ("tcbench.data.importers.utmobilenet", None), variants=(10,),
                   raw_files=(RawFile("UTMobileNet2021.zip", ("https://utexas.app.box.com/s/okrimcsz1mn9ec4j667kbb00d9gt16ii",),
                                      None, "size not published", None, transport="manual",
                                      note="a Box share, which no script can download without a Box client"),),
                   licence=Licence("GPLv3", "https://www.gnu.org/licenses/gpl-3.0.html")),
    )
}
DATASET_NAMES: tuple[str, ...] = tuple(DATASETS)


def get_dataset(name: str) -> DatasetDef:
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"dataset {name!r} is unknown; valid values: {list(DATASET_NAMES)}") from None
