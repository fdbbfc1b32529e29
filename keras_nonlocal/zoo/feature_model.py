"""Feature models: any stage of a zoo model, pooled or not.

Works on every model that starts with the zoo's `VideoPreprocessing` layer:
one built by a builder, with a preset, or loaded from a `.keras` checkpoint.
The feature model keeps the input and the clip record, so everything that
reads `zoo.preprocessing_spec()` (the data pipelines, `keras-nonlocal
features`) treats it as the model it comes from.
"""

import keras

from keras_nonlocal import keras_private
from keras_nonlocal.models.video_resnet import HEAD_LAYERS
from keras_nonlocal.models.video_resnet import check_pooling
from keras_nonlocal.models.video_resnet import global_pool
from keras_nonlocal.zoo.describe import preprocessing_layer

def feature_layer_name(model):
    """The name of `model`'s last feature map `(batch, T, H, W, C)`: the res5
    output the classifier pools."""
    for layer in reversed(model.layers):
        if layer.name in HEAD_LAYERS:  # a test head's windows are 5-D too
            continue
        if len(keras_private.output_in(model, layer).shape) == 5:
            return layer.name
    raise ValueError(f"{model.name} has no 5-D feature map. Received: model={model.name!r}")


def feature_model(model, layer=None, pooling="avg"):
    """A model from `model`'s input to one of its stages.

    Args:
        model: a zoo model (any builder, a preset, a loaded `.keras` file).
        layer: the Keras layer name of the stage, e.g. `"conv4_block6_out"`
            or a non-local block's `"conv4_block6_nonlocal"`; default the
            res5 output the classifier reads.
        pooling: `"avg"` (default: `(batch, C)`, for the default layer the
            features the classifier sees), `"max"`, or `None` (the map
            `(batch, T', H', W', C)`).

    Returns:
        A functional `keras.Model` sharing `model`'s layers and weights.

    Example:

    ```python
    model = zoo.nl_i3d_r50(weights="kinetics400")
    features = zoo.feature_model(model)                      # (batch, 2048)
    res4 = zoo.feature_model(model, "conv4_block6_out", pooling=None)
    ```
    """
    check_pooling(pooling)
    preprocessing_layer(model)  # a zoo model: it records its clip
    name = layer or feature_layer_name(model)
    try:
        output = keras_private.output_in(model, model.get_layer(name))
    except ValueError:
        stages = [l.name for l in model.layers if l.name.endswith(("_out", "_nonlocal"))]
        raise ValueError(
            f"{model.name} has no layer {name!r}. Its stage outputs: {', '.join(stages)}. "
            f"Received: layer={layer!r}") from None
    if len(output.shape) != 5 or name in HEAD_LAYERS:
        raise ValueError(f"Layer {name!r} of {model.name} gives {tuple(output.shape)}, not a "
                         f"feature map (batch, T, H, W, C). Received: layer={layer!r}")
    if pooling is not None:
        output = global_pool(output, pooling, name=f"{name}_{pooling}_pool")
    return keras.Model(model.input, output, name=f"{model.name}_features")
