"""Loading a weights file or a saved model into a zoo model."""

import os

import keras

from keras_nonlocal.weights.inflation import inflate


def load_weights(model, path):
    """Loads `path` into `model`, inflating it if it holds a 2D network.

    Args:
        model: a zoo video model.
        path: a `.weights.h5` file of this architecture, or a `.keras` file
            (or a loaded `keras.Model`) holding either a video model of the
            same layout (copied layer by layer, by name) or a 2D ResNet
            (inflated, see `inflate`).

    Raises:
        ValueError: the file does not exist, or its tensors do not match
            (the message names them).
    """
    if isinstance(path, keras.Model):
        return _load_model_weights(path, model)
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ValueError(f"Weights file not found. Received: weights={path!r}")
    if path.endswith(".weights.h5"):
        try:
            model.load_weights(path)
        except ValueError as error:
            raise ValueError(
                f"The weights in {path!r} do not fit {model.name}: {error}"
            ) from error
        return model
    if not path.endswith(".keras"):
        raise ValueError(
            "`weights` must be None, 'imagenet', a '.weights.h5' file or a "
            f"'.keras' file. Received: weights={path!r}"
        )
    return _load_model_weights(keras.saving.load_model(path, compile=False), model)


def _load_model_weights(source, model):
    if any(isinstance(layer, keras.layers.Conv2D) for layer in source.layers):
        inflate(source, model)
        return model
    copy_by_name(source, model)
    return model


def copy_by_name(source, model, skip=()):
    """Copies the weights of every layer of `model` from the layer of the same
    name in `source`, checked whole before anything is copied.

    Args:
        source, model: Keras models (the same architecture).
        skip: layers of `model` left as they are when their shapes differ
            from the source's (a new classifier, for fine-tuning).

    Raises:
        ValueError: naming every layer missing in `source` or of other shapes.
    """
    problems, planned = [], []
    by_name = {layer.name: layer for layer in source.layers}
    for layer in model.layers:
        if not layer.weights:
            continue
        other = by_name.get(layer.name)
        if other is None:
            problems.append(f"{layer.name}: missing in {source.name}")
            continue
        want = [tuple(w.shape) for w in layer.weights]
        have = [tuple(w.shape) for w in other.weights]
        if want != have:
            if layer.name not in skip:
                problems.append(f"{layer.name}: shapes {want}, found {have}")
            continue
        planned.append((layer, other))
    if problems:
        raise ValueError(
            f"Cannot load {source.name} into {model.name}: {len(problems)} "
            "layers do not match:\n  " + "\n  ".join(problems)
        )
    for layer, other in planned:
        layer.set_weights(other.get_weights())
    return model
