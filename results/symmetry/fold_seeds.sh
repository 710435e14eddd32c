#!/usr/bin/env bash
# The half-turn fold of the stage-2 targets over seeds: for each SEED, stage 2 again from the
# end-of-stage-1 checkpoint of SRC_RUNS/centroid_s<SEED> (heads_seeds.sh), once with the paper's
# targets (--generative_fold=none) and once with --generative_fold=half_turn, same code and
# flags otherwise; each run evaluated. Resumable: finished runs and evaluations are skipped.
#   bash results/symmetry/fold_seeds.sh SRC_RUNS RUNS_DIR SEED [SEED ...] -- [stage-2 flags ...]
# then: python results/symmetry/summarise.py OUT.csv none_s1=RUNS_DIR/none_s1 half_turn_s1=… …
#       python results/symmetry/paired.py OUT.csv half_turn none PAIRED.csv
set -euo pipefail
src=$1; runs=$2; shift 2
seeds=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do seeds+=("$1"); shift; done
[ $# -gt 0 ] && shift
here=$(dirname "$0")
for s in "${seeds[@]}"; do
  for fold in none half_turn; do
    d=$runs/${fold}_s$s
    [ -f "$d/metrics.json" ] || { rm -rf "$d"; bash "$here/stage2_from.sh" "$src/centroid_s$s" "$d" \
      --generative_fold=$fold "$@"; }
    [ -f "$d/eval/metrics.json" ] || python -m trainers.evaluate --model_dir="$d"
  done
done
