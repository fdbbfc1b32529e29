"""Input normalisation that travels inside a model, with its metadata."""

import keras
from keras import ops

# Preprocessing of each weight source. Frames arrive as RGB in [0, 255].
SPECS = {
    # keras.applications ResNet ImageNet weights: "caffe" style, BGR, mean
    # subtraction, no scaling.
    "caffe": dict(channel_order="BGR", mean=(103.939, 116.779, 123.68), std=(1.0, 1.0, 1.0)),
    # The original video-nonlocal-net release: RGB, mean 114.75, std 57.375.
    "nonlocal_release": dict(channel_order="RGB", mean=(114.75,) * 3, std=(57.375,) * 3),
    # PySlowFast / pytorchvideo Kinetics checkpoints: RGB in [0, 1] normalised
    # with mean 0.45, std 0.225 (expressed here on the [0, 255] scale).
    "pytorchvideo": dict(channel_order="RGB", mean=(114.75,) * 3, std=(57.375,) * 3),
}


@keras.saving.register_keras_serializable(package="keras_nonlocal")
class VideoPreprocessing(keras.layers.Layer):
    """Normalises RGB frames in [0, 255] the way a weight source expects.

    `y = (reorder(x) - mean) / std`, computed in float32 whatever the input
    dtype (uint8 clips can be fed directly). It also records the clip
    geometry the weights were trained with, so a data pipeline can read
    everything it needs from the model (`keras_nonlocal.zoo.preprocessing_spec`).

    Args:
        channel_order: `"RGB"` or `"BGR"`, the order the weights expect.
        mean, std: per-channel statistics on the [0, 255] scale, in
            `channel_order`.
        num_frames, frame_stride: the training clip (e.g. 32 frames, every
            2nd frame for the paper's 32x2 setting).
        crop_size: the training crop (224); testing is fully convolutional.
        **kwargs: base layer arguments.

    Example:

    >>> layer = VideoPreprocessing(**SPECS["caffe"])
    >>> layer(np.full((1, 2, 4, 4, 3), 128, "uint8")).shape
    (1, 2, 4, 4, 3)
    """

    def __init__(self, channel_order="RGB", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                 num_frames=32, frame_stride=2, crop_size=224, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if channel_order not in ("RGB", "BGR"):
            raise ValueError(
                f"`channel_order` must be 'RGB' or 'BGR'. Received: channel_order={channel_order!r}"
            )
        for name, value in (("mean", mean), ("std", std)):
            if len(value) != 3:
                raise ValueError(f"`{name}` needs 3 values. Received: {name}={value!r}")
        if any(s <= 0 for s in std):
            raise ValueError(f"`std` must be positive. Received: std={std!r}")
        self.channel_order = channel_order
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.num_frames = int(num_frames)
        self.frame_stride = int(frame_stride)
        self.crop_size = int(crop_size)
        self.supports_jit = True

    def call(self, inputs):
        x = ops.cast(inputs, "float32")
        if self.channel_order == "BGR":
            x = ops.flip(x, axis=-1)
        mean = ops.convert_to_tensor(self.mean, "float32")
        std = ops.convert_to_tensor(self.std, "float32")
        return (x - mean) / std

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            channel_order=self.channel_order, mean=list(self.mean), std=list(self.std),
            num_frames=self.num_frames, frame_stride=self.frame_stride,
            crop_size=self.crop_size,
        )
        return config
