"""ImageNet inflation: a 2D ResNet's weights into a video ResNet (paper, sec. 4)."""

import keras
import numpy as np

from keras_nonlocal.layers.nonlocal_block import NonLocalBase


def inflate_kernel(kernel_2d, temporal_size):
    """(kh, kw, in, out) -> (t, kh, kw, in, out): t copies divided by t.

    A clip made of one frame repeated then gives the 2D result wherever the
    temporal window holds no padding.
    """
    kernel_2d = np.asarray(kernel_2d)
    return np.repeat(kernel_2d[None], temporal_size, axis=0) / temporal_size


def inflate(model_2d, model_3d, skip=("predictions",)):
    """Copies a 2D ResNet's weights into a video ResNet, inflating kernels.

    Layers are matched by name (keras.applications naming, which the zoo
    uses). Conv kernels are inflated; conv biases (keras.applications convs
    have them, the video models do not) are folded into the following
    BatchNormalization's moving mean, which is exact; BN statistics are
    adjusted for the difference in epsilon. Non-local blocks keep their
    identity initialisation. Layers named in `skip` (the classifier, by
    default) are copied only when their shapes match.

    Args:
        model_2d: a 2D ResNet (e.g. `keras.applications.ResNet50`).
        model_3d: a zoo video ResNet of the same depth.
        skip: layers of `model_3d` that may stay as they are.

    Returns:
        The list of `model_3d` layer names that received weights.

    Raises:
        ValueError: naming every tensor without a counterpart or with a
            shape that does not match, when the two models differ in depth
            or layout.
    """
    layers_2d = {layer.name: layer for layer in model_2d.layers if layer.weights}
    problems, copied, used = [], [], set()
    for layer in model_3d.layers:
        if not layer.weights or isinstance(layer, NonLocalBase):
            continue
        source = layers_2d.get(layer.name)
        if source is None:
            if layer.name not in skip:
                problems.append(f"{layer.name}: no layer of that name in {model_2d.name}")
            continue
        used.add(layer.name)
        try:
            values = _converted(source, layer)
        except ValueError as error:
            if layer.name in skip:
                continue
            problems.append(str(error))
            continue
        layer.set_weights(values)
        copied.append(layer.name)
    unused = sorted(set(layers_2d) - used - set(skip))
    problems += [f"{name}: in {model_2d.name} but not in {model_3d.name}" for name in unused]
    if problems:
        raise ValueError(
            f"Cannot inflate {model_2d.name} into {model_3d.name}: "
            f"{len(problems)} tensors do not match:\n  " + "\n  ".join(problems)
        )
    _fold_conv_biases(model_2d, model_3d)
    return copied


def _converted(source, layer):
    """The weights of `layer` made from those of the 2D `source` layer."""
    if isinstance(layer, keras.layers.Conv3D):
        if not isinstance(source, keras.layers.Conv2D):
            raise ValueError(f"{layer.name}: expected a Conv2D, found {type(source).__name__}")
        kernel_2d = keras.ops.convert_to_numpy(source.kernel)
        expected = tuple(layer.kernel.shape[1:])
        if tuple(kernel_2d.shape) != expected:
            raise ValueError(
                f"{layer.name}/kernel: shape {tuple(layer.kernel.shape)} needs a 2D "
                f"kernel {expected}, found {tuple(kernel_2d.shape)}"
            )
        values = [inflate_kernel(kernel_2d, layer.kernel.shape[0])]
        if layer.use_bias:
            values.append(keras.ops.convert_to_numpy(source.bias))
        return values
    if isinstance(layer, keras.layers.BatchNormalization):
        if not isinstance(source, keras.layers.BatchNormalization):
            raise ValueError(f"{layer.name}: expected BatchNormalization, found {type(source).__name__}")
        gamma, beta, mean, var = (keras.ops.convert_to_numpy(w) for w in source.weights)
        if gamma.shape != tuple(layer.gamma.shape):
            raise ValueError(
                f"{layer.name}/gamma: shape {tuple(layer.gamma.shape)}, found {gamma.shape}"
            )
        # Same normalisation under the target's epsilon.
        var = np.maximum(var + source.epsilon - layer.epsilon, 0.0)
        return [gamma, beta, mean, var]
    target = [tuple(w.shape) for w in layer.weights]
    values = [keras.ops.convert_to_numpy(w) for w in source.weights]
    if [v.shape for v in values] != target:
        raise ValueError(
            f"{layer.name}: shapes {target}, found {[v.shape for v in values]}"
        )
    return values


def _fold_conv_biases(model_2d, model_3d):
    """BN(conv(x) + b) == BN'(conv(x)) with BN' moving mean = mean - b."""
    for layer in model_3d.layers:
        if not isinstance(layer, keras.layers.Conv3D) or layer.use_bias:
            continue
        try:
            source = model_2d.get_layer(layer.name)
        except ValueError:
            continue
        if not getattr(source, "use_bias", False):
            continue
        bn = model_3d.get_layer(layer.name[: -len("_conv")] + "_bn")
        gamma, beta, mean, var = bn.get_weights()
        bn.set_weights([gamma, beta, mean - keras.ops.convert_to_numpy(source.bias), var])
