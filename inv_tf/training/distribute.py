r"""tf.distribute for every training stage (`--distribution_strategy`).

Strategies:

    one_device              one device (the first GPU if any, else the CPU)
    mirrored                synchronous data parallelism over this machine's GPUs (or over the
                            `--num_cpu_devices` logical CPU devices)
    multi_worker_mirrored   the same across machines; the cluster comes from TF_CONFIG
    tpu                     TPUStrategy (`--tpu` names the TPU; empty = local / environment)
    auto (default)          mirrored when several GPUs are visible, else one_device

Semantics of a train step with R replicas (R = 1 for one_device):

    --batch_size B is the GLOBAL batch; replica r gets rows [r B/R, (r+1) B/R) (B % R == 0,
    checked before anything is written).
    Replica r computes its loss ℓ_r = the mean over its B/R examples and the gradient g_r = ∇ℓ_r,
    with its own random stream: seed_r = fold_in(fold_in(seed_stage, step), r) for R > 1, and
    fold_in(seed_stage, step) itself with one replica (`inv_tf.seeds.replica_seed`).
    The update uses ḡ = (1/R) Σ_r g_r = the gradient of the mean loss over the global batch;
    global-norm clipping and the optimiser see ḡ once, in cross-replica context (so the clip
    is on the global gradient, not on each replica's part).
    Reported metrics are the means over replicas.

The replica computation (forward, loss, backward) is one XLA cluster per replica
(`tf.function(jit_compile=True)`); with one replica the optimiser update is compiled into the
same cluster. The step functions are traced without AutoGraph (`autograph=False`): the model
code writes its control flow with TensorFlow ops (`tf.cond`, `tf.where`, `tf.while_loop`), so
AutoGraph would have nothing to convert, and skipping its source-to-source pass shortens every
trace. Only the chief (task 0 of multi_worker_mirrored; the only task otherwise) writes summaries,
run files, metrics and the export; the other workers save their checkpoints to a temporary
directory they delete at the end (every worker must take part in a save; see
`inv_tf.training.checkpoints.open_checkpoints`).
"""

from typing import Callable

import tensorflow as tf

from inv_tf.config import Config, ConfigError
from inv_tf.training import preflight


def configure_cpu_devices(count: int) -> None:
  """Splits the host CPU into `count` logical devices (no-op for count ≤ 0).

  Must run before TensorFlow initialises its devices; if it already has, the split must match.

  Raises:
    ConfigError: TensorFlow's devices are already initialised with another split.
  """
  if count <= 0:
    return
  cpu = tf.config.list_physical_devices("CPU")[0]
  try:
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
  except RuntimeError:
    have = len(tf.config.list_logical_devices("CPU"))
    if have != count:
      raise ConfigError(f"--num_cpu_devices={count}: TensorFlow already started with {have} CPU "
                        "device(s) in this process; set it at program start") from None


def create_strategy(config: Config) -> tf.distribute.Strategy:
  """The strategy `config.distribution_strategy` names (see the module docstring).

  Call it before any other TensorFlow work in the process (multi_worker_mirrored needs that).

  Raises:
    ConfigError: the strategy cannot be created here (one line: no TF_CONFIG, no TPU, …).
  """
  name = config.distribution_strategy
  if name == "multi_worker_mirrored":
    # Before anything initialises TensorFlow's context (listing devices does).
    preflight.check_tf_config(config)
    try:
      strategy = tf.distribute.MultiWorkerMirroredStrategy()
    except RuntimeError as e:
      raise ConfigError(f"--distribution_strategy=multi_worker_mirrored: {e} (create it first "
                        "in the process)") from None
    configure_cpu_devices(config.num_cpu_devices)
    return strategy
  configure_cpu_devices(config.num_cpu_devices)
  gpus = tf.config.list_logical_devices("GPU")
  if name == "auto":
    name = "mirrored" if len(gpus) > 1 else "one_device"
  if name == "one_device":
    return tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
  if name == "mirrored":
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(
        devices, cross_device_ops=None if gpus else tf.distribute.ReductionToOneDevice())
  # tpu
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=config.tpu or None)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
  except (ValueError, RuntimeError, tf.errors.OpError) as e:
    message = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    raise ConfigError(f"--distribution_strategy=tpu: no TPU found ({message})") from None
  return tf.distribute.TPUStrategy(resolver)


def num_replicas(strategy: tf.distribute.Strategy) -> int:
  return int(strategy.num_replicas_in_sync)


def is_chief(strategy: tf.distribute.Strategy) -> bool:
  """True for the task that writes summaries, run files and exports."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  return task_type is None or task_type == "chief" or (
      task_type == "worker" and task_id == 0 and "chief" not in resolver.cluster_spec().jobs)


def check_batch_size(config: Config, strategy: tf.distribute.Strategy) -> None:
  """Raises ConfigError unless --batch_size splits evenly over the replicas."""
  replicas = num_replicas(strategy)
  if config.batch_size % replicas:
    raise ConfigError(
        f"--batch_size={config.batch_size} is not divisible by the {replicas} replicas of "
        f"--distribution_strategy={config.distribution_strategy}; use a multiple of {replicas}")


def distribute_batches(strategy: tf.distribute.Strategy, batches: tf.data.Dataset):
  """Global batches → per-replica batches (the dataset itself with one replica)."""
  if num_replicas(strategy) == 1 and not isinstance(strategy, tf.distribute.TPUStrategy):
    return batches
  options = tf.data.Options()
  # In-memory data has no files to shard: every worker reads the stream, keeps its slices.
  options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
  return strategy.experimental_distribute_dataset(batches.with_options(options))


def compile_step(strategy: tf.distribute.Strategy, compute: Callable, apply: Callable,
                 jit_compile: bool = True):
  """One compiled train step from a per-replica computation and an update.

  Args:
    strategy: the run's strategy (variables created in its scope).
    compute: (images [b, H, W, C] float32, step int64 [], replica int32 [] or None) →
      (grads: list of tensors, metrics: dict of float32 scalars). `replica` is None with one
      replica (the seed is then the single-device one) and the replica index otherwise.
    apply: (grads: list, step) → dict of extra float32 scalar metrics; applies the update.
    jit_compile: compile with XLA (`Config.jit_compile`); False: a plain `tf.function` graph.

  Returns:
    step_fn(images, step) → metrics dict (replica means plus `apply`'s), where `images` is a
    global batch [B, H, W, C] (one replica) or the per-replica value of a distributed dataset.
  """
  if num_replicas(strategy) == 1 and not isinstance(strategy, tf.distribute.TPUStrategy):

    @tf.function(jit_compile=jit_compile, autograph=False)
    def single_step(images, step):
      grads, metrics = compute(images, step, None)
      metrics.update(apply(grads, step))
      return metrics

    return single_step

  replica_compute = tf.function(compute, jit_compile=jit_compile, autograph=False)

  @tf.function(autograph=False)
  def step_fn(images, step):

    def replica_fn(local_images):
      replica = tf.distribute.get_replica_context().replica_id_in_sync_group
      return replica_compute(local_images, step, tf.cast(replica, tf.int32))

    grads, metrics = strategy.run(replica_fn, args=(images,))
    mean = tf.distribute.ReduceOp.MEAN
    grads = [strategy.reduce(mean, g, axis=None) for g in grads]
    metrics = {k: strategy.reduce(mean, v, axis=None) for k, v in metrics.items()}
    metrics.update(apply(grads, step))
    return metrics

  return step_fn
