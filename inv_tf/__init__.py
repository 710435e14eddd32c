"""inv_tf: the Symmetry-aware Generative Model (SGM) in TensorFlow / Keras 3 + TFP.

Subpackages: `transforms` (η → warps), `models` (q(η|x), p(η|x̂), the SGM, the VAE family), `data`,
`training`, `evaluation`, `export`, `experiments`; `inv_tf.keras` has the augmentation layer.
"""

__version__ = "0.2.0.dev0"
