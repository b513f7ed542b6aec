"""``python -m tcbench``: the CLI, usable without the console script on PATH (Snakemake jobs use this)."""

from tcbench.cli.main import main

main()
