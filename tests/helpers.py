"""Test helpers shared by the test modules (backend-agnostic)."""

import keras
import numpy as np


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def bilinear(frames, height, width):
    """NumPy reference: bilinear resize with half-pixel centres, edges clamped."""
    frames = np.asarray(frames, np.float64)

    def axis(n_out, n_in):
        at = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.floor(at).astype(int)
        return low, np.minimum(low + 1, n_in - 1), at - low

    y0, y1, fy = axis(height, frames.shape[1])
    x0, x1, fx = axis(width, frames.shape[2])
    rows = frames[:, y0] * (1 - fy)[None, :, None, None] + frames[:, y1] * fy[None, :, None, None]
    return rows[:, :, x0] * (1 - fx)[None, None, :, None] + rows[:, :, x1] * fx[None, None, :, None]


def randomize_weights(layer, rng, scale=0.3):
    """Gives every weight of `layer` a fresh random, non-trivial value."""
    for w in layer.weights:
        if "moving_variance" in w.path:
            value = rng.uniform(0.5, 2.0, w.shape)
        else:
            value = rng.normal(0.0, scale, w.shape)
        w.assign(value.astype(w.dtype))


def reference_weights(layer):
    """The layer's weights as the NumPy reference names them."""
    w = {}
    for name in ("theta", "phi", "g", "out"):
        sub = getattr(layer, name, None)
        if sub is not None:
            w[name + "_w"] = to_numpy(sub.kernel)
            w[name + "_b"] = (
                to_numpy(sub.bias) if sub.use_bias else np.zeros(sub.units)
            )
    if getattr(layer, "concat_project", None) is not None:
        w["concat_w"] = to_numpy(layer.concat_project.kernel)[:, 0]
    if layer.use_bn:
        w["gamma"] = to_numpy(layer.bn.gamma)
        w["beta"] = to_numpy(layer.bn.beta)
        w["mean"] = to_numpy(layer.bn.moving_mean)
        w["var"] = to_numpy(layer.bn.moving_variance)
    return w


def gradients(fn, arrays):
    """Gradients of the scalar `fn(*tensors)` w.r.t. each array, any backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        variables = [tf.Variable(a) for a in arrays]
        with tf.GradientTape() as tape:
            loss = fn(*variables)
        return [g.numpy() for g in tape.gradient(loss, variables)]
    if backend == "jax":
        import jax

        grads = jax.grad(fn, argnums=tuple(range(len(arrays))))(*arrays)
        return [np.asarray(g) for g in grads]
    if backend == "torch":
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        fn(*tensors).backward()
        return [t.grad.numpy() for t in tensors]
    raise NotImplementedError(backend)


def layer_gradients(layer, x, upstream, **call_kwargs):
    """d sum(layer(x) * upstream) / d(x, trainable weights), via stateless_call."""
    trainable = [to_numpy(v) for v in layer.trainable_variables]
    non_trainable = [to_numpy(v) for v in layer.non_trainable_variables]
    upstream = keras.ops.convert_to_tensor(upstream)

    def loss(x, *weights):
        out, _ = layer.stateless_call(list(weights), non_trainable, x, **call_kwargs)
        return keras.ops.sum(out * upstream)

    return gradients(loss, [x] + trainable)


def import_pytorchvideo_hub():
    """pytorchvideo's model hub, with torchvision's one import shimmed.

    pytorchvideo.models imports `torchvision.ops.RoIAlign` for its detection
    head only; no CPU build of torchvision exists beside torch 2.13.0 here,
    so that single name is replaced by a stub class. Nothing of it runs in
    the classification models used by the tests and benchmarks.
    """
    import sys
    import types

    if "torchvision" not in sys.modules:
        torchvision = types.ModuleType("torchvision")
        tv_ops = types.ModuleType("torchvision.ops")
        tv_ops.RoIAlign = type("RoIAlign", (), {})
        torchvision.ops = tv_ops
        sys.modules["torchvision"] = torchvision
        sys.modules["torchvision.ops"] = tv_ops
    from pytorchvideo.models.hub import resnet

    return resnet


# The four pairwise functions of the paper, as the layers name them.
MODES = ("gaussian", "embedded_gaussian", "dot_product", "concatenation")
