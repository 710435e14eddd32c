#!/usr/bin/env bash
# Stage-2 targets over seeds, paired on one stage 1 per seed: for each SEED, the recipe of
# $FLAGFILE (default flags/quickstart.cfg) end to end (the paper's q_of_x targets), then stage 2
# again from the same stage-1 checkpoint with --generative_target=round_trip_rotation; each run
# evaluated. Resumable: a finished run or evaluation is skipped; an interrupted end-to-end run
# resumes from its checkpoints, an interrupted stage-2 rerun starts its stage 2 again.
#   bash results/symmetry/targets_seeds.sh RUNS_DIR SEED [SEED ...] -- [flags for both runs ...]
# e.g. bash results/symmetry/targets_seeds.sh runs/targets 0 1 2 3 4 -- --rotation_deg=0
#      FLAGFILE=flags/mnist_per_class.cfg bash results/symmetry/targets_seeds.sh runs/targets_mpc 0 1 2 3 4
set -euo pipefail
flagfile=${FLAGFILE:-flags/quickstart.cfg}
runs=$1; shift
seeds=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do seeds+=("$1"); shift; done
[ $# -gt 0 ] && shift
for s in "${seeds[@]}"; do
  a=$runs/q_of_x_s$s
  b=$runs/round_trip_rotation_s$s
  [ -f "$a/metrics.json" ] || python -m trainers.train --flagfile="$flagfile" "$@" --seed="$s" --model_dir="$a"
  [ -f "$a/eval/metrics.json" ] || python -m trainers.evaluate --model_dir="$a"
  [ -f "$b/metrics.json" ] || bash results/symmetry/stage2_from.sh "$a" "$b" --generative_target=round_trip_rotation
  [ -f "$b/eval/metrics.json" ] || python -m trainers.evaluate --model_dir="$b"
done
