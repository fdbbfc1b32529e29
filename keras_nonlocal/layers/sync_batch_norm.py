"""BatchNormalization over the global batch of all replicas, in two passes."""

import keras


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
    one replica and N agree to float32 summation order.

    Example:

    >>> strategy = tf.distribute.MirroredStrategy()
    >>> with strategy.scope():
    ...     bn = SyncBatchNormalization(momentum=0.9)
    """

    def __init__(self, **kwargs):
        kwargs.pop("synchronized", None)
        super().__init__(synchronized=True, **kwargs)

    def _moments(self, inputs, mask):
        import tensorflow as tf

        context = tf.distribute.get_replica_context()
        if mask is not None or context is None or context.num_replicas_in_sync == 1:
            return keras.ops.moments(inputs, axes=self._reduction_axes)
        x = inputs
        if x.dtype in (tf.float16, tf.bfloat16):
            x = tf.cast(x, tf.float32)
        axes = self._reduction_axes
        total = tf.cast(tf.reduce_prod(tf.gather(tf.shape(x), axes)), x.dtype)
        total = context.all_reduce(tf.distribute.ReduceOp.SUM, total)
        local_sum = tf.reduce_sum(x, axis=axes, keepdims=True)
        mean = context.all_reduce(tf.distribute.ReduceOp.SUM, local_sum) / total
        squares = tf.reduce_sum(tf.math.squared_difference(x, tf.stop_gradient(mean)),
                                axis=axes, keepdims=True)
        variance = context.all_reduce(tf.distribute.ReduceOp.SUM, squares) / total
        mean, variance = tf.squeeze(mean, axes), tf.squeeze(variance, axes)
        return tf.cast(mean, inputs.dtype), tf.cast(variance, inputs.dtype)
