"""The run parameters several methods share, each declared once (a method's own parameters live in its module).

Their config section is `training` (where they always were), whatever the method's own section is. What a
declaration holds and what is derived from it: :class:`tcbench.contract.Param`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tcbench.contract import JobResources, Param, names

__all__ = ["AUG_NAME", "DEVICE", "EXPERIMENT", "FLOWPIC_BLOCK_DURATION", "FLOWPIC_DIM", "LABELS",
           "MAX_SAMPLES_PER_CLASS", "SEED", "SPLIT_INDEX", "TEST_LEFTOVER", "THREADS", "TRAIN_VAL_SPLIT_RATIO",
           "WITH_DROPOUT", "Param", "flowpic_resources", "names"]


def _augmentation_names() -> tuple[str, ...]:
    from tcbench.augment import augmentation_names

    return tuple(augmentation_names())


def _flowpic_dims() -> tuple[int, ...]:
    from tcbench.features.flowpic import VALID_DIMS

    return VALID_DIMS


SPLIT_INDEX = Param("split_index", int, 0, "Train split (0..n_splits-1), or -1 for the whole pretraining partition.",
                    minimum=-1, tag="split", replicate=True, axis_label="split_indexes",
                    campaign_option="--split-indexes")
SEED = Param("seed", int, 12345, "Run seed: weight init, shuffling and the 80/20 train/val draw.", minimum=0, tag="seed",
             replicate=True, axis_label="seeds")
FLOWPIC_DIM = Param("flowpic_dim", int, 32, "Flowpic resolution.", choices_from=_flowpic_dims, tag="dim",
                    splits_report=True, axis_label="flowpic_dims")
AUG_NAME = Param("aug_name", str, "noaug", "Augmentation applied at loading: the flows plus augmented copies.",
                 choices_from=_augmentation_names, tag="aug", component="augmentation", baseline="noaug",
                 axis_label="augmentations", campaign_option="--augmentations")
WITH_DROPOUT = Param("with_dropout", bool, True,
                     "Dropout2d(0.25) after conv2 and feature Dropout(0.5) after the last FC layer.",
                     section="training", off_option="--no-dropout", tag="dropout", campaign_option="--dropout")
FLOWPIC_BLOCK_DURATION = Param("flowpic_block_duration", float, 15.0, "Seconds of each flow covered by the flowpic.",
                               exclusive_minimum=0, section="training")
TRAIN_VAL_SPLIT_RATIO = Param("train_val_split_ratio", float, 0.8,
                              "Fraction of each class of the split used for training; the rest validates.",
                              exclusive_minimum=0, exclusive_maximum=1, section="training")
MAX_SAMPLES_PER_CLASS = Param("max_samples_per_class", int, -1,
                              "Cap on flows per class before the train/val split (-1: no cap).", minimum=-1,
                              section="training")
TEST_LEFTOVER = Param("test_leftover", bool, True,
                      "Also test on every flow not used for train/val (the original's test-train-val-leftover).",
                      section="training")

# Labels: where and how a run executes, never part of its identity (changing them re-runs nothing).
DEVICE = Param("device", str, "cpu", "torch device: cpu, cuda or cuda:N (cuda must be available).", result=False,
               pattern=r"cpu|cuda(:[0-9]+)?", pattern_help="cpu, cuda or cuda:N")
THREADS = Param("threads", int, 1, "torch / XGBoost CPU threads.", minimum=1, result=False)
EXPERIMENT = Param("experiment", str, "", "AIM experiment name [default: the method's, as the original names it].",
                   result=False)
LABELS: tuple[Param, ...] = (DEVICE, THREADS, EXPERIMENT)


def flowpic_resources(params: Mapping[str, Any]) -> JobResources:
    """A flowpic run's scheduler request, by its dim. Measured peaks are 0.4-1 GB at 32 and 64 and about 2 GB at
    1500 (benchmarks/RESULTS.md), given with headroom; CPU runs take under a minute at 32 and 64 and up to an hour
    at 1500 with the slowest augmentations."""
    dim = params.get(FLOWPIC_DIM.name)
    if dim is None or dim <= 32:
        return JobResources(memory_mb=2000, minutes=30)
    if dim <= 64:
        return JobResources(memory_mb=3000, minutes=30)
    return JobResources(memory_mb=8000, minutes=240)

