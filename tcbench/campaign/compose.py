"""A campaign config from command-line options, and the original's dry-run composition printout.

`tcbench campaign augment-at-loading` builds the same config a YAML file would hold, validates it against the
workflow's schema, and plans it with the same grid as the Snakefile, so its dry run counts exactly the runs
`snakemake -n` plans.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tcbench.campaign.config import prepare_config
from tcbench.campaign.grid import campaign_method, campaign_runs, grid_axes, pre_steps

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA = REPO_ROOT / "workflow" / "schemas" / "config.schema.yaml"
SNAKEFILE = REPO_ROOT / "Snakefile"
PROFILES = REPO_ROOT / "profiles"


def resolve_profile(profile: str) -> Path:
    """A Snakemake profile folder: ``profile`` itself when it is one, else the project's profiles/<profile>, so
    `--profile slurm-gpu` works from any directory. Unknown names are an error listing the project's profiles."""
    given = Path(profile)
    if (given / "config.yaml").is_file():
        return given
    if (PROFILES / profile / "config.yaml").is_file():
        return PROFILES / profile
    names = ", ".join(sorted(p.name for p in PROFILES.iterdir() if (p / "config.yaml").is_file()))
    raise FileNotFoundError(f"--profile {profile}: no config.yaml in {given.resolve()} and not a profile of this "
                            f"project (valid: {names}, or a folder holding a Snakemake profile config.yaml)")



def complete_config(config: dict[str, Any]) -> dict[str, Any]:
    """Validate (readable errors first) and fill in the schema defaults, as the Snakefile does."""
    if not SCHEMA.exists():
        raise FileNotFoundError(f"{SCHEMA} not found: run tcbench from a clone of the repository (pip install -e .)")
    return prepare_config(config, SCHEMA)


def composition(config: dict[str, Any]) -> str:
    """The original's dry-run banner and axes (`name (count): [values]`), plus the total number of runs."""
    runs = campaign_runs(config)
    method = campaign_method(config)
    labels = [(method.param(name).axis_title, values) for name, values in grid_axes(config)]
    width = max(len(label) for label, _ in labels)
    lines = ["#" * 10, f"# campaign_id: {config['campaign_id']} | run 1/{len(runs)} - time to completion 0:00:00", "#" * 10]
    for label, values in labels:
        lines.append(f"{f'{label:<{width}} ({len(values)})'}: {values}")
    lines.append(f"method: {method.name}{method.describe(config)}")
    if method.pre_step is not None:
        lines.append(f"pre-trainings: {len(pre_steps(runs))} (each shared by its finetune seeds)")
    lines.append(f"total runs: {len(runs)}")
    return "\n".join(lines)
