"""tcbench: reproducible traffic-classification modeling campaigns driven by Snakemake.

Data flows one way through the subpackages:
data -> features -> augment -> training -> tracking -> reporting; `campaign` holds the grid shared by the
Snakefile and the CLI, `cli` the click commands.
"""

__version__ = "0.1.0"

# Bumped whenever a code change alters the numbers a run produces. It is part of every run_key, so results
# computed by an older code version are never silently reused for a newer one.
RESULTS_VERSION = 1
