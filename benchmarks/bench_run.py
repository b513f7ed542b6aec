"""Figures: wall time and peak RSS of one full run, and its fixed per-run overhead.

The run: full-scale synthetic ucdavis-icdm19 (seed 12345), split 0, seed 12345, noaug, defaults (50 epochs max,
early stopping, three test sets incl. the 6 172-flow leftover), dim 32 and dim 64, in its own process with the AIM
template copy, as a Snakemake job runs it: by default `tcbench run job '<params JSON>'` (the job command), with
`--cli` the human command `tcbench run augment-at-loading --options`.
Fixed overhead, as the issue defines it = process start to the first training step, plus AIM writing and the
marker = process wall time minus the training loop minus the tests (inference and report files).
`--against DIR` times the same runs with the code of another checkout DIR (e.g. `git worktree add /tmp/old <rev>`)
through its `tcbench run augment-at-loading`, interleaved with ours in this one invocation, and prints the ratio of
the fixed overheads (these machines are noisy: compare side by side, never across invocations).
With several dims it prints each augmentation's wall-time ratio to the smallest dim (issue 10's targets: a dim-1500
noaug run within 4x of the dim-32 one, a changertt run within 8x).
Usage: python benchmarks/bench_run.py [--dims 32,64] [--repeat 2] [--augs noaug,changertt] [--threads 2]
       python benchmarks/bench_run.py --dims 32,1500 --repeat 1 --augs noaug,changertt
       python benchmarks/bench_run.py --dims 32 --repeat 5 --against /tmp/old
       python benchmarks/bench_run.py --xgboost pktseries --dims 32 --repeat 2      (XGBoost pktseries-10 run)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ensure_full_dataset, machine, timed_child

from tcbench.augment import AUGMENTATIONS


def job_command(dataset: Path, results: Path, template: Path, cli_args: list[str], threads: int) -> list[str]:
    """`tcbench run job` with the parameters the CLI options give (the workflow's grid builds the same JSON)."""
    from tcbench.cli.run import RunCommands
    from tcbench.data.dataset_info import read_dataset_spec
    from tcbench.methods import get_method
    from tcbench.runs.identity import canonical_json, run_key, run_params

    command = RunCommands().get_command(None, "augment-at-loading")  # type: ignore[arg-type]
    ctx = command.make_context("augment-at-loading", ["--dataset-dir", str(dataset), *cli_args])
    method = get_method(ctx.params["method"])
    params = run_params(method, read_dataset_spec(dataset), {"n_splits": 5, "samples_per_class": 100},
                        {p.name: ctx.params[p.name] for p in method.params()})
    return [sys.executable, "-m", "tcbench", "run", "job", canonical_json(params), "--dataset-dir", str(dataset),
            "--run-dir", str(results / "runs" / run_key(params)), "--aim-template", str(template),
            "--threads", str(threads)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dims", default="32,64", help="flowpic dims to run")
    parser.add_argument("--repeat", type=int, default=2, help="runs per dim (each in a fresh results folder)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads of the run")
    parser.add_argument("--seeds", default="12345", help="run seeds, comma list")
    parser.add_argument("--augs", default="noaug", help="augmentations to run, comma list (or 'all')")
    parser.add_argument("--xgboost", choices=["pktseries", "flowpic"], default=None, help="time an XGBoost run instead")
    parser.add_argument("--cli", action="store_true", help="run through `tcbench run augment-at-loading` options")
    parser.add_argument("--against", type=Path, default=None, help="another checkout to time side by side")
    parser.add_argument("--full-net", default="", help="also run dim-1500 runs on these Full-net paths, comma list "
                        "(sparse,dense): the same run on both, to compare their results and times")
    args = parser.parse_args()
    dataset = ensure_full_dataset()
    tcbench = [sys.executable, "-m", "tcbench"]
    print(f"machine: {machine()}")
    overheads: dict[str, list[float]] = {}
    walls: dict[tuple[str, int], list[float]] = {}  # (variant, dim) -> walls of our runs
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "aim-template"
        subprocess.run([*tcbench, "campaign", "aim-template", "--path", str(template)], check=True, capture_output=True)
        all_dims = [int(d) for d in args.dims.split(",")]
        for dim in all_dims:
            # Build the cache only when missing: rewriting it would make Snakemake re-run every campaign run
            # that reads it (mtime rerun trigger).
            if not (dataset / "flowpics" / f"flowpic_dim{dim}_block15.npz").exists():
                subprocess.run([*tcbench, "datasets", "flowpics", "--dataset-dir", str(dataset), "--dim", str(dim)],
                               check=True, capture_output=True)
        augs = AUGMENTATIONS if args.augs == "all" else args.augs.split(",")
        variants = [["--method", "xgboost", "--input-repr", args.xgboost]] if args.xgboost else [["--aug-name", a] for a in augs]
        # The dims of one repetition run one after the other, so that a ratio compares runs minutes apart (this VM's
        # speed drifts by 20 % within an invocation).
        runs = ((v, s, r, d) for r in range(args.repeat) for v in variants for s in args.seeds.split(",") for d in all_dims)
        for variant, seed, rep, dim in runs:
            options = ["--flowpic-dim", str(dim), "--split-index", "0", "--seed", seed, *variant]
            codes = (["against"] if args.against else []) + ["ours"]
            if dim == 1500 and args.full_net:
                codes += [f"ours-{path}" for path in args.full_net.split(",")]
            for code in codes:
                results = Path(tmp) / f"results-{dim}-{seed}-{rep}-{code}"
                env, cwd = None, None
                if code.startswith("ours-"):
                    env = {**os.environ, "TCBENCH_FULL_NET": code.removeprefix("ours-")}
                if code == "against":
                    cwd = args.against.resolve()  # `python -m` imports tcbench from the working directory first
                    env = {**os.environ, "PYTHONPATH": str(args.against.resolve())}
                    cmd = [*tcbench, "run", "augment-at-loading", "--dataset-dir", str(dataset), *options,
                           "--threads", str(args.threads), "--results-dir", str(results), "--aim-template", str(template)]
                elif args.cli or code.startswith("ours-"):
                    cmd = [*tcbench, "run", "augment-at-loading", "--dataset-dir", str(dataset), *options,
                           "--threads", str(args.threads), "--results-dir", str(results), "--aim-template", str(template)]
                else:
                    cmd = job_command(dataset, results, template, options, args.threads)
                wall, rss, out = timed_child(cmd, env=env, cwd=cwd)
                marker = json.loads(next(results.glob("runs/*/marker.json")).read_text())
                d = marker["durations"]
                overhead = wall - d["train"] - d["test"]
                overheads.setdefault(f"{code} dim {dim}", []).append(overhead)
                if code == "ours":
                    walls.setdefault((" ".join(variant[1::2]), dim), []).append(wall)
                acc = {k: round(v["acc"], 2) for k, v in marker["metrics"].items() if k.startswith("test")}
                if "full_net" in marker:
                    acc["path"] = marker["full_net"]["path"]
                print(f"{code:>7} {' '.join(variant[1::2]):>14} dim {dim:4d} seed {seed} rep {rep}: wall {wall:5.2f} s | peak RSS "
                      f"{rss:5.0f} MiB | train {d['train']:.2f} s ({marker.get('epochs_run', '-')} epochs) | tests "
                      f"{d['test']:.2f} s | fixed overhead {overhead:.2f} s = {overhead / wall:.0%} of wall (in-process "
                      f"setup {d['setup']:.2f} s, AIM close + marker {d['tracking_close']:.2f} s) | run_key "
                      f"{marker['run_key']} | {acc}", flush=True)
                shutil.rmtree(results)
    for name, values in overheads.items():
        print(f"fixed overhead {name}: median {statistics.median(values):.2f} s over {len(values)} runs")
    dims = sorted({dim for _, dim in walls})
    for variant in dict.fromkeys(v for v, _ in walls):
        base = statistics.median(walls[(variant, dims[0])])
        for dim in dims[1:]:
            ratio = statistics.median(walls[(variant, dim)]) / base
            paired = [w / b for w, b in zip(walls[(variant, dim)], walls[(variant, dims[0])])]
            print(f"{variant}: wall at dim {dim} / wall at dim {dims[0]} = {ratio:.2f} (ratio of the medians; per "
                  f"repetition, runs side by side: {', '.join(f'{r:.2f}' for r in paired)})")
    if args.against:
        for dim in args.dims.split(","):
            ours, theirs = overheads[f"ours dim {dim}"], overheads[f"against dim {dim}"]
            print(f"dim {dim}: fixed overhead ours / against = {statistics.median(ours) / statistics.median(theirs):.2f}")


if __name__ == "__main__":
    main()
