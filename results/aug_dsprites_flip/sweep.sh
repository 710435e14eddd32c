#!/usr/bin/env bash
# aug_dsprites with the flip-equivariant head: one stage 1, then stage 2 from its checkpoint at
# each --generative_augment_range given, each evaluated. From the repository root:
#   bash results/aug_dsprites_flip/sweep.sh 0.1 0.25 0.01
# (2026-12-02, commit 823171b: eval_metrics_range*.json here; rows in
# results/aug_dsprites_cpu_variants.csv via results/aug_dsprites_row.py). Resumable.
set -euo pipefail
s1=runs/dsf_s1
[ -f $s1/checkpoints/ckpt-2000.index ] || python -m trainers.train \
  --flagfile=flags/aug_dsprites_cpu.cfg --rotation_head=flip_equivariant --stage=inference \
  --model_dir=$s1
for range in "$@"; do
  d=runs/dsf_bm$range
  [ -f $d/metrics.json ] || bash results/symmetry/stage2_from.sh $s1 $d \
    --generative_augment_range=$range
  [ -f $d/eval/metrics.json ] || python -m trainers.evaluate --model_dir=$d
done
