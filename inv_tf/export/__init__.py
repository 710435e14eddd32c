"""inv_tf.export."""
