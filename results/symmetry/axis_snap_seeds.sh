#!/usr/bin/env bash
# q's rotation snapped to the ink's principal axis (--rotation_axis_snap=κ), over seeds: for each
# SEED, stage 1 alone from $FLAGFILE (RUNS_DIR/s1_sSEED, with --seed and the flags after "--";
# kept and reused), then stage 2 again from its checkpoint once per κ in $KAPPAS (default
# "0 0.3"; 0 = no snap, the pair's baseline), each evaluated. The snap adds no variables, so one
# stage 1 serves every κ and the runs pair by seed; it is applied where q is used after stage 1
# (stage 2's targets and prototypes, the evaluation), so these runs test the snap on the
# unsnapped head's training (docs/design.md §3).
# Resumable: finished runs and evaluations are skipped.
#   FLAGFILE=flags/quickstart.cfg bash results/symmetry/axis_snap_seeds.sh RUNS_DIR SEED [SEED ...] [-- stage-1 flags ...]
# then: python results/symmetry/summarise.py OUT.csv snap0_s0=RUNS_DIR/snap0_s0 snap0.3_s0=… …
set -euo pipefail
runs=$1; shift
seeds=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do seeds+=("$1"); shift; done
[ $# -gt 0 ] && shift
stage1=("$@")
here=$(dirname "$0")
for s in "${seeds[@]}"; do
  src=$runs/s1_s$s
  steps() { grep -- '--inference_steps=' "$src/flags.cfg" | cut -d= -f2; }
  if [ ! -f "$src/flags.cfg" ] || [ ! -f "$src/checkpoints/ckpt-$(steps).index" ]; then
    python -m trainers.train --flagfile="${FLAGFILE:?set FLAGFILE}" "${stage1[@]}" --seed="$s" \
      --stage=inference --model_dir="$src"
  fi
  for k in ${KAPPAS:-0 0.3}; do
    d=$runs/snap${k}_s$s
    [ -f "$d/metrics.json" ] || { rm -rf "$d"; bash "$here/stage2_from.sh" "$src" "$d" \
      --rotation_axis_snap="$k"; }
    [ -f "$d/eval/metrics.json" ] || python -m trainers.evaluate --model_dir="$d"
  done
done
