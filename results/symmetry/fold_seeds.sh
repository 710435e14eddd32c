#!/usr/bin/env bash
# The half-turn fold of the stage-2 targets over seeds: for each SEED, stage 2 again from the
# end-of-stage-1 checkpoint of the run SRC (a path with %s for the seed, e.g.
# runs/mpc_heads/centroid_s%s of heads_seeds.sh), once with the paper's targets
# (--generative_fold=none) and once with --generative_fold=half_turn, same code and flags
# otherwise; each run evaluated. A SRC run that does not exist yet is trained first, stage 1 only,
# from $FLAGFILE with --seed and the flags after a second "--" (e.g. -- -- --rotation_deg=0).
# Resumable: finished runs and evaluations are skipped.
#   bash results/symmetry/fold_seeds.sh SRC RUNS_DIR SEED [SEED ...] [-- stage-2 flags ... [-- stage-1 flags ...]]
# then: python results/symmetry/summarise.py OUT.csv none_s1=RUNS_DIR/none_s1 half_turn_s1=… …
#       python results/symmetry/paired.py OUT.csv half_turn none PAIRED.csv
set -euo pipefail
src=$1; runs=$2; shift 2
seeds=(); stage2=(); stage1=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do seeds+=("$1"); shift; done
[ $# -gt 0 ] && shift
while [ $# -gt 0 ] && [ "$1" != "--" ]; do stage2+=("$1"); shift; done
[ $# -gt 0 ] && shift
stage1=("$@")
here=$(dirname "$0")
for s in "${seeds[@]}"; do
  source_run=$(printf "$src" "$s")
  steps() { grep -- '--inference_steps=' "$source_run/flags.cfg" | cut -d= -f2; }
  if [ ! -f "$source_run/flags.cfg" ] || [ ! -f "$source_run/checkpoints/ckpt-$(steps).index" ]; then
    python -m trainers.train --flagfile="${FLAGFILE:?set FLAGFILE to train $source_run}" \
      "${stage1[@]}" --seed="$s" --stage=inference --model_dir="$source_run"
  fi
  for fold in none half_turn; do
    d=$runs/${fold}_s$s
    [ -f "$d/metrics.json" ] || { rm -rf "$d"; bash "$here/stage2_from.sh" "$source_run" "$d" \
      --generative_fold=$fold "${stage2[@]}"; }
    [ -f "$d/eval/metrics.json" ] || python -m trainers.evaluate --model_dir="$d"
  done
done
