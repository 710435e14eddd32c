"""inv_tf.training."""
