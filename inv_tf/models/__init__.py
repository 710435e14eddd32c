"""inv_tf.models: q(η|x), the conditional spline flow p(η|x̂), and the SGM facade."""

from inv_tf.models.generative import GenerativeNet
from inv_tf.models.inference import InferenceNet
from inv_tf.models.sgm import SGM

__all__ = ["GenerativeNet", "InferenceNet", "SGM"]
