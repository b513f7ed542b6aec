"""Validate a synthetic stand-in version against the paper's findings, through the real workflow.

Runs three campaigns with `snakemake` on the synthetic ucdavis-icdm19 of the given generator version and seed, in a
work folder of their own (its own results and datasets folders, so nothing of the project's results is touched):

- table 4: supervised flowpic CNN at dim 32 with dropout, every augmentation, splits x seeds;
- table 5: SimCLR (changertt + timeshift views, projection 30, no dropout, 10 finetune flows per class);
- table 3: XGBoost on the first 10 packets.

Then it reads what the workflow wrote (the per-run results in ``runsinfo*.parquet``, the Holm-adjusted paired
comparisons in ``comparison*.csv``, the per-run test-human confusion matrices) and prints each target with its
measured value, its 95 % interval and pass/fail. Exit status 0 when every target that was measured passes.

The full grids (5 splits x 3 seeds per cell, SimCLR 5 splits x 5 x 5) are the paper's; ``--quick`` or the axis
options shrink them for a probe (fewer pairs: wider intervals, weaker tests). Runs are content-addressed, so
re-running with a larger grid in the same work folder trains only the new runs.

Usage:
  python benchmarks/validate_synthetic.py --seed 12345 --cores 2
  python benchmarks/validate_synthetic.py --quick --cores 1 --nice        # 5 splits x 1 seed, small SimCLR grid
  python benchmarks/validate_synthetic.py --splits 0,1 --seeds 12345 --augs noaug,changertt --skip simclr,xgboost
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
AUGS = ("noaug", "rotate", "horizontalflip", "colorjitter", "packetloss", "changertt", "timeshift")
HUMAN, SCRIPT = "test-human", "test-script"
CLASSES = ("google-doc", "google-drive", "google-music", "google-search", "youtube")
PARTS = ("table4", "simclr", "xgboost")


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=12345, help="generator seed (dataset.synthetic.seed)")
    ap.add_argument("--generator-version", type=int, default=3, help="dataset.synthetic.generator_version")
    ap.add_argument("--cores", default="2", help="snakemake --cores")
    ap.add_argument("--nice", action="store_true", help="run snakemake (and so every job) at nice 19")
    ap.add_argument("--work", type=Path, default=None,
                    help="work folder (results and datasets); default: /tmp/tcbench-validate/v<version>-seed<seed>")
    ap.add_argument("--splits", default="0,1,2,3,4", help="train splits, comma list")
    ap.add_argument("--seeds", default="12345,42,666", help="run seeds of the supervised and XGBoost grids")
    ap.add_argument("--augs", default=",".join(AUGS), help="augmentations of the table-4 grid (noaug is always added)")
    ap.add_argument("--cl-seeds", default="12345,1,2,3,4", help="SimCLR pre-training seeds")
    ap.add_argument("--ft-seeds", default="12345,1,2,3,4", help="SimCLR finetune seeds")
    ap.add_argument("--skip", default="", help=f"parts to leave out, comma list of {', '.join(PARTS)}")
    ap.add_argument("--quick", action="store_true",
                    help="a probe: run seed 12345 only, SimCLR pre-training seed 12345 and finetune seeds 12345,1,2")
    ap.add_argument("--dry-run", action="store_true", help="write the configs and show snakemake's plan only")
    ap.add_argument("--report-only", action="store_true", help="read the work folder's results, run nothing")
    args = ap.parse_args(argv)
    if args.quick:
        args.seeds, args.cl_seeds, args.ft_seeds = "12345", "12345", "12345,1,2"
    skip = {s for s in args.skip.split(",") if s}
    if skip - set(PARTS):
        ap.error(f"--skip: unknown part(s) {sorted(skip - set(PARTS))}; valid: {list(PARTS)}")
    args.parts = [p for p in PARTS if p not in skip]
    augs = [a for a in args.augs.split(",") if a]
    if set(augs) - set(AUGS):
        ap.error(f"--augs: unknown {sorted(set(augs) - set(AUGS))}; valid: {list(AUGS)}")
    args.aug_list = ["noaug"] + [a for a in AUGS if a in augs and a != "noaug"]
    args.work = args.work or Path("/tmp/tcbench-validate") / f"v{args.generator_version}-seed{args.seed}"
    return args


# ---------------------------------------------------------------------------------------------------------------
# Campaign configs
# ---------------------------------------------------------------------------------------------------------------


def _dataset(args: argparse.Namespace) -> dict:
    return {"name": "ucdavis-icdm19", "source": "synthetic",
            "synthetic": {"seed": args.seed, "scale": 1.0, "lookalikes": True,
                          "generator_version": args.generator_version}}


def campaign_configs(args: argparse.Namespace) -> dict[str, dict]:
    """The campaigns of the selected parts, each a complete config (the paper's settings, the chosen axes)."""
    tag = f"validate-v{args.generator_version}-seed{args.seed}"
    # replace_campaign: a campaign folder of an earlier, smaller grid is moved aside (its runs are reused).
    common = {"results_dir": str(args.work / "results"), "datasets_dir": str(args.work / "datasets"),
              "replace_campaign": True,
              "dataset": _dataset(args), "splits": {"n_splits": 5, "samples_per_class": 100},
              "resources": {"device": "cpu", "threads_per_run": 1}}
    configs = {}
    if "table4" in args.parts:
        configs["table4"] = {
            **common, "campaign_id": f"{tag}-table4", "method": "monolithic",
            "grid": {"split_index": _ints(args.splits), "aug_name": args.aug_list, "flowpic_dim": [32],
                     "seed": _ints(args.seeds)},
            "training": {"epochs": 50, "batch_size": 32, "learning_rate": 0.001, "patience_steps": 5,
                         "with_dropout": True, "test_leftover": False},
            **({"report": {"compare_by": "aug_name", "baseline": "noaug"}} if len(args.aug_list) > 1 else {}),
        }
    if "simclr" in args.parts:
        configs["simclr"] = {
            **common, "campaign_id": f"{tag}-simclr", "method": "simclr",
            "grid": {"split_index": _ints(args.splits), "contrastive_learning_seed": _ints(args.cl_seeds),
                     "finetune_seed": _ints(args.ft_seeds), "flowpic_dim": [32], "with_dropout": [False],
                     "projection_layer_dim": [30]},
            "simclr": {"augmentations": ["changertt", "timeshift"], "ft_train_samples": 10},
        }
    if "xgboost" in args.parts:
        configs["xgboost"] = {
            **common, "campaign_id": f"{tag}-xgboost", "method": "xgboost",
            "xgboost": {"flow_representation": "pktseries"},
            "grid": {"split_index": _ints(args.splits), "seed": _ints(args.seeds), "max_n_pkts": [10]},
        }
    return configs


def run_campaign(name: str, config: dict, args: argparse.Namespace) -> None:
    path = args.work / "configs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(ROOT / "Snakefile"), "-d", str(ROOT), "--configfile", str(path),
           "--cores", str(args.cores), "--rerun-incomplete"]
    if args.dry_run:
        cmd.append("-n")
    else:
        cmd.append("--quiet")
    if args.nice:
        cmd = ["nice", "-n", "19", *cmd]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    t0 = time.perf_counter()
    print(f"[{name}] {' '.join(cmd[-9:])}", flush=True)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-6000:] + proc.stderr[-6000:])
        raise SystemExit(f"[{name}] snakemake failed ({proc.returncode}); config: {path}")
    if args.dry_run:
        lines = proc.stdout.splitlines()
        first = next((i for i, line in enumerate(lines) if line.startswith("job ")), 0)
        end = next((i for i in range(first, len(lines)) if lines[i].startswith("total")), first)
        print("\n".join(lines[first:end + 1]))
    print(f"[{name}] done in {time.perf_counter() - t0:.0f} s", flush=True)


# ---------------------------------------------------------------------------------------------------------------
# Reading the results
# ---------------------------------------------------------------------------------------------------------------


def campaign_dir(config: dict) -> Path:
    return Path(config["results_dir"]) / "campaigns" / config["campaign_id"]


def runsinfo(config: dict):
    import pandas as pd

    files = sorted((campaign_dir(config) / "campaign_summary").glob("runsinfo*.parquet"))
    if not files:
        raise SystemExit(f"no runsinfo in {campaign_dir(config)}: run the campaign first")
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def comparisons(config: dict):
    import pandas as pd

    files = sorted((campaign_dir(config) / "campaign_summary").glob("comparison*.csv"))
    return pd.concat([pd.read_csv(f) for f in files], ignore_index=True) if files else None


def mean_ci(values: Sequence[float]) -> tuple[float, float, float, int]:
    """Mean and its two-sided 95 % Student-t interval (as the project's summaries compute ci95)."""
    from scipy import stats

    x = np.asarray(values, dtype=float)
    n = len(x)
    m = float(x.mean()) if n else math.nan
    if n < 2:
        return m, math.nan, math.nan, n
    half = float(stats.t.ppf(0.975, n - 1) * x.std(ddof=1) / math.sqrt(n))
    return m, m - half, m + half, n


def confusion(config: dict, keys: Sequence[str], context: str) -> np.ndarray:
    """The summed confusion matrix (rows: truth, columns: prediction, in CLASSES order) of the given runs."""
    import pandas as pd

    total = np.zeros((len(CLASSES), len(CLASSES)))
    for key in keys:
        frame = pd.read_csv(Path(config["results_dir"]) / "runs" / key / "artifacts" / f"{context}_conf_mtx.csv",
                            index_col=0)
        total += frame.loc[list(CLASSES), list(CLASSES)].to_numpy()
    return total


@dataclass
class Target:
    name: str
    goal: str
    value: float | str
    interval: str
    ok: bool | None  # None: not measured

    def line(self) -> str:
        verdict = {True: "pass", False: "FAIL", None: "n/a"}[self.ok]
        value = f"{self.value:.2f}" if isinstance(self.value, float) else str(self.value)
        return f"{self.name:<44} {self.goal:<22} {value:>10}  {self.interval:<26} {verdict}"


def _interval(lo: float, hi: float, n: int) -> str:
    return f"[{lo:.2f}, {hi:.2f}] n={n}" if not math.isnan(lo) else f"n={n}"


def evaluate_targets(configs: dict[str, dict]) -> list[Target]:
    targets: list[Target] = []
    sup_human = sup_script = None
    if "table4" in configs:
        cfg = configs["table4"]
        runs = runsinfo(cfg)
        noaug = runs[runs.aug_name == "noaug"]
        sup_human = mean_ci(noaug[noaug.test_split_name == HUMAN].acc)
        sup_script = mean_ci(noaug[noaug.test_split_name == SCRIPT].acc)
        targets.append(Target("test-human noaug mean", "in [64, 74]", sup_human[0], _interval(*sup_human[1:]),
                              64 <= sup_human[0] <= 74))
        targets.append(Target("test-script noaug mean", "in [93, 97]", sup_script[0], _interval(*sup_script[1:]),
                              93 <= sup_script[0] <= 97))
        gap = sup_script[0] - sup_human[0]
        targets.append(Target("human gap (script - human, noaug)", "in [18, 30]", gap, "", 18 <= gap <= 30))
        spread = float(noaug[noaug.test_split_name == HUMAN].acc.std(ddof=1)) if len(noaug) > 2 else math.nan
        targets.append(Target("test-human noaug sd over runs (info)", "> 0", spread, "", None if math.isnan(spread)
                              else spread > 0))
        comp = comparisons(cfg)
        augs = [a for a in AUGS if a != "noaug" and a in set(runs.aug_name)]
        if comp is not None and augs:
            comp = comp[(comp.metric == "acc") & (comp.baseline.astype(str) == "noaug")]

            def row(aug: str, context: str):
                sel = comp[(comp.compared.astype(str) == aug) & (comp.test_split_name == context)]
                return sel.iloc[0] if len(sel) else None

            for aug in ("changertt", "timeshift"):
                r = row(aug, HUMAN)
                if r is None:
                    continue
                targets.append(Target(f"{aug} - noaug, test-human", ">= +1.5, Holm p<0.05", float(r.mean_diff),
                                      f"[{r.ci95_low:.2f}, {r.ci95_high:.2f}] holm_p={r.holm_p:.3g} n={int(r.n_pairs)}",
                                      bool(r.mean_diff >= 1.5 and r.holm_p < 0.05)))
            if len(augs) == 6:
                for context, threshold, need, goal in ((HUMAN, 0.0, 4, "> 0"), (SCRIPT, 0.5, 4, ">= +0.5")):
                    diffs = {a: float(row(a, context).mean_diff) for a in augs if row(a, context) is not None}
                    good = [a for a, d in diffs.items() if (d > threshold if threshold == 0 else d >= threshold)]
                    targets.append(Target(f"augmentations {goal} over noaug, {context}", f">= {need} of 6",
                                          f"{len(good)} of 6", ", ".join(f"{a[:5]} {d:+.2f}" for a, d in diffs.items()),
                                          len(good) >= need))
            for context in (HUMAN, SCRIPT):
                for aug in augs:
                    r = row(aug, context)
                    if r is not None:
                        targets.append(Target(f"  {aug} - noaug, {context} (info)", "", float(r.mean_diff),
                                              f"[{r.ci95_low:.2f}, {r.ci95_high:.2f}] holm_p={r.holm_p:.3g}", None))
        for label, keys in (("all supervised runs", runs.run_key.unique()),
                            ("noaug runs", noaug.run_key.unique())):
            cm = confusion(cfg, keys, HUMAN)
            off = cm.copy()
            np.fill_diagonal(off, 0)
            i, j = np.unravel_index(int(off.argmax()), off.shape)
            search, doc = CLASSES.index("google-search"), CLASSES.index("google-doc")
            targets.append(Target(f"largest test-human error cell ({label})", "search -> doc",
                                  f"{CLASSES[i][7:] if i < 4 else 'youtube'}->{CLASSES[j][7:] if j < 4 else 'youtube'}",
                                  f"{off[i, j] / len(keys):.1f} flows/run; search->doc {off[search, doc] / len(keys):.1f}",
                                  (i, j) == (search, doc)))
    if "simclr" in configs:
        runs = runsinfo(configs["simclr"])
        human = mean_ci(runs[runs.test_split_name == HUMAN].acc)
        script = mean_ci(runs[runs.test_split_name == SCRIPT].acc)
        if sup_human is not None:
            diff = human[0] - sup_human[0]
            targets.append(Target("SimCLR - supervised noaug, test-human", ">= +2", diff,
                                  f"SimCLR {human[0]:.2f} {_interval(*human[1:])}", diff >= 2))
        else:
            targets.append(Target("SimCLR test-human mean (info)", "", human[0], _interval(*human[1:]), None))
        targets.append(Target("SimCLR test-script mean (info)", "", script[0], _interval(*script[1:]), None))
    if "xgboost" in configs:
        runs = runsinfo(configs["xgboost"])
        human = mean_ci(runs[runs.test_split_name == HUMAN].acc)
        script = mean_ci(runs[runs.test_split_name == SCRIPT].acc)
        if sup_human is not None:
            targets.append(Target("XGBoost pktseries-10 < CNN, test-human", f"< {sup_human[0]:.2f}", human[0],
                                  _interval(*human[1:]), human[0] < sup_human[0]))
        else:
            targets.append(Target("XGBoost test-human mean (info)", "", human[0], _interval(*human[1:]), None))
        targets.append(Target("XGBoost test-script mean (info)", "", script[0], _interval(*script[1:]), None))
    return targets


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    configs = campaign_configs(args)
    print(f"generator version {args.generator_version}, seed {args.seed}; work folder {args.work}; parts {args.parts}")
    if not args.report_only:
        for name, config in configs.items():
            run_campaign(name, config, args)
    if args.dry_run:
        return 0
    targets = evaluate_targets(configs)
    print(f"\n{'target':<44} {'goal':<22} {'measured':>10}  {'interval':<26} result")
    for t in targets:
        print(t.line())
    failed = [t for t in targets if t.ok is False]
    measured = [t for t in targets if t.ok is not None]
    print(f"\n{len(measured) - len(failed)} of {len(measured)} measured targets pass")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
