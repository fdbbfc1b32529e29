"""`VideoClassifier`: a video ResNet backbone and the paper's classifier.

keras-hub's shape: the classifier holds its backbone as `model.backbone`,
`get_config` returns the backbone's config and the head's arguments, and a
saved model (`.keras` or a preset directory) loads back as both classes.
The graph is flat: the backbone's layers are the classifier's own (the
classifier is built on the backbone's output tensor, not by calling the
backbone), so `model.get_layer("conv2_block1_1_conv")`, checkpoints and
every tool that reads layers by name see one network.
"""

import keras

from keras_nonlocal.models import preset_files
from keras_nonlocal.models.backbone import VideoResNetBackbone
from keras_nonlocal.models.video_resnet import classifier_head
from keras_nonlocal.models.video_resnet import head_window


@keras.saving.register_keras_serializable(package="keras_nonlocal")
class VideoClassifier(keras.Model):
    """Classifies clips with a `VideoResNetBackbone`: average pooling,
    dropout and a dense classifier, read as the backbone's
    `architecture.test_head` says on maps larger than a training clip's.

    Args:
        backbone: a `VideoResNetBackbone` without pooling (or its config).
        classes: the classifier's size.
        dropout: dropout rate before the classifier.
        classifier_activation: `"softmax"`, `"sigmoid"` or `None` (logits).
        **kwargs: `name`, `trainable` (`keras.Model`).

    Example:

    ```python
    model = keras_nonlocal.VideoClassifier.from_preset("nl_i3d_r50_kinetics400")
    model.backbone.architecture.num_nonlocal     # 5
    model.save_to_preset("my_nl_i3d")            # config.json, model.weights.h5, metadata.json
    keras_nonlocal.VideoClassifier.from_preset("my_nl_i3d")
    ```
    """

    def __init__(self, backbone, classes=400, dropout=0.5, classifier_activation="softmax",
                 **kwargs):
        if isinstance(backbone, dict):
            backbone = keras.saving.deserialize_keras_object(backbone)
        if not isinstance(backbone, VideoResNetBackbone) or backbone.pooling is not None:
            raise ValueError("`backbone` must be a VideoResNetBackbone with pooling=None (the "
                             f"classifier pools). Received: backbone={backbone!r}")
        architecture = backbone.architecture
        window = head_window(architecture, backbone.clip)
        outputs = classifier_head(backbone.output, architecture.test_head, window, classes,
                                  dropout, classifier_activation, backbone.dtype_policy)
        kwargs.setdefault("name", "video_classifier")
        super().__init__(backbone.input, outputs, dtype=backbone.dtype_policy, **kwargs)
        self.backbone = backbone
        self.classes = classes
        self.dropout = dropout
        self.classifier_activation = classifier_activation

    @property
    def clip(self):
        """The clip the model records (`zoo.preprocessing_spec`)."""
        return self.backbone.clip

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "classes": self.classes,
            "dropout": self.dropout,
            "classifier_activation": self.classifier_activation,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def save_to_preset(self, preset_dir):
        """Writes the model as a preset directory (`config.json`,
        `model.weights.h5`, `metadata.json`, as keras-hub writes them;
        atomically: a crash leaves the old directory or none)."""
        preset_files.save_preset(self, preset_dir)

    @classmethod
    def from_preset(cls, preset, **kwargs):
        """A classifier from a preset.

        Args:
            preset: a directory written by `save_to_preset`; an `hf://` handle
                (downloaded by Keras with `huggingface_hub`); a `kaggle://`
                handle (downloaded with `kagglehub`); or a built-in name,
                `<zoo model>_<weights preset>` such as
                `"nl_i3d_r50_kinetics400"` (`zoo.list_weights()`).
            **kwargs: for a built-in name, further zoo builder arguments
                (e.g. `classes=10` to fine-tune: all but the head loaded).

        Returns:
            A `VideoClassifier`.
        """
        return preset_files.load_preset(preset, cls, **kwargs)


def video_resnet(
    architecture=None,
    clip=None,
    include_top=True,
    pooling=None,
    classes=400,
    dropout=0.5,
    classifier_activation="softmax",
    input_shape=None,
    include_preprocessing=True,
    synchronized_bn=False,
    publisher=None,
    name=None,
):
    """Builds a video ResNet: a `VideoClassifier`, or its backbone alone.

    Args:
        architecture: an `Architecture` (default: C2D ResNet-50, paper 32x2).
        clip: the `keras_nonlocal.Clip` the model is for (its normalisation
            and the rest of the record go into the `VideoPreprocessing`
            layer the model starts with). Defaults to `Clip()`.
        include_top: the classifier (a `VideoClassifier`); `False` gives the
            `VideoResNetBackbone`.
        pooling: with `include_top=False`, what the model returns: `None`
            the res5 feature map `(batch, T', H', W', C)`, `"avg"` or
            `"max"` its global average or maximum `(batch, C)` (the
            features the classifier reads for `"avg"`).
        classes: number of classes of the classifier.
        dropout: dropout rate before the classifier.
        classifier_activation: activation of the classifier, `None` for logits.
        input_shape: `(T, H, W, 3)`; defaults to `(None, None, None, 3)`.
        include_preprocessing: the model normalises RGB frames in [0, 255]
            (uint8 or float) itself; `False` takes normalised frames (the
            clip is recorded all the same).
        synchronized_bn: BN statistics over all replicas (TensorFlow
            backend); the paper's models use per-device statistics.
        publisher: whose network it is (recorded in the backbone).
        name: model name.

    Returns:
        A `VideoClassifier` or a `VideoResNetBackbone`.
    """
    if include_top and pooling is not None:
        raise ValueError("`pooling` is for include_top=False (the classifier pools). "
                         f"Received: pooling={pooling!r}")
    backbone = VideoResNetBackbone(
        architecture, clip=clip, publisher=publisher, pooling=pooling,
        include_preprocessing=include_preprocessing, synchronized_bn=synchronized_bn,
        input_shape=input_shape, name=(name or "video_resnet") + ("_backbone" if include_top else ""))
    if not include_top:
        return backbone
    return VideoClassifier(backbone, classes=classes, dropout=dropout,
                           classifier_activation=classifier_activation,
                           name=name or "video_resnet")


def classifier_size(model):
    """The classes of a model's classifier (its `predictions` layer), None
    for a model without one."""
    try:
        return model.get_layer("predictions").kernel.shape[-1]
    except ValueError:
        return None
