"""Choosing a tf.distribute strategy."""

import logging

import tensorflow as tf

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


def check_batch(global_batch, strategy):
    """The global batch must split evenly over the replicas."""
    replicas = strategy.num_replicas_in_sync
    if global_batch % replicas:
        raise ValueError(
            f"The global batch {global_batch} does not split over {replicas} replicas. "
            f"Received: batch_size={global_batch}"
        )
    return global_batch // replicas
