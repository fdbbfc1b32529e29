"""Non-local blocks in any functional or Sequential Keras model (paper section 6).

`insert_nonlocal` rebuilds the model with Keras' own `clone_model`, sharing
every original layer (and so every weight, with its value) and calling a new
block after each named layer. A block's BN starts at gamma = 0, so the new
model computes what the old one did until it is trained.
"""

import keras

from keras_nonlocal import keras_private
from keras_nonlocal.layers.nonlocal_block import NonLocal1D
from keras_nonlocal.layers.nonlocal_block import NonLocal2D
from keras_nonlocal.layers.nonlocal_block import NonLocal3D
from keras_nonlocal.settings import did_you_mean

BLOCKS = {3: NonLocal1D, 4: NonLocal2D, 5: NonLocal3D}


def block_name(layer_name):
    """`<layer>_nonlocal`, a ResNet block's `_out` dropped: `conv4_block5_out`
    -> `conv4_block5_nonlocal` (the zoo's names)."""
    stem = layer_name[:-len("_out")] if layer_name.endswith("_out") else layer_name
    return f"{stem}_nonlocal"


def _calls(model, layer):
    """How many times `model`'s graph calls `layer` (a layer shared with
    another model, e.g. the one a block was inserted into, counts once)."""
    if isinstance(model, keras.Sequential):
        return 1
    return len(keras_private.graph_calls(model, layer))


def _check(model, names):
    if not isinstance(model, keras.Model):
        raise ValueError(f"`model` must be a keras.Model. Received: model={type(model).__name__}")
    if not keras_private.is_graph_model(model):
        raise ValueError(
            f"{model.name} is a subclassed model ({type(model).__name__}): its call() is Python "
            "code Keras cannot rewire. Insert the block in its call(), or use a functional or "
            f"Sequential model. Received: model={type(model).__name__}")
    layers = {layer.name: layer for layer in model.layers}
    for name in names:
        if name not in layers:
            raise ValueError(f"{model.name} has no layer {name!r}.{did_you_mean(name, layers)} "
                             f"Received: after={name!r}")
        layer = layers[name]
        calls = _calls(model, layer)
        if calls > 1:
            raise ValueError(
                f"Layer {name!r} of {model.name} is called {calls} times "
                "(shared): a block after it would be shared too, which the paper's block is not. "
                f"Received: after={name!r}")
        shape = tuple(keras_private.output_in(model, layer).shape)
        if len(shape) not in BLOCKS or shape[-1] is None:
            raise ValueError(
                f"Layer {name!r} of {model.name} gives {shape}; a non-local block takes "
                "(batch, ..., channels) of rank 3, 4 or 5 with known channels. "
                f"Received: after={name!r}")
        if block_name(name) in layers:
            raise ValueError(f"{model.name} already has a layer {block_name(name)!r} (a block "
                             f"inserted before?). Received: after={name!r}")
    return layers


def insert_nonlocal(model, after, **block_kwargs):
    """A new model with a non-local block after each layer named in `after`.

    The block is `NonLocal1D`, `NonLocal2D` or `NonLocal3D` by the rank of the
    layer's output, named `<layer>_nonlocal` (a trailing `_out` dropped).
    Every original layer is shared with `model` (its weights keep their
    values); the blocks start as identities (zero-initialised BN), so the
    output is unchanged until training. The result saves and loads as
    `.keras` like any model of the package. As with any shared layer, an
    original layer's `.output` stays the original model's tensor; use the
    new model's (e.g. `get_layer("..._nonlocal").input`).

    Args:
        model: a functional or Sequential `keras.Model`.
        after: a layer name or a list of them (e.g. keras.applications'
            ResNet50 `"conv4_block5_out"`: the paper's Mask R-CNN block,
            before the last residual block of res4).
        **block_kwargs: the blocks' arguments (`mode`, `pool_size`,
            `bottleneck_ratio`, ...).

    Returns:
        A functional (or, for a Sequential model, a Sequential) `keras.Model`.

    Raises:
        ValueError: a subclassed model, an unknown name (the closest ones
            named), a layer called more than once, an output that is not
            `(batch, ..., channels)`.

    Example:

    ```python
    base = keras.applications.ResNet50(weights="imagenet")
    model = keras_nonlocal.insert_nonlocal(base, after="conv4_block5_out")
    model.get_layer("conv4_block5_nonlocal")   # a NonLocal2D on 1024 channels
    ```
    """
    names = [after] if isinstance(after, str) else list(after)
    if not names:
        raise ValueError(f"`after` names no layer. Received: after={after!r}")
    layers = _check(model, names)
    blocks = {name: BLOCKS[len(keras_private.output_in(model, layers[name]).shape)](
        name=block_name(name), **block_kwargs) for name in names}
    if isinstance(model, keras.Sequential):
        stack = []
        for layer in model.layers:
            stack.append(layer)
            if layer.name in blocks:
                stack.append(blocks[layer.name])
        return keras.Sequential([keras.Input(batch_shape=model.inputs[0].shape), *stack],
                                name=model.name)

    def call(layer, *args, **kwargs):
        output = layer(*args, **kwargs)
        return blocks[layer.name](output) if layer.name in blocks else output

    return keras.models.clone_model(model, clone_function=lambda layer: layer,
                                    call_function=call)
