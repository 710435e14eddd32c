#!/usr/bin/env bash
# GPU readiness check, for a CUDA machine with the package installed with the gpu extra:
#   pip install -e ".[gpu]" && bash benchmarks/gpu_check.sh [WORKDIR]
# Prints the visible GPUs, the step benchmark at the paper configuration (images/s per stage), the
# exported resample throughput, and a short quickstart's quality metrics. Exits 1 if TensorFlow
# sees no GPU (nothing else is run then).
set -euo pipefail
cd "$(dirname "$0")/.."
WORKDIR="${1:-runs/gpu_check}"
python - <<'PY'
import sys
import tensorflow as tf
gpus = tf.config.list_physical_devices("GPU")
print("GPUs:", [g.name for g in gpus])
if not gpus:
  print("error: TensorFlow sees no GPU (install with pip install -e '.[gpu]' on a CUDA machine)",
        file=sys.stderr)
  sys.exit(1)
PY
echo "== train steps, paper configuration =="
python benchmarks/train_steps.py --config=paper
echo "== a short quickstart (1,000 + 500 steps) =="
python -m trainers.train --flagfile=flags/quickstart.cfg --model_dir="$WORKDIR" \
  --inference_steps=1000 --generative_steps=500
python -m trainers.evaluate --model_dir="$WORKDIR" | python -c \
  'import json,sys; m=json.load(sys.stdin); print({k: m[k] for k in ("full_ratio","axis_ratio","rotation_extent","iterated_eta_norm_last")})'
echo "== exported resample =="
python benchmarks/export.py --export="$WORKDIR/export"
