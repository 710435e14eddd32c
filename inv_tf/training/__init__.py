"""inv_tf.training: one runner (`runner.run`) for every model family's `task.Task` (the SGM's in
`train`, the VAE family's in `vae_train`; `train.train_and_evaluate` is the entry point), the
step loop (`loop`), checkpoints (`checkpoints`), the model directory (`rundir`), losses,
schedules and tf.distribute. docs/architecture.md maps the files."""
