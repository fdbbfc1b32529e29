"""Choosing a tf.distribute strategy."""

import logging

import tensorflow as tf

from keras_nonlocal import keras_private

logger = logging.getLogger("keras_nonlocal.training")


def _resolve_tpu():
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def make_strategy(name="auto"):
    """A strategy by name.

    `"auto"`: TPUStrategy when a TPU resolves, MirroredStrategy when more
    than one GPU is visible, the default strategy otherwise. `"default"`,
    `"mirrored"` (all local GPUs, or all logical CPUs when there is none),
    `"multiworker"` (MultiWorkerMirroredStrategy, cluster from TF_CONFIG) and
    `"tpu"` select one explicitly; `"tpu"` without a TPU is an error.
    """
    if name == "auto":
        try:
            strategy = _resolve_tpu()
            logger.info("strategy: TPU (%d cores)", strategy.num_replicas_in_sync)
            return strategy
        except (ValueError, tf.errors.NotFoundError, tf.errors.UnavailableError, RuntimeError):
            pass
        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        return tf.distribute.MirroredStrategy(devices)
    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        try:
            return _resolve_tpu()
        except (ValueError, tf.errors.NotFoundError, tf.errors.UnavailableError, RuntimeError) as error:
            raise ValueError(f"No TPU could be resolved ({error}). Received: strategy='tpu'") from None
    raise ValueError(
        "`strategy` must be auto, default, mirrored, multiworker or tpu. "
        f"Received: strategy={name!r}"
    )


def prepare_fit(model, dataset, strategy):
    """Works around Keras 3.15 `fit` under a distribution strategy.

    1. `fit` builds the compile state (optimizer, metrics) by iterating the
       dataset once and starting again, so training would see the second
       pass of the seeded stream (other clips than without a strategy); and
       under MultiWorkerMirroredStrategy the reduce of that first batch fails
       ("Attempt to convert a value (PerReplica...)", keras-team/keras#20585).
       The model is already built, so the state is built here from the
       dataset's spec and `fit`'s own step is off.
    2. Under MultiWorkerMirroredStrategy `fit` reduces the step's logs with
       `strategy.reduce("MEAN", v, axis=0)`, which fails for scalars
       ("Invalid reduction dimension 0"). The steps here return each log as
       a 1-vector, so the reduce is the mean over the workers.
    """
    if strategy is tf.distribute.get_strategy():
        return
    with strategy.scope():
        keras_private.build_compile_state(model, dataset.element_spec)
    keras_private.skip_fit_build(model)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return

    def as_vectors(step):
        return lambda batch: {k: tf.reshape(v, [1]) for k, v in step(batch).items()}

    model.train_step = as_vectors(model.train_step)
    model.test_step = as_vectors(model.test_step)


def describe_devices(strategy):
    """`(kind, device types, processes, process id)` of a strategy, for the
    first line of a run."""
    if strategy is tf.distribute.get_strategy():
        gpus = tf.config.list_logical_devices("GPU")
        return "tf.distribute default strategy", ["gpu" if gpus else "cpu"], 1, 0
    devices = [d.split(":")[-2].lower() for d in strategy.extended.worker_devices]
    resolver = getattr(strategy, "cluster_resolver", None)
    processes, process_id = 1, 0
    if resolver is not None and resolver.cluster_spec().as_dict():
        spec = resolver.cluster_spec().as_dict()
        processes = sum(len(v) for v in spec.values())
        process_id = resolver.task_id or 0
    return "tf.distribute." + type(strategy).__name__, devices, processes, process_id


def worker_name(strategy):
    """'' for the chief (or a single machine), else e.g. 'worker-1'."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return ""
    task_type, task_id = resolver.task_type, resolver.task_id
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    if task_type == "chief" or (not has_chief and task_type == "worker" and task_id == 0):
        return ""
    return f"{task_type}-{task_id}"
