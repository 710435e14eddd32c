"""inv_tf.evaluation."""
