#!/usr/bin/env bash
# Stage 2 again from another run's end-of-stage-1 checkpoint, with other stage-2 flags:
#   bash results/symmetry/stage2_from.sh SRC_RUN DST_RUN [flags for stage 2 ...]
# SRC_RUN's flags.cfg is reused; stage 1 does not read the stage-2 flags, so DST is what an
# end-to-end run with those flags would give.
set -euo pipefail
src=$1; dst=$2; shift 2
steps=$(grep -- '--inference_steps=' "$src/flags.cfg" | cut -d= -f2)
mkdir -p "$dst/checkpoints"
cp "$src/run.json" "$src/flags.cfg" "$dst/"
cp "$src/checkpoints/ckpt-$steps".* "$dst/checkpoints/"
printf 'model_checkpoint_path: "ckpt-%s"\n' "$steps" > "$dst/checkpoints/checkpoint"
python -m trainers.train --flagfile="$src/flags.cfg" --stage=generative "$@" --model_dir="$dst"
