"""Facts about ucdavis-icdm19 that every stage shares: class labels, partitions and the real class counts.

Kept in one place so the synthetic generator, the splits and the reports cannot disagree on names or order.
"""

from __future__ import annotations

DATASET_NAME = "ucdavis-icdm19"

# Alphabetical, as pandas orders categories; the integer target of a flow is its position here.
CLASSES: tuple[str, ...] = ("google-doc", "google-drive", "google-music", "google-search", "youtube")

PARTITION_PRETRAINING = "pretraining"
PARTITION_HUMAN = "retraining-human-triggered"
PARTITION_SCRIPT = "retraining-script-triggered"
PARTITIONS: tuple[str, ...] = (PARTITION_PRETRAINING, PARTITION_HUMAN, PARTITION_SCRIPT)

# Test contexts named as the original tcbench names them in AIM and in report files.
TEST_CONTEXT_BY_PARTITION = {PARTITION_SCRIPT: "test-script", PARTITION_HUMAN: "test-human"}
LEFTOVER_CONTEXT = "test-train-val-leftover"

# Real flow counts per partition and class (docs/original-behaviour.md, ucdavis-icdm19 splits).
CLASS_COUNTS: dict[str, dict[str, int]] = {
    PARTITION_PRETRAINING: {
        "google-doc": 1221,
        "google-drive": 1634,
        "google-music": 592,
        "google-search": 1915,
        "youtube": 1077,
    },
    PARTITION_HUMAN: {"google-doc": 15, "google-drive": 18, "google-music": 15, "google-search": 15, "youtube": 20},
    PARTITION_SCRIPT: {c: 30 for c in CLASSES},
}

# flow_id prefix per class, as in the raw file names (GoogleDoc-100.txt -> google-doc).
FLOW_ID_PREFIX = {
    "google-doc": "GoogleDoc",
    "google-drive": "GoogleDrive",
    "google-music": "GoogleMusic",
    "google-search": "GoogleSearch",
    "youtube": "Youtube",
}

# What `tcbench datasets info` tells about the dataset (docs/original-behaviour.md, Datasets).
INFO = {
    "paper": "Rezaei & Liu, arXiv:1812.09761 (ICDM 2019 workshop)",
    "raw format": "one TAB-separated text file per flow, one packet per line: unix time, seconds since the first "
                  "packet, size, direction (1 = upload)",
    "import": "tcbench datasets import ucdavis-icdm19 --raw <folder with the three zips>",
}
