"""The campaign grid and content keys, shared by the Snakefile and the CLI so both plan the same runs.

A run's identity is the canonical JSON of every parameter that changes its result; its ``run_key`` (a sha256
prefix) names the folder ``results/runs/<run_key>/``. Campaigns that share a grid point therefore share the
run, and editing one hyper-parameter in the config changes exactly the keys of the affected runs.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tcbench import RESULTS_VERSION

# Settings that change a run's numbers, per method, with the type each is normalised to before hashing (YAML's 15
# and the CLI's 15.0 must give the same key). Device and threads do not change results and stay out of the key;
# so do settings a method does not use (changing `epochs` must not re-run XGBoost runs).
_COMMON_TYPES: dict[str, type] = {
    "train_val_split_ratio": float,
    "max_samples_per_class": int,
    "test_leftover": bool,
}
RESULT_SETTING_TYPES: dict[str, dict[str, type]] = {
    "monolithic": {
        "epochs": int,
        "batch_size": int,
        "learning_rate": float,
        "patience_steps": int,
        "patience_min_delta": float,
        "with_dropout": bool,
        "flowpic_block_duration": float,
        "suppress_val_augmentation": bool,
        "aug_samples": int,
        **_COMMON_TYPES,
    },
    "xgboost": {"flow_representation": str, "flowpic_block_duration": float, **_COMMON_TYPES},
}


def _names(value: Any) -> list[str]:
    """A list of names from a list or a comma-separated string (the CLI's form)."""
    if isinstance(value, str):
        return [v.strip() for v in value.split(",") if v.strip()]
    return [str(v) for v in value]


# SimCLR (reference 5.2): the pre-training's settings, shared by every finetune that starts from it, and the
# finetune's own. A run's key covers both; the pre-training's key covers only its part (see pretrain_params).
RESULT_SETTING_TYPES["simclr-pretrain"] = {
    "augmentations": _names,
    "temperature": float,
    "cl_learning_rate": float,
    "cl_epochs": int,
    "cl_patience_steps": int,
    "cl_batch_size": int,
    "with_dropout": bool,
    "flowpic_block_duration": float,
    "train_val_split_ratio": float,
}
RESULT_SETTING_TYPES["simclr"] = {
    **RESULT_SETTING_TYPES["simclr-pretrain"],
    "ft_learning_rate": float,
    "ft_epochs": int,
    "ft_patience_steps": int,
    "ft_patience_min_delta": float,
    "ft_train_samples": int,
    "ft_batch_size": int,
}
PRETRAIN_AXES = ("split_index", "contrastive_learning_seed", "flowpic_dim", "with_dropout", "projection_layer_dim")
DEFAULT_EXPERIMENTS = {"monolithic": "augmentation-at-loading", "simclr": "contrastive-learning-and-finetune"}
# Grid axes and the type of their values.
AXIS_TYPES: dict[str, type] = {
    "with_dropout": bool,
    "split_index": int,
    "aug_name": str,
    "flowpic_dim": int,
    "seed": int,
    "max_n_pkts": int,
    "contrastive_learning_seed": int,
    "finetune_seed": int,
    "projection_layer_dim": int,
}

RUN_KEY_LENGTH = 16


@dataclass(frozen=True)
class RunSpec:
    """One grid point: its content key, 1-based position in the campaign and every parameter of the run."""

    run_key: str
    campaign_exp_idx: int
    params: dict[str, Any]


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def run_key(params: dict[str, Any]) -> str:
    """Content address of a run: sha256 of its canonical parameters and the results version of the code."""
    payload = canonical_json({"results_version": RESULTS_VERSION, **params})
    return hashlib.sha256(payload.encode()).hexdigest()[:RUN_KEY_LENGTH]


def dataset_spec(config: dict[str, Any]) -> dict[str, Any]:
    """The part of the dataset configuration that identifies the data (not where it is stored)."""
    dataset = config["dataset"]
    if dataset["source"] == "imported":
        from tcbench.data.dataset_info import read_dataset_spec

        # The importer wrote the identity (with the data's sha256); runs read the same file, so keys agree.
        return with_min_pkts(read_dataset_spec(dataset_paths(config).root), dataset_min_pkts(config))
    spec: dict[str, Any] = {"name": dataset["name"], "source": dataset["source"]}
    if dataset["source"] == "synthetic":
        from tcbench.data.synthetic import GENERATOR_VERSION

        spec["synthetic"] = {**dict(sorted(dataset["synthetic"].items())), "generator_version": GENERATOR_VERSION}
    return spec


def with_min_pkts(spec: dict[str, Any], min_pkts: int) -> dict[str, Any]:
    """A dataset identity plus the filtered variant used (runs on minpkts10 and minpkts1000 differ)."""
    return {**spec, "min_pkts": min_pkts} if min_pkts > 0 else spec


def build_run_params(
    method: str, dataset: dict[str, Any], splits: dict[str, Any], point: dict[str, Any], settings: dict[str, Any]
) -> dict[str, Any]:
    """The canonical parameter dict of a run (grid point + the method's result settings); the CLI and the
    Snakefile both build it here, so a run started by hand lands in the same folder as the workflow's."""
    if method not in RESULT_SETTING_TYPES:
        raise ValueError(f"unknown method {method!r}; valid values: {sorted(RESULT_SETTING_TYPES)}")
    merged = {**settings, **point}
    return {
        "method": method,
        "dataset": dataset,
        "splits": {"n_splits": int(splits["n_splits"]), "samples_per_class": int(splits["samples_per_class"])},
        **{axis: AXIS_TYPES[axis](value) for axis, value in point.items()},
        **{key: cast(merged[key]) for key, cast in RESULT_SETTING_TYPES[method].items()},
    }


def method_settings(config: dict[str, Any]) -> dict[str, Any]:
    """The config values a run's settings come from: the training section plus the method's own section."""
    return {**config["training"], **config.get(config["method"], {})}


def grid_axes(config: dict[str, Any]) -> list[tuple[str, list[Any]]]:
    """(axis, values) in the original's product order for the configured method.

    monolithic: split_index x aug_name x flowpic_dim x seed (seeds vary fastest), with an optional leading
    with_dropout axis (the dropout-impact campaign). xgboost: split_index x seed x (flowpic_dim for flowpic inputs,
    max_n_pkts for packet series), the original's order with its forced `noaug` axis left out. simclr: split_index x
    contrastive_learning_seed x finetune_seed x flowpic_dim (x with_dropout) x projection_layer_dim.
    """
    grid = config["grid"]
    dropout = ["with_dropout"] if "with_dropout" in grid else []
    if config["method"] == "xgboost":
        last = "flowpic_dim" if config["xgboost"]["flow_representation"] == "flowpic" else "max_n_pkts"
        names = ["split_index", "seed", last]
    elif config["method"] == "simclr":
        names = ["split_index", "contrastive_learning_seed", "finetune_seed", "flowpic_dim", *dropout, "projection_layer_dim"]
    else:
        names = [*dropout, "split_index", "aug_name", "flowpic_dim", "seed"]
    missing = [n for n in names if n not in grid]
    if missing:
        raise ValueError(f"grid: missing axis {missing} for method {config['method']!r}; axes: {names}")
    return [(name, list(grid[name])) for name in names]


def campaign_runs(config: dict[str, Any]) -> list[RunSpec]:
    """Every run of the campaign in the original's order, with 1-based campaign_exp_idx."""
    axes = grid_axes(config)
    names = [name for name, _ in axes]
    dataset, settings = dataset_spec(config), method_settings(config)
    runs = []
    seen: dict[str, int] = {}
    for idx, values in enumerate(itertools.product(*(v for _, v in axes)), start=1):
        point = dict(zip(names, values))
        params = build_run_params(config["method"], dataset, config["splits"], point, settings)
        key = run_key(params)
        if key in seen:
            raise ValueError(f"grid point {point} repeats run {seen[key]}: remove duplicate values from grid")
        seen[key] = idx
        runs.append(RunSpec(run_key=key, campaign_exp_idx=idx, params=params))
    return runs


def pretrain_params(params: dict[str, Any]) -> dict[str, Any]:
    """The parameters of the pre-training a SimCLR run finetunes from: its key is shared by every finetune seed
    (and finetune setting) of the same pre-training, so 5 pre-training x 5 finetune seeds train 5 backbones."""
    if params.get("method") != "simclr":
        raise ValueError(f"only simclr runs have a pre-training, got method {params.get('method')!r}")
    kept = [*PRETRAIN_AXES, *RESULT_SETTING_TYPES["simclr-pretrain"]]
    return {"method": "simclr-pretrain", "dataset": params["dataset"], "splits": params["splits"],
            **{key: params[key] for key in kept}}


def experiment_name(config: dict[str, Any]) -> str:
    """The configured AIM experiment, else the original's run default of the method."""
    if config.get("experiment"):
        return str(config["experiment"])
    if config["method"] == "xgboost":
        return f"xgb_{config['xgboost']['flow_representation']}"
    return DEFAULT_EXPERIMENTS[config["method"]]


def dataset_id(config: dict[str, Any]) -> str:
    """Folder name of the configured dataset under datasets_dir."""
    dataset = config["dataset"]
    if dataset["source"] == "synthetic":
        from tcbench.data.synthetic import synthetic_dataset_id

        syn = dataset["synthetic"]
        return synthetic_dataset_id(syn["seed"], syn["scale"], syn["lookalikes"])
    return dataset["name"]


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

    @property
    def flowpic_prefix(self) -> str:
        return f"{self.variant}_" if self.variant else ""

    def flowpics(self, dim: int, block_duration: float) -> Path:
        return self.root / "flowpics" / f"{self.flowpic_prefix}flowpic_dim{dim}_block{block_duration:g}.npz"


UCDAVIS = "ucdavis-icdm19"


def dataset_min_pkts(config: dict[str, Any]) -> int:
    """The filtered variant a campaign uses: -1 for ucdavis-icdm19 (no filter), else ``dataset.min_pkts``."""
    dataset = config["dataset"]
    return -1 if dataset["name"] == UCDAVIS else int(dataset.get("min_pkts", 10))


def dataset_paths(config: dict[str, Any]) -> DatasetPaths:
    return DatasetPaths(Path(config["datasets_dir"]) / dataset_id(config), config["dataset"]["name"], dataset_min_pkts(config))
