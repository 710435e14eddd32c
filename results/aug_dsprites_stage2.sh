#!/usr/bin/env bash
# A stage-2 variant of flags/aug_dsprites_cpu.cfg over seeds, on the flagfile's own stage 1: for
# each SEED, stage 1 alone (RUNS/s1_seedS, kept and reused), then stage 2 from its checkpoint
# with the given flags (RUNS/NAME_seedS), evaluated; the CSV rows come from aug_dsprites_row.py.
# Resumable: a finished stage 1, stage 2 or evaluation is skipped; an interrupted stage 2 resumes
# from its last checkpoint.
#   bash results/aug_dsprites_stage2.sh RUNS NAME SEED [SEED ...] -- [stage-2 flags ...]
# then: python results/aug_dsprites_row.py --csv=results/aug_dsprites_cpu_variants.csv -- \
#         RUNS/NAME_seedS "--seed=S <the stage-2 flags>" ...
set -euo pipefail
runs=$1; name=$2; shift 2
seeds=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do seeds+=("$1"); shift; done
[ $# -gt 0 ] && shift
here=$(dirname "$0")
for s in "${seeds[@]}"; do
  src=$runs/s1_seed$s
  [ -f "$src/checkpoints/ckpt-2000.index" ] || python -m trainers.train \
    --flagfile=flags/aug_dsprites_cpu.cfg --seed="$s" --stage=inference --model_dir="$src"
  d=$runs/${name}_seed$s
  if [ ! -f "$d/metrics.json" ]; then
    if [ -f "$d/checkpoints/checkpoint" ]; then
      python -m trainers.train --flagfile="$src/flags.cfg" --stage=generative "$@" --model_dir="$d"
    else
      rm -rf "$d"; bash "$here/symmetry/stage2_from.sh" "$src" "$d" "$@"
    fi
  fi
  [ -f "$d/eval/metrics.json" ] || python -m trainers.evaluate --model_dir="$d"
done
