"""Parameters and FLOPs of a model, per stage, counted from its layers.

FLOPs are multiply-accumulates (the convention of the paper's tables and of
fvcore, used by pytorchvideo and mmaction2): convolutions, dense layers and
the non-local blocks' projections and pairwise matrix products. Batch norm,
activations, pooling and additions are not counted (they are a few percent).
Parameters are the trainable weights (what PyTorch's `parameters()` counts:
BN running statistics are excluded).
"""

import math
import re

import keras

from keras_nonlocal.keras_private import node_shapes
from keras_nonlocal.layers.nonlocal_block import NonLocalBase

STAGE_OF = re.compile(r"^(preprocessing|conv[1-5]|pool[12]|avg_pool|dropout|predictions|window_mean|scores)")


def _stage(layer_name):
    match = STAGE_OF.match(layer_name)
    if not match:
        return "other"
    prefix = match.group(1)
    return {"preprocessing": "stem", "conv1": "stem", "pool1": "stem", "pool2": "res2", "conv2": "res2",
            "conv3": "res3", "conv4": "res4", "conv5": "res5"}.get(prefix, "head")


def layer_macs(layer, input_shape, output_shape):
    """Multiply-accumulates of one layer for one example."""
    if isinstance(layer, keras.layers.Conv3D) or isinstance(layer, keras.layers.Conv2D):
        kernel = math.prod(layer.kernel_size)
        cin = input_shape[-1] // layer.groups
        return math.prod(output_shape[1:-1]) * kernel * cin * layer.filters
    if isinstance(layer, keras.layers.Dense):
        return math.prod(input_shape[1:-1]) * input_shape[-1] * layer.units
    if isinstance(layer, NonLocalBase):
        return nonlocal_macs(layer, input_shape)
    return 0


def nonlocal_macs(layer, input_shape):
    """Projections plus the two N x N' matrix products of Eq. (1)."""
    channels = input_shape[-1]
    inner = layer.inner_width(channels)
    positions = input_shape[1:-1]
    n = math.prod(positions)
    n_keys = math.prod(layer.key_grid(positions))
    kv_positions = n_keys if layer.pool_position == "before" else n
    function = layer.pairwise_function
    macs = kv_positions * channels * inner  # g
    if "theta" in function.projections:
        macs += n * channels * inner
    if "phi" in function.projections:
        macs += kv_positions * channels * inner
    key_depth = inner if "theta" in function.projections else channels
    macs += n * inner * channels  # W_z
    return macs + function.pairwise_macs(n, n_keys, layer.keys_per_query(positions),
                                         key_depth, inner)


def complexity(model):
    """Per-stage parameters and MACs of a model with a fully known input shape.

    Returns:
        A dict `{stage: {"params": int, "macs": int}}` with a `"total"` entry.
    """
    if any(d is None for d in model.inputs[0].shape[1:]):
        raise ValueError(
            "complexity() needs a model built with a fixed input shape. "
            f"Received: input shape {tuple(model.inputs[0].shape)}"
        )
    stages = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        input_shape, output_shape = node_shapes(layer)
        stage = stages.setdefault(_stage(layer.name), {"params": 0, "macs": 0})
        stage["params"] += sum(math.prod(w.shape) for w in layer.trainable_weights)
        stage["macs"] += layer_macs(layer, input_shape, output_shape)
    stages = {k: v for k, v in stages.items() if k != "other" or v["params"] or v["macs"]}
    stages["total"] = {
        key: sum(s[key] for s in stages.values()) for key in ("params", "macs")
    }
    return stages


def format_complexity(stages, title=""):
    """A printable table of `complexity()`'s result."""
    lines = [title] if title else []
    lines.append(f"{'stage':<8} {'params (M)':>11} {'GFLOPs (MACs)':>14}")
    for name, s in stages.items():
        if name == "total":
            lines.append("-" * 35)
        lines.append(f"{name:<8} {s['params'] / 1e6:>11.2f} {s['macs'] / 1e9:>14.2f}")
    return "\n".join(lines)
