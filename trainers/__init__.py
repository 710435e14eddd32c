"""absl entry points (`python -m trainers.train`, …): parse flags into a Config, call inv_tf."""

import os

# Quieten TensorFlow's C++ start-up logging (CUDA probing, XLA service lines) before TF loads.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
