"""Named network layouts: the conventions of each published implementation.

A zoo model is its registry entry (depth, C2D / I3D, non-local blocks) built
with a `sampling` (the clip and the temporal strides that go with it) and a
`layout` (the conventions of the code that trained the weights). Together
they give an exact `Architecture`; a checkpoint reproduces its outputs only
in the layout it was trained in.
"""

from keras_nonlocal.models.video_resnet import Architecture
from keras_nonlocal.settings import did_you_mean

# frames x stride of the clip.
SAMPLINGS = {"32x2": (32, 2), "8x8": (8, 8)}

LAYOUTS = {
    # The paper's Table 1 (pool1 3x3x3 and pool2 3x1x1, both stride 2 in time,
    # padded) with keras.applications' stride on the first 1x1 conv, so that
    # its ImageNet ResNets inflate exactly.
    "paper": dict(stride_on="1x1", pool_padding="symmetric"),
    # The original Caffe2 release (video-nonlocal-net): stride on the 3x3
    # conv, pool1 and pool2 unpadded (112 -> 55 after pool1). 32-frame files
    # come from its resnet_video_org network (conv1, pool1 2x3x3 and pool2
    # 2x1x1 each halve time), 8-frame files from resnet_video.
    "release": dict(stride_on="3x3", pool_padding="valid"),
    # PySlowFast and pytorchvideo: stride on the 3x3 conv, pool1 1x3x3 padded
    # (112 -> 56), conv1 never strides in time, pool2 2x1x1.
    "pyslowfast": dict(stride_on="3x3", pool_padding="symmetric"),
    "pytorchvideo": dict(stride_on="3x3", pool_padding="symmetric"),
    # mmaction2's ResNet3d I3D (32x2x1 configs): conv1 and pool1 (1x3x3, a
    # temporal subsampling, padded) each halve time, pool2 2x1x1; stride on
    # the 3x3 conv. Its non-local blocks (mmcv NonLocal3d) pool the keys and
    # values after the phi and g projections, do not scale the logits
    # (use_scale=False in every published config) and have no W_z bias.
    "mmaction2": dict(stride_on="3x3", pool_padding="symmetric"),
}

# Non-local block arguments a layout implies (the caller's nonlocal_kwargs win).
NONLOCAL_DEFAULTS = {
    "mmaction2": dict(subsample_position="after", scale=False, output_bias=False),
}

# (conv1 temporal stride, pool1 (kernel, stride), pool2 (kernel, stride)) in time.
_EIGHT = (1, (1, 1), (2, 2))
TEMPORAL = {
    "paper": {"32x2": (2, (3, 2), (3, 2)), "8x8": _EIGHT},
    "release": {"32x2": (2, (2, 2), (2, 2)), "8x8": _EIGHT},
    "pyslowfast": {"32x2": _EIGHT, "8x8": _EIGHT},
    "pytorchvideo": {"32x2": _EIGHT, "8x8": _EIGHT},
    "mmaction2": {"32x2": (2, (1, 2), (2, 2)), "8x8": _EIGHT},
}


def check_choice(key, value, choices):
    if value not in choices:
        raise ValueError(f"`{key}` must be one of {', '.join(map(repr, choices))}."
                         f"{did_you_mean(str(value), choices)} Received: {key}={value!r}")
    return value


def architecture(info, sampling="32x2", layout="paper", inflate=None, num_nonlocal=None,
                 nonlocal_mode="embedded_gaussian", nonlocal_kwargs=None, pool2=True,
                 base_width=64):
    """The `Architecture` of zoo model `info` (a `ModelInfo`) in a sampling and layout."""
    check_choice("sampling", sampling, SAMPLINGS)
    check_choice("layout", layout, LAYOUTS)
    if inflate is not None and info.inflate is None:
        raise ValueError(f"{info.name} is a C2D model; `inflate` applies to I3D models. "
                         f"Received: inflate={inflate!r}")
    conv1_stride, pool1, pool2_temporal = TEMPORAL[layout][sampling]
    return Architecture(
        depth=info.depth, inflate=inflate or info.inflate,
        num_nonlocal=info.num_nonlocal if num_nonlocal is None else num_nonlocal,
        nonlocal_mode=nonlocal_mode,
        nonlocal_kwargs={**NONLOCAL_DEFAULTS.get(layout, {}), **(nonlocal_kwargs or {})},
        conv1_temporal_stride=conv1_stride, pool1_temporal=pool1,
        pool2_temporal=pool2_temporal if pool2 else None, base_width=base_width,
        **LAYOUTS[layout])
