"""Figure: planning (`snakemake -n`) a 10 000-run campaign (target: under 30 s).

The config is generated: 5 splits x 7 augmentations x 2 dims x 143 seeds = 10 010 runs of the synthetic
ucdavis-icdm19, in a fresh working directory (nothing done yet, so every job is planned). Prints the wall time of the
dry run and of the planning pieces inside it (config validation and the run table), and Snakemake's own floor on this
machine: the dry run of a one-rule workflow with the same number of jobs, one input and one log each. `--against DIR`
also plans the same campaign with the Snakefile and code of another checkout DIR, in this invocation.
Usage: python benchmarks/bench_dry_run.py [--seeds 143] [--no-floor] [--against DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from _common import ROOT, machine


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=143, help="seeds per grid point (143 gives 10 010 runs)")
    parser.add_argument("--no-floor", action="store_true", help="skip the one-rule workflow of the same size")
    parser.add_argument("--against", type=Path, default=None, help="another checkout to plan the same campaign with")
    args = parser.parse_args()
    config = {"campaign_id": "bench-plan", "dataset": {"name": "ucdavis-icdm19"},
              "grid": {"split_index": [0, 1, 2, 3, 4],
                       "aug_name": ["noaug", "rotate", "horizontalflip", "colorjitter", "packetloss", "changertt", "timeshift"],
                       "flowpic_dim": [32, 64], "seed": list(range(args.seeds))}}
    print(f"machine: {machine()}")
    from tcbench.campaign.compose import complete_config
    from tcbench.campaign.grid import campaign_runs

    t0 = time.perf_counter()
    runs = campaign_runs(complete_config(yaml.safe_load(yaml.safe_dump(config))))
    print(f"run table ({len(runs)} runs, validation + keys): {time.perf_counter() - t0:.2f} s")
    for name, root in [("ours", ROOT)] + ([("against", args.against.resolve())] if args.against else []):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "plan.yaml"
            path.write_text(yaml.safe_dump(config))
            wall, out = dry_run(["-s", str(root / "Snakefile"), "-d", tmp, "--configfile", str(path)],
                                pythonpath=str(root) if name == "against" else None)
        jobs = [line for line in out.splitlines() if line.strip().startswith("train ")]
        print(f"{name}: `snakemake -n` of {len(runs)} runs: {wall:.1f} s ({jobs[0].strip() if jobs else 'job table not found'})")
    if not args.no_floor:
        with tempfile.TemporaryDirectory() as tmp:
            (Path(tmp) / "Snakefile").write_text(FLOOR_SNAKEFILE.format(n=len(runs)))
            wall, _ = dry_run(["-s", str(Path(tmp) / "Snakefile"), "-d", tmp])
        print(f"Snakemake floor, one-rule workflow of {len(runs)} jobs: {wall:.1f} s")


# The least a Snakemake job can be: one input, one output, one log, a shell command.
FLOOR_SNAKEFILE = """
KEYS = [f"{{i:016x}}" for i in range({n})]
rule all:
    input: expand("runs/{{k}}/marker.json", k=KEYS)
rule data:
    output: "data/dataset.json"
    shell: "touch {{output}}"
rule train:
    input: "data/dataset.json"
    output: "runs/{{k}}/marker.json"
    log: "logs/{{k}}.log"
    shell: "echo {{wildcards.k}} > {{output}} 2> {{log}}"
"""


def dry_run(args: list[str], pythonpath: str | None = None) -> tuple[float, str]:
    """Wall seconds and output of `snakemake -n --quiet rules` with the given arguments, in a fresh interpreter."""
    env_bin = str(Path(sys.executable).parent)
    cmd = [sys.executable, "-m", "snakemake", *args, "-n", "--quiet", "rules"]
    env = {"PATH": f"{env_bin}:/usr/bin:/bin", **({"PYTHONPATH": pythonpath} if pythonpath else {})}
    t0 = time.perf_counter()
    # `python -m` imports from the working directory first: run another checkout's code from its own folder.
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=pythonpath)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"dry run failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    return wall, proc.stdout + proc.stderr


if __name__ == "__main__":
    main()
