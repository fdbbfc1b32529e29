"""The input layer of the video models: normalisation plus the clip record."""

import keras

from keras_nonlocal.clip import Clip


def normalize_frames(frames, clip, ops=None):
    """`(reorder(frames) - mean) / std` in float32, as `clip` says.

    Args:
        frames: RGB frames in [0, 255], `(..., 3)`, any dtype.
        clip: a `Clip` (its `channel_order`, `mean` and `std`).
        ops: the namespace that computes it: `keras.ops` (default), or one
            with the same `cast`, `flip` and `convert_to_tensor` (the
            data pipelines pass TensorFlow's, inside `tf.data`, whatever the
            Keras backend).

    Returns:
        float32 frames of the same shape.
    """
    ops = keras.ops if ops is None else ops
    x = ops.cast(frames, "float32")
    if clip.channel_order == "BGR":
        x = ops.flip(x, axis=-1)
    mean = ops.convert_to_tensor(clip.mean, "float32")
    std = ops.convert_to_tensor(clip.std, "float32")
    return (x - mean) / std


@keras.saving.register_keras_serializable(package="keras_nonlocal")
class VideoPreprocessing(keras.layers.Layer):
    """Normalises RGB frames in [0, 255] and records the model's clip.

    `y = (reorder(x) - mean) / std` with the clip's `channel_order`, `mean`
    and `std`, in float32 whatever the input dtype (uint8 clips can be fed
    directly). The layer also carries the whole `Clip` the model was built
    or trained with (frames, stride, crops, test views, class names), so
    everything downstream reads it from the model
    (`keras_nonlocal.zoo.preprocessing_spec`). It is saved with the model.

    The one implementation of the normalisation (`normalize_frames`): the
    data pipelines apply it too (`normalize=True`), inside `tf.data` on any
    backend.

    Args:
        clip: a `keras_nonlocal.Clip` (or its config dict). Defaults to
            `Clip()`.
        normalize: apply the normalisation. `False` leaves the input as it
            is (a model built with `include_preprocessing=False`, fed
            normalised clips) and only records the clip.
        **kwargs: base layer arguments.

    Call arguments:
        inputs: frames `(..., 3)`, RGB in [0, 255].

    Returns:
        float32 frames of the same shape, normalised (or the input itself
        when `normalize=False`).

    Example:

    >>> layer = VideoPreprocessing(Clip(channel_order="BGR"))
    >>> layer(np.full((1, 2, 4, 4, 3), 128, "uint8")).shape
    (1, 2, 4, 4, 3)
    """

    def __init__(self, clip=None, normalize=True, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.clip = Clip() if clip is None else Clip.from_config(clip)
        self.normalize = bool(normalize)

    def call(self, inputs):
        if not self.normalize:
            return inputs
        return normalize_frames(inputs, self.clip)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs):
        dtype = "float32" if self.normalize else inputs.dtype
        return keras.KerasTensor(inputs.shape, dtype=dtype)

    def get_config(self):
        config = super().get_config()
        config.update(clip=self.clip.get_config(), normalize=self.normalize)
        return config


def find_preprocessing(model):
    """The `VideoPreprocessing` layer of `model` (the first), or None: where
    a zoo model records its clip."""
    return next((layer for layer in model.layers if isinstance(layer, VideoPreprocessing)), None)
