"""What a builder's `weights=` brings: one typed source per kind.

`weights_source(info, weights)` reads the argument once (a preset name, a
path, `"imagenet"`, `None`) and returns a `WeightsSource`: the network it
needs (`builder_args`, checked against the caller's when `strict`), the clip
it records or the normalisation it expects, the size of the classifier it
holds, and `load(model, full_model)`, which fills a built model.
"""

import os

import keras

from keras_nonlocal.layers.preprocessing import find_preprocessing
from keras_nonlocal.models.classifier import classifier_size
from keras_nonlocal.weights import converters
from keras_nonlocal.weights import readers
from keras_nonlocal.weights.imagenet import IMAGENET_NORMALIZATION
from keras_nonlocal.weights.imagenet import imagenet_resnet
from keras_nonlocal.weights.inflation import inflate
from keras_nonlocal.weights.loading import load_weights
from keras_nonlocal.zoo import presets
from keras_nonlocal.zoo import publishers


class WeightsSource:
    """No weights: a new model (the base of every source).

    Attributes:
        builder_args: builder arguments the weights need (`publisher`, `sampling`, ...).
        strict: whether a caller's argument that contradicts `builder_args`
            is an error (a preset) or wins (a local file read by its family's
            defaults).
        clip: the `Clip` the weights were trained with, when they record one.
        normalization: else, the `Normalization` they expect (None: the
            model's publisher's).
        classes: the classifier size the weights hold, when known.
    """

    builder_args = {}
    strict = False
    clip = None
    normalization = None
    classes = None

    def load(self, model, full_model):
        """Fills `model`; `full_model()` builds the same network with the
        weights' own 400-class head, for sources that convert into one."""
        return model


class ImageNetWeights(WeightsSource):
    """keras.applications' ResNet of the model's depth, inflated (paper sec. 4)."""

    normalization = IMAGENET_NORMALIZATION

    def __init__(self, depth):
        self.depth = depth

    def load(self, model, full_model):
        inflate(imagenet_resnet(self.depth), model)
        return model


class PresetWeights(WeightsSource):
    """A published checkpoint by preset name (`zoo.list_weights()`)."""

    strict = True

    def __init__(self, preset):
        self.preset = preset
        self.builder_args = dict(preset.builder_args)
        self.clip = preset.clip
        self.classes = 400

    def load(self, model, full_model):
        return presets.load_preset(model, self.preset, full_model)


class CheckpointFile(WeightsSource):
    """A published checkpoint file given by path (Caffe2 `.pkl`, PyTorch
    `.pyth` / `.pth`), read by the defaults of its tensor names' publisher."""

    def __init__(self, path):
        self.path = os.fspath(path)
        kind, self.tensors = readers.read_tensors(self.path)
        publisher, self.names = publishers.checkpoint_names(kind, self.tensors)
        self.builder_args = dict(publisher=publisher.name)
        if publisher.file_sampling:
            self.builder_args["sampling"] = publisher.file_sampling
        self.normalization = publisher.normalization
        head = self.names.fc("bias")
        self.classes = self.tensors[head].shape[0] if head in self.tensors else None

    def load(self, model, full_model):
        has_head = classifier_size(model)
        skip = ("predictions",) if has_head is not None and has_head != self.classes else ()
        converters.assign(model, self.tensors, self.names, self.path, skip)
        return model


class KerasModelFile(WeightsSource):
    """A `.keras` file: a video model of the same architecture (whose clip
    the new model takes over) or a 2D ResNet (inflated; taken to be
    keras.applications', whose normalisation the model then records)."""

    def __init__(self, path):
        self.model = keras.saving.load_model(os.fspath(path), compile=False)
        self.clip = recorded_clip(self.model)
        if any(isinstance(layer, keras.layers.Conv2D) for layer in self.model.layers):
            self.normalization = IMAGENET_NORMALIZATION

    def load(self, model, full_model):
        return load_weights(model, self.model)


class WeightsFile(WeightsSource):
    """A `.weights.h5` file of the same architecture."""

    def __init__(self, path):
        self.path = os.fspath(path)

    def load(self, model, full_model):
        return load_weights(model, self.path)


def weights_source(info, weights):
    """The `WeightsSource` of a builder's `weights` argument.

    Args:
        info: the zoo model's `registry.ModelInfo`.
        weights: `None`, `"imagenet"`, a preset name of the model or a path.
    """
    if weights is None:
        return WeightsSource()
    if weights == "imagenet":
        return ImageNetWeights(info.depth)
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError("`weights` must be None, 'imagenet', a preset name (see "
                         f"zoo.list_weights({info.name!r})) or a file path. "
                         f"Received: weights={weights!r}")
    preset = presets.find_preset(info.name, weights)
    if preset is not None:
        return PresetWeights(preset)
    path = os.fspath(weights)
    if not os.path.exists(path):
        known = ", ".join(map(repr, presets.PRESETS.get(info.name, {})))
        raise ValueError(f"Weights file not found, and not a preset of {info.name} (None, "
                         f"'imagenet', {known}). Received: weights={path!r}")
    if path.endswith(".keras"):
        return KerasModelFile(path)
    if path.endswith(".h5"):
        return WeightsFile(path)
    return CheckpointFile(path)


def recorded_clip(model):
    """The `Clip` a model records (its `VideoPreprocessing` layer), or None."""
    layer = find_preprocessing(model)
    return None if layer is None else layer.clip

