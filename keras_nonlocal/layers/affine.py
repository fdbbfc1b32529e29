"""A per-channel affine map: batch norm with frozen statistics."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_nonlocal")
class Affine(keras.layers.Layer):
    """`y = x * scale + bias` per channel (the last axis).

    What a batch norm computes in inference, with its statistics folded into
    `scale` and `bias`: the original release's long-clip and LFB networks
    use it in place of every batch norm ("frozen BN", `AffineNd` in their
    Caffe2 code), because the batch statistics of a few long clips per device
    are too noisy to train on. `scale` and `bias` train; there are no
    statistics, so training and inference compute the same function.
    `affine_weights` folds a batch norm's weights into this form.

    Args:
        scale_initializer: initializer of `scale` (default `"ones"`;
            `"zeros"` makes a residual branch that ends here start at 0).
        bias_initializer: initializer of `bias` (default `"zeros"`).
        scale_regularizer, bias_regularizer: optional regularizers.
        **kwargs: base layer arguments. Under a mixed precision policy the
            product is computed in float32, as Keras' batch norm does.

    Call arguments:
        inputs: a tensor `(..., channels)`.

    Returns:
        A tensor of the input's shape.

    Example:

    >>> layer = Affine()
    >>> layer(np.ones((2, 4, 8), "float32")).shape
    (2, 4, 8)
    """

    def __init__(self, scale_initializer="ones", bias_initializer="zeros",
                 scale_regularizer=None, bias_regularizer=None, **kwargs):
        super().__init__(**kwargs)
        self.scale_initializer = keras.initializers.get(scale_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.scale_regularizer = keras.regularizers.get(scale_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.input_spec = keras.InputSpec(min_ndim=2)

    def build(self, input_shape):
        channels = input_shape[-1]
        if channels is None:
            raise ValueError("Affine needs a known channel dimension (the last axis). "
                             f"Received: input_shape={tuple(input_shape)}")
        self.input_spec = keras.InputSpec(min_ndim=2, axes={-1: channels})
        self.scale = self.add_weight(name="scale", shape=(channels,),
                                     initializer=self.scale_initializer,
                                     regularizer=self.scale_regularizer)
        self.bias = self.add_weight(name="bias", shape=(channels,),
                                    initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer)

    def call(self, inputs):
        x = ops.cast(inputs, keras.backend.result_type(inputs.dtype, "float32"))
        y = x * ops.cast(self.scale, x.dtype) + ops.cast(self.bias, x.dtype)
        return ops.cast(y, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            scale_initializer=keras.initializers.serialize(self.scale_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            scale_regularizer=keras.regularizers.serialize(self.scale_regularizer),
            bias_regularizer=keras.regularizers.serialize(self.bias_regularizer),
        )
        return config


def affine_weights(gamma, beta, moving_mean, moving_variance, epsilon):
    """`(scale, bias)` of the `Affine` that computes what a batch norm with
    these weights computes in inference: `scale = gamma / sqrt(var + eps)`,
    `bias = beta - mean * scale` (the release's convert_to_finetune.py).
    NumPy arrays in, float32 NumPy arrays out; `gamma` / `beta` may be None
    (a batch norm without scale or center)."""
    import numpy as np

    variance = np.asarray(moving_variance, np.float64)
    gamma = np.ones_like(variance) if gamma is None else np.asarray(gamma, np.float64)
    beta = np.zeros_like(variance) if beta is None else np.asarray(beta, np.float64)
    scale = gamma / np.sqrt(variance + epsilon)
    bias = beta - np.asarray(moving_mean, np.float64) * scale
    return scale.astype(np.float32), bias.astype(np.float32)
