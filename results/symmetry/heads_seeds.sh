#!/usr/bin/env bash
# q's translation head over seeds: for each SEED, the recipe of $FLAGFILE (default
# flags/mnist_per_class.cfg) end to end with the paper's head (--translation_head=linear) and
# with --translation_head=centroid, same seed and flags otherwise; each run evaluated.
# Resumable: a finished run or evaluation is skipped, an interrupted one resumes.
#   bash results/symmetry/heads_seeds.sh RUNS_DIR SEED [SEED ...] -- [flags for both runs ...]
# then: python results/symmetry/summarise.py OUT.csv linear_s0=RUNS_DIR/linear_s0 centroid_s0=… …
#       python results/symmetry/paired.py OUT.csv centroid linear PAIRED.csv
set -euo pipefail
flagfile=${FLAGFILE:-flags/mnist_per_class.cfg}
runs=$1; shift
seeds=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do seeds+=("$1"); shift; done
[ $# -gt 0 ] && shift
for s in "${seeds[@]}"; do
  for head in linear centroid; do
    d=$runs/${head}_s$s
    [ -f "$d/metrics.json" ] || python -m trainers.train --flagfile="$flagfile" "$@" \
      --translation_head=$head --seed="$s" --model_dir="$d"
    [ -f "$d/eval/metrics.json" ] || python -m trainers.evaluate --model_dir="$d"
  done
done
