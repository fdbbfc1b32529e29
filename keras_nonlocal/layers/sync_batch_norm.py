"""BatchNormalization over the global batch of all replicas, in two passes."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_nonlocal")
class SyncBatchNormalization(keras.layers.BatchNormalization):
    """BatchNormalization whose training statistics cover all replicas.

    Same arguments as `keras.layers.BatchNormalization` (TensorFlow backend,
    like its `synchronized=True`). The difference is how the variance is
    computed: Keras sums `x` and `x**2` over the replicas and takes
    `E[x^2] - E[x]^2`, which loses most digits when a channel's variance is
    small against its mean (late stages on small inputs), so one replica and
    two give different models. Here the mean is all-reduced first and then
    the squared deviations from it, as `tf.nn.moments` does on one device:
    one replica and N agree to float32 summation order. Outside a
    multi-replica training step (one replica, inference) it is Keras' layer,
    and with `renorm` Keras' synchronized one.

    Example:

    >>> strategy = tf.distribute.MirroredStrategy()
    >>> with strategy.scope():
    ...     bn = SyncBatchNormalization(momentum=0.9)
    """

    def __init__(self, **kwargs):
        # Synchronized always, by this layer's rule (Keras' own with `renorm`).
        kwargs.pop("synchronized", None)
        super().__init__(synchronized=bool(kwargs.get("renorm")), **kwargs)

    def call(self, inputs, training=None, mask=None):
        context = _replica_context()
        if not (training and self.trainable) or self.renorm or context is None \
                or context.num_replicas_in_sync == 1:
            return super().call(inputs, training=training, mask=mask)
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        mean, variance = self._global_moments(x, mask, context)
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        outputs = ops.batch_normalization(
            x, mean, variance, axis=self.axis, epsilon=self.epsilon,
            offset=ops.cast(self.beta, x.dtype) if self.center else None,
            scale=ops.cast(self.gamma, x.dtype) if self.scale else None)
        return ops.cast(outputs, self.compute_dtype)

    def _global_moments(self, x, mask, context):
        """Mean, then the variance about it, each summed over every replica."""
        import tensorflow as tf

        rank = len(x.shape)
        axes = [i for i in range(rank) if i != self.axis % rank]
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
        return tf.squeeze(mean, axes), tf.squeeze(variance, axes)


def _replica_context():
    """tf.distribute's replica context on TensorFlow (None elsewhere)."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return tf.distribute.get_replica_context()
