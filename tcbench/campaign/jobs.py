"""What the workflow's jobs inherit from the process that plans them.

Every rule runs `tcbench ...` in a shell. Which `tcbench` that is must not depend on the user's PATH: running
`.venv/bin/snakemake` without activating the environment would otherwise fail every job with "tcbench: command not
found", or run another installation's code. The jobs therefore find first the scripts of the Python that runs
Snakemake (on a SLURM node, each job re-runs Snakemake with that same Python, which does the same there).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path


def use_running_python() -> Path:
    """Put the running Python's scripts folder first on PATH (for this process and the jobs it starts)."""
    scripts = Path(sys.executable).parent
    entries = [p for p in os.environ.get("PATH", "").split(os.pathsep) if p and Path(p) != scripts]
    os.environ["PATH"] = os.pathsep.join([str(scripts), *entries])
    return scripts
