"""inv_tf.experiments: multi-run experiments built from `train_and_evaluate` calls."""
