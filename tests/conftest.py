"""Suite-wide settings, applied before any test module imports TensorFlow.

Most of the suite's time is XLA compiling tiny models, once per test process and stage. The
tests (and the `python -m trainers…` subprocesses they start, which inherit the environment)
compile with XLA's backend optimisation level 0: the same computation with less optimisation of
the generated CPU code (results agree with the default level to float32 round-off), for 964 s →
812 s of suite time on 2 cores. Training, benchmarks and every measured result use XLA's
defaults. A user's own `XLA_FLAGS` are kept as they are.
"""

import os

os.environ.setdefault("XLA_FLAGS", "--xla_backend_optimization_level=0")
