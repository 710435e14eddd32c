#!/usr/bin/env bash
# aug_dsprites with the flip-equivariant head: one stage 1, then stage 2 from its checkpoint at
# each --generative_augment_range given, each evaluated. From the repository root:
#   bash results/aug_dsprites_flip/sweep.sh 0.1 0.25 0.01
# (2026-12-02, commit 823171b: eval_metrics_range*.json here; rows in
# results/aug_dsprites_cpu_variants.csv via results/aug_dsprites_row.py). Resumable.
# PREFIX (default runs/dsf) names the runs PREFIX_s1, PREFIX_bmRANGE; S1_FLAGS adds flags to the
# end-to-end model (stage 1 and, through its flags.cfg, stage 2), e.g.
#   PREFIX=runs/dsc S1_FLAGS=--translation_head=centroid bash results/aug_dsprites_flip/sweep.sh 0.1 0.01
set -euo pipefail
prefix=${PREFIX:-runs/dsf}
s1=${prefix}_s1
[ -f $s1/metrics.json ] || python -m trainers.train \
  --flagfile=flags/aug_dsprites_cpu.cfg --rotation_head=flip_equivariant ${S1_FLAGS:-} \
  --stage=inference --model_dir=$s1
for range in "$@"; do
  d=${prefix}_bm$range
  [ -f $d/metrics.json ] || bash results/symmetry/stage2_from.sh $s1 $d \
    --generative_augment_range=$range
  [ -f $d/eval/metrics.json ] || python -m trainers.evaluate --model_dir=$d
done
