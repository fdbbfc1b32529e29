"""`VideoResNetBackbone`: a video ResNet that knows what it is.

keras-hub's shape: a functional model whose constructor arguments are its
architecture (the `Architecture` record, the clip, whose conventions), so
that `get_config` returns them and `keras.models.load_model` builds the same
class again. The zoo's classifiers hold one as `model.backbone`.
"""

import dataclasses
import json

import keras

from keras_nonlocal.clip import Clip
from keras_nonlocal.models.video_resnet import Architecture
from keras_nonlocal.models.video_resnet import check_input_shape
from keras_nonlocal.models.video_resnet import check_pooling
from keras_nonlocal.models.video_resnet import global_pool
from keras_nonlocal.models.video_resnet import resnet_trunk


@keras.saving.register_keras_serializable(package="keras_nonlocal")
class VideoResNetBackbone(keras.Model):
    """A C2D / I3D / non-local video ResNet up to its res5 feature map.

    Layer names follow `keras.applications.ResNet50` (`conv2_block1_1_conv`,
    ...); the model starts with a `VideoPreprocessing` layer holding the
    clip it is for.

    Args:
        architecture: an `Architecture` (or its dict, as `get_config`
            writes it); default C2D ResNet-50 of the paper's Table 1.
        clip: the `keras_nonlocal.Clip` the network is for (or its config);
            default `Clip()`.
        publisher: whose network this is (a `zoo.PUBLISHERS` name), when it
            is one publisher's; recorded, read by the checkpoint loaders'
            users and `describe`.
        pooling: `None` returns the res5 map `(batch, T', H', W', C)`;
            `"avg"` / `"max"` its global average / maximum `(batch, C)`.
        include_preprocessing: the model normalises RGB frames in [0, 255]
            (uint8 or float) itself; `False` takes normalised frames.
        synchronized_bn: BN statistics over all replicas (TensorFlow).
        input_shape: `(T, H, W, 3)`; default any size.
        dtype: the layers' dtype policy (default Keras' global policy).
        **kwargs: `name`, `trainable` (`keras.Model`).

    Example:

    ```python
    backbone = VideoResNetBackbone(Architecture(inflate="3x1x1", num_nonlocal=5))
    backbone.get_config()["architecture"]["num_nonlocal"]   # 5
    ```
    """

    def __init__(self, architecture=None, clip=None, publisher=None, pooling=None,
                 include_preprocessing=True, synchronized_bn=False, input_shape=None,
                 dtype=None, **kwargs):
        architecture = _architecture(architecture)
        clip = Clip.from_config(clip) if isinstance(clip, dict) else clip
        check_pooling(pooling)
        input_shape = check_input_shape(input_shape)
        inputs = keras.Input(input_shape, name="video")
        x = resnet_trunk(inputs, architecture, clip, include_preprocessing, synchronized_bn,
                         dtype)
        if pooling is not None:
            x = global_pool(x, pooling)
        kwargs.setdefault("name", "video_resnet_backbone")
        super().__init__(inputs, x, dtype=dtype, **kwargs)
        self.architecture = architecture
        self.publisher = publisher
        self.pooling = pooling
        self.synchronized_bn = synchronized_bn

    @property
    def clip(self):
        """The clip the `VideoPreprocessing` layer records now (training and
        `zoo.inflate_from` may have changed it since the constructor)."""
        return self.get_layer("preprocessing").clip

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "architecture": architecture_config(self.architecture),
            "clip": self.clip.get_config(),
            "publisher": self.publisher,
            "pooling": self.pooling,
            # what the graph holds: the layer's flag, the input's shape
            "include_preprocessing": self.get_layer("preprocessing").normalize,
            "synchronized_bn": self.synchronized_bn,
            "input_shape": list(self.input.shape[1:]),
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)


def architecture_config(architecture):
    """An `Architecture` as the JSON values a saved model holds (tuples as
    lists), so that a config equals its reloaded copy."""
    return json.loads(json.dumps(dataclasses.asdict(architecture)))


def _architecture(value):
    if value is None:
        return Architecture()
    if isinstance(value, dict):
        return Architecture(**value)
    if isinstance(value, Architecture):
        return value
    raise ValueError("`architecture` must be an Architecture or its dict. Received: "
                     f"architecture={value!r}")
