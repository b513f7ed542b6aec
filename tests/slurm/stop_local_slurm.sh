#!/usr/bin/env bash
# Undoes start_local_slurm.sh after the integration test, so a developer machine or a reused CI machine is left as it
# was: stops slurmd and slurmctld and removes /etc/slurm/slurm.conf and gres.conf, only where start_local_slurm.sh
# wrote them (a configured cluster is never touched). A config left behind with no controller running makes every
# `scontrol show config`, and so every Snakemake start with the SLURM executor plugin installed, wait 9 s for a
# controller that never answers. Packages, munge and the fake GPU device nodes stay (harmless, and slow to reinstall).
set -uo pipefail
MARK="# written by tcbench tests/slurm/start_local_slurm.sh"
grep -q "$MARK" /etc/slurm/slurm.conf 2>/dev/null || { echo "no SLURM config of ours: nothing to stop"; exit 0; }
pkill -x slurmd; pkill -x slurmctld
for _ in $(seq 1 20); do { pgrep -x slurmd || pgrep -x slurmctld; } >/dev/null || break; sleep 0.5; done
for f in /etc/slurm/slurm.conf /etc/slurm/gres.conf; do grep -q "$MARK" "$f" 2>/dev/null && rm -f "$f"; done
echo "local SLURM stopped and its config removed"
