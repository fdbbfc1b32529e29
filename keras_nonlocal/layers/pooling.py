"""3D max-pooling as 2D poolings: the same numbers, in ops every runtime has.

A max over a `(t, h, w)` box is a max over `(h, w)` then over `t`, so a 3D
max-pool is a 2D pool of the frames (time folded into the batch) followed by
a 2D pool along time (space folded into one axis); each axis is padded as
the 3D op pads it. LiteRT has no 3D pooling kernel (a converted `MaxPool3D`
needs TensorFlow's Flex delegate), and TensorFlow's CPU has no half-precision
`MaxPool3D`; the non-local blocks pool this way, and `keras-nonlocal export
--format litert` puts `MaxPoolingAs2D` in place of the models' `MaxPooling3D`.
"""

import keras
from keras import ops


def max_pool_3d(x, pool_size, strides, padding="valid"):
    """`keras.ops.max_pool` of a `(batch, T, H, W, C)` input, as two 2D pools."""
    (pt, ph, pw), (st, sh, sw) = tuple(pool_size), tuple(strides)
    batch = ops.shape(x)[0]
    frames, channels = ops.shape(x)[1], x.shape[-1]
    if (ph, pw, sh, sw) != (1, 1, 1, 1):
        y = ops.reshape(x, (-1,) + tuple(ops.shape(x)[2:]))
        y = ops.max_pool(y, (ph, pw), strides=(sh, sw), padding=padding)
        x = ops.reshape(y, (batch, frames) + tuple(ops.shape(y)[1:]))
    if (pt, st) != (1, 1):
        height, width = ops.shape(x)[2], ops.shape(x)[3]
        y = ops.reshape(x, (batch, frames, height * width, channels))
        y = ops.max_pool(y, (pt, 1), strides=(st, 1), padding=padding)
        x = ops.reshape(y, (batch, ops.shape(y)[1], height, width, channels))
    return x


@keras.saving.register_keras_serializable(package="keras_nonlocal")
class MaxPoolingAs2D(keras.layers.MaxPooling3D):
    """`keras.layers.MaxPooling3D` (same arguments and results, channels_last)
    computed as two 2D poolings (`max_pool_3d`)."""

    def call(self, inputs):
        if self.data_format != "channels_last":
            return super().call(inputs)
        return max_pool_3d(inputs, self.pool_size, self.strides, self.padding)
