"""The fully convolutional test-time head's pooling: every training-size
window of a feature map, averaged.

Trained on 224 crops, a video ResNet's classifier reads the mean of a 7 x 7
res5 map. On a 256 crop res5 is 8 x 8: the original release and PySlowFast
average every 7 x 7 window (stride 1: 2 x 2 windows) and classify each one
(`AvgPool3d(pool_size, stride=1)` then the classifier, PySlowFast 1.0
slowfast/models/head_helper.py:175, :210-214 of its 1.0 wheel), pytorchvideo does the same
(pytorchvideo 0.1.5 pytorchvideo/models/head.py:371-391), mmaction2 takes the global mean
(mmaction/models/heads/i3d_head.py:47). `WindowAveragePooling3D` gives the
windows; where the map is no larger than the window (training, and testing
at the training size) it is the global mean.
"""

import keras
from keras import ops


def _windows_along(x, axis, size):
    """Means of every `size` consecutive entries along `axis` (stride 1), or
    the whole axis where it is not longer than `size`."""
    length = ops.shape(x)[axis]
    if isinstance(length, int) and length <= size:
        return ops.mean(x, axis=axis, keepdims=True)
    # A length unknown until run time (TensorFlow graphs): a running sum, the
    # window sums its differences; a shorter axis gives one window of it all.
    size = ops.minimum(size, length) if not isinstance(length, int) else size

    def part(start, stop):
        index = [slice(None)] * len(x.shape)
        index[axis] = slice(start, stop)
        return tuple(index)

    total = ops.cumsum(x, axis=axis)
    sums = ops.concatenate([total[part(size - 1, size)],
                            total[part(size, None)] - total[part(None, length - size)]], axis=axis)
    return sums / ops.cast(size, x.dtype)


@keras.saving.register_keras_serializable(package="keras_nonlocal")
class WindowAveragePooling3D(keras.layers.Layer):
    """Average pooling over every `window` of a `(batch, T, H, W, C)` map,
    stride 1, no padding; an axis no longer than its window is averaged
    whole (one window).

    Args:
        window: `(t, h, w)`, the res5 size of a training clip
            (`(4, 7, 7)` for 8 frames of 224 x 224 in the 8x8 networks).

    Call arguments:
        inputs: `(batch, T, H, W, C)`.

    Returns:
        `(batch, max(T - t + 1, 1), max(H - h + 1, 1), max(W - w + 1, 1), C)`.

    Example:

    >>> layer = WindowAveragePooling3D((4, 7, 7))
    >>> layer(np.ones((1, 4, 8, 8, 16))).shape
    (1, 1, 2, 2, 16)
    """

    def __init__(self, window, **kwargs):
        super().__init__(**kwargs)
        window = tuple(window)
        if len(window) != 3 or not all(isinstance(w, int) and w >= 1 for w in window):
            raise ValueError(f"`window` must be 3 positive ints (t, h, w). Received: "
                             f"window={window!r}")
        self.window = window

    def call(self, inputs):
        x = inputs
        for axis, size in zip((1, 2, 3), self.window):
            x = _windows_along(x, axis, size)
        return x

    def compute_output_shape(self, input_shape):
        sizes = [None if n is None else max(n - w + 1, 1)
                 for n, w in zip(input_shape[1:4], self.window)]
        return (input_shape[0], *sizes, input_shape[-1])

    def get_config(self):
        return {**super().get_config(), "window": list(self.window)}
