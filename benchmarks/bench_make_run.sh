#!/usr/bin/env bash
# Figure: the default campaign (config/config.yaml) with `make run` from a fresh clone, install time reported apart.
# Usage: bash benchmarks/bench_make_run.sh [clone-dir]   (clones the committed HEAD of this repository)
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
dst="${1:-$(mktemp -d)/fresh}"
git clone --quiet "$src" "$dst"
cd "$dst"
t0=$(date +%s.%N)
make install > install.log 2>&1
t1=$(date +%s.%N)
make run > run.log 2>&1
t2=$(date +%s.%N)
make run > rerun.log 2>&1
t3=$(date +%s.%N)
echo "machine: $(uname -m), $(nproc) cores; clone: $dst"
printf 'make install (venv + torch + deps): %.0f s\n' "$(echo "$t1 - $t0" | bc)"
printf 'make run, default campaign (%s train jobs): %.0f s\n' "$(ls results/runs | wc -l)" "$(echo "$t2 - $t1" | bc)"
printf 'make run again (nothing to do): %.1f s\n' "$(echo "$t3 - $t2" | bc)"
grep -q "Nothing to be done" rerun.log && echo "re-run trained nothing: yes" || echo "re-run trained nothing: NO"
tail -n 25 run.log
