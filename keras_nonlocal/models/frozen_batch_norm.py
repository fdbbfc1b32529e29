"""Frozen batch norm: a zoo model with its batch norms as `Affine` layers."""

import keras

from keras_nonlocal import keras_private
from keras_nonlocal.layers.affine import affine_weights
from keras_nonlocal.models.backbone import VideoResNetBackbone
from keras_nonlocal.models.classifier import VideoClassifier


def freeze_batch_norm(model):
    """A copy of a zoo model whose batch norms have frozen statistics.

    Every batch norm of the trunk and of the non-local blocks becomes an
    `Affine` computing what it computes in inference (`scale = gamma /
    sqrt(var + eps)`, `bias = beta - mean * scale`); everything else is
    copied. The copy computes the model's inference output, in training as
    well: scales and biases train, no statistic is updated. This is how the
    paper fine-tunes on long clips (its 128-frame Kinetics models): the
    batch statistics of 2-4 long clips per device are too noisy. The
    architecture records it (`normalization="affine"`), so the copy saves,
    loads and reloads as what it is.

    Args:
        model: a `VideoClassifier` or `VideoResNetBackbone` (a zoo model).

    Returns:
        A new model of the same class.

    Example:

    ```python
    model = zoo.nl_i3d_r50(weights="kinetics400")
    frozen = freeze_batch_norm(model)     # fine-tune on 128-frame clips
    frozen.backbone.architecture.normalization   # "affine"
    ```
    """
    if not isinstance(model, (VideoClassifier, VideoResNetBackbone)):
        raise ValueError("freeze_batch_norm takes a zoo model (a VideoClassifier or a "
                         f"VideoResNetBackbone). Received: {type(model).__name__}")
    config = model.get_config()
    backbone = config["backbone"]["config"] if isinstance(model, VideoClassifier) else config
    architecture = backbone["architecture"]
    architecture["normalization"] = "affine"
    stages = architecture["nonlocal_stage_kwargs"].values()
    for blocks in [architecture["nonlocal_kwargs"], *stages]:
        if blocks.get("normalization", "batch_norm") == "batch_norm":
            blocks["normalization"] = "affine"
    frozen = model.__class__.from_config(config)
    values = {weight.path: weight for weight in model.weights}
    epsilons = _batch_norm_epsilons(model)
    for weight in frozen.weights:
        weight.assign(_value(weight.path, values, epsilons))
    return frozen


def _batch_norm_epsilons(model):
    """`{path prefix of a batch norm's weights: its epsilon}`, the blocks'
    own batch norms included."""
    return {layer.moving_mean.path.rsplit("/", 1)[0]: layer.epsilon
            for layer in keras_private.all_layers(model)
            if isinstance(layer, keras.layers.BatchNormalization)}


def _value(path, values, epsilons):
    """The frozen model's weight at `path`: the same weight, or a batch
    norm's folded into its `Affine`."""
    if path in values:
        return values[path]
    prefix, leaf = path.rsplit("/", 1)
    if prefix not in epsilons or leaf not in ("scale", "bias"):
        raise ValueError(f"freeze_batch_norm: no weight of the model gives {path}")

    def array(name):
        weight = values.get(f"{prefix}/{name}")
        return None if weight is None else keras.ops.convert_to_numpy(weight)

    scale, bias = affine_weights(array("gamma"), array("beta"), array("moving_mean"),
                                 array("moving_variance"), epsilons[prefix])
    return scale if leaf == "scale" else bias
