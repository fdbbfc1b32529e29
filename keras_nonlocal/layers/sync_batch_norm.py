"""BatchNormalization over the global batch of all replicas, in two passes."""

import keras

from keras_nonlocal.keras_private import BatchNormalizationMoments


@keras.saving.register_keras_serializable(package="keras_nonlocal")
class SyncBatchNormalization(BatchNormalizationMoments):
    """BatchNormalization whose training statistics cover all replicas.

    Same arguments as `keras.layers.BatchNormalization` (TensorFlow backend,
    like its `synchronized=True`). The difference is how the variance is
    computed: Keras sums `x` and `x**2` over the replicas and takes
    `E[x^2] - E[x]^2`, which loses most digits when a channel's variance is
    small against its mean (late stages on small inputs), so one replica and
    two give different models. Here the mean is all-reduced first and then
    the squared deviations from it, as `tf.nn.moments` does on one device:
    one replica and N agree to float32 summation order.

    Example:

    >>> strategy = tf.distribute.MirroredStrategy()
    >>> with strategy.scope():
    ...     bn = SyncBatchNormalization(momentum=0.9)
    """

    def __init__(self, **kwargs):
        kwargs.pop("synchronized", None)
        super().__init__(synchronized=True, **kwargs)

    def batch_moments(self, inputs, mask, axes, keras_moments):
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            if mask is None:
                return keras.ops.moments(inputs, axes=axes)
            return keras_moments(inputs, mask)  # Keras' masked moments: one replica
        x = inputs
        if x.dtype in (tf.float16, tf.bfloat16):
            x = tf.cast(x, tf.float32)
        if mask is None:
            weights = tf.ones_like(x[..., :1])
        else:  # the mask covers every axis but the channels (Keras' convention)
            weights = tf.cast(tf.expand_dims(mask, -1), x.dtype)
        weights = tf.broadcast_to(weights, tf.shape(x))

        def global_sum(t):
            return context.all_reduce(tf.distribute.ReduceOp.SUM,
                                      tf.reduce_sum(t, axis=axes, keepdims=True))

        total = global_sum(weights)
        mean = global_sum(x * weights) / total
        deviations = tf.math.squared_difference(x, tf.stop_gradient(mean)) * weights
        variance = global_sum(deviations) / total
        mean, variance = tf.squeeze(mean, axes), tf.squeeze(variance, axes)
        return tf.cast(mean, inputs.dtype), tf.cast(variance, inputs.dtype)
