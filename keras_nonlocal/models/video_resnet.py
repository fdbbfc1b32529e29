"""Video ResNets of the paper: C2D, I3D and their non-local versions.

One constructor, `video_resnet`, builds every variant (paper Table 1 and
section 4, the original release, pytorchvideo's 8x8 models). Layer names
follow `keras.applications.ResNet50` (`conv2_block1_1_conv`, ...), so an
ImageNet ResNet maps onto a video model by name.
"""

import keras

from keras_nonlocal.layers import NonLocal3D
from keras_nonlocal.layers.preprocessing import SPECS, VideoPreprocessing
from keras_nonlocal.layers.sync_batch_norm import SyncBatchNormalization

STAGE_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
WIDTHS = (64, 128, 256, 512)
EXPANSION = 4
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9


def inflation_pattern(depth):
    """Blocks whose kernel is inflated in I3D, per stage (res2..res5).

    The original release's pattern: every block of res2, every other block
    of res3 and res4 starting with the first, the middle block of res5.
    """
    res2, res3, res4, res5 = STAGE_BLOCKS[depth]
    return (
        [True] * res2,
        [i % 2 == 0 for i in range(res3)],
        [i % 2 == 0 for i in range(res4)],
        [i % 2 == 1 for i in range(res5)],
    )


# Non-local blocks after these residual blocks (0-based), per stage. The
# layer after block b (0-based) of stage resK is named convK_block{b+1}_nonlocal.
NONLOCAL_POSITIONS = {
    50: {
        # "right before the last residual block of res4"
        1: {"res4": [4]},
        # "3 to res4 and 2 to res3, to every other residual block"
        5: {"res3": [1, 3], "res4": [1, 3, 5]},
        # "every residual block in res3 and res4"
        10: {"res3": [0, 1, 2, 3], "res4": [0, 1, 2, 3, 4, 5]},
    },
    101: {
        1: {"res4": [21]},
        # res3 as R50; in res4 one block every 7, spread over its 23 blocks
        5: {"res3": [1, 3], "res4": [6, 13, 20]},
        # res3 whole; res4 every 4th block, 6 blocks as in R50's res4
        10: {"res3": [0, 1, 2, 3], "res4": [1, 5, 9, 13, 17, 21]},
    },
}


def video_resnet(
    depth=50,
    inflate=None,
    num_nonlocal=0,
    nonlocal_mode="embedded_gaussian",
    nonlocal_scope="spacetime",
    nonlocal_kwargs=None,
    conv1_temporal_kernel=None,
    conv1_temporal_stride=2,
    pool1_temporal=(3, 2),
    pool2_temporal=(3, 2),
    stride_on="1x1",
    padding="symmetric",
    include_top=True,
    classes=400,
    dropout=0.5,
    classifier_activation="softmax",
    input_shape=None,
    include_preprocessing=True,
    preprocessing="caffe",
    num_frames=32,
    frame_stride=2,
    base_width=64,
    synchronized_bn=False,
    name=None,
):
    """Builds a video ResNet as a functional `keras.Model`.

    Args:
        depth: 50 or 101.
        inflate: `None` (C2D), `"3x1x1"` (the first 1x1 conv of a bottleneck
            becomes 3x1x1) or `"3x3x3"` (the 3x3 conv becomes 3x3x3), applied
            to the blocks of `inflation_pattern(depth)`.
        num_nonlocal: 0, 1, 5 or 10 non-local blocks, placed as the paper
            places them (`NONLOCAL_POSITIONS`).
        nonlocal_mode, nonlocal_scope: passed to `NonLocal3D`.
        nonlocal_kwargs: further `NonLocal3D` arguments (e.g. `use_bn`,
            `subsample_position`).
        conv1_temporal_kernel: defaults to 1 for C2D and 5 for I3D.
        conv1_temporal_stride: 2 in the paper's 32x2 models, 1 in 8x8 ones.
        pool1_temporal: (kernel, stride) of pool1 in time: (3, 2) in the
            paper's Table 1, (2, 2) in the original release, (1, 1) in 8x8.
        pool2_temporal: (kernel, stride) of the max-pool after res2, or None:
            (3, 2) paper, (2, 2) original release and pytorchvideo.
        stride_on: `"1x1"` puts the spatial stride of a stage's first block
            on its first 1x1 conv (keras.applications, original release);
            `"3x3"` on the 3x3 conv (PySlowFast, pytorchvideo).
        padding: `"symmetric"` pads strided convs and pools equally on both
            sides (PyTorch, Caffe2, keras.applications' stem); `"same"` uses
            Keras "same" padding (more on the right).
        include_top: add global average pooling, dropout and the classifier.
        classes: number of classes of the classifier.
        dropout: dropout rate before the classifier.
        classifier_activation: activation of the classifier, `None` for logits.
        input_shape: `(T, H, W, 3)`; defaults to `(None, None, None, 3)`.
        include_preprocessing: start the model with `VideoPreprocessing`, so
            it takes RGB frames in [0, 255] (uint8 or float).
        preprocessing: a key of `SPECS` or a dict with `channel_order`,
            `mean`, `std`.
        num_frames, frame_stride: the training clip, recorded in the
            preprocessing layer.
        base_width: channels of conv1 and of res2's bottleneck (64 in the
            paper); the stages use 1x, 2x, 4x, 8x of it. Smaller values make
            small models for quick experiments (no ImageNet weights exist).
        synchronized_bn: BN statistics over all replicas (TensorFlow
            backend); the paper's models use per-device statistics.
        name: model name.

    Returns:
        A `keras.Model`.
    """
    if not isinstance(base_width, int) or base_width < 1:
        raise ValueError(f"`base_width` must be a positive int. Received: base_width={base_width!r}")
    if depth not in STAGE_BLOCKS:
        raise ValueError(f"`depth` must be 50 or 101. Received: depth={depth!r}")
    if inflate not in (None, "3x1x1", "3x3x3"):
        raise ValueError(
            f"`inflate` must be None, '3x1x1' or '3x3x3'. Received: inflate={inflate!r}"
        )
    if num_nonlocal not in (0, 1, 5, 10):
        raise ValueError(
            "`num_nonlocal` must be 0, 1, 5 or 10 (the paper's settings). "
            f"Received: num_nonlocal={num_nonlocal!r}"
        )
    if stride_on not in ("1x1", "3x3"):
        raise ValueError(f"`stride_on` must be '1x1' or '3x3'. Received: stride_on={stride_on!r}")
    if padding not in ("symmetric", "same"):
        raise ValueError(
            f"`padding` must be 'symmetric' or 'same'. Received: padding={padding!r}"
        )
    if input_shape is None:
        input_shape = (None, None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 4 or input_shape[-1] != 3:
        raise ValueError(
            "`input_shape` must be (frames, height, width, 3). "
            f"Received: input_shape={input_shape}"
        )
    spec = SPECS[preprocessing] if isinstance(preprocessing, str) else dict(preprocessing)

    builder = _Builder(padding, synchronized_bn)
    inputs = keras.Input(input_shape, name="video")
    x = inputs
    if include_preprocessing:
        x = VideoPreprocessing(
            **spec, num_frames=num_frames, frame_stride=frame_stride,
            crop_size=input_shape[1] or 224, name="preprocessing",
        )(x)

    kt = conv1_temporal_kernel or (5 if inflate else 1)
    x = builder.conv(x, base_width, (kt, 7, 7), (conv1_temporal_stride, 2, 2), "conv1_conv")
    x = builder.bn_relu(x, "conv1")
    pk, ps = pool1_temporal
    x = builder.max_pool(x, (pk, 3, 3), (ps, 2, 2), "pool1_pool")

    pattern = inflation_pattern(depth)
    nonlocal_at = NONLOCAL_POSITIONS[depth].get(num_nonlocal, {})
    nl_kwargs = dict(mode=nonlocal_mode, scope=nonlocal_scope, synchronized_bn=synchronized_bn)
    if nonlocal_scope == "time":
        nl_kwargs["subsample"] = False
    nl_kwargs.update(nonlocal_kwargs or {})
    widths = [w * base_width // 64 for w in WIDTHS]
    for stage, (blocks, width) in enumerate(zip(STAGE_BLOCKS[depth], widths)):
        for b in range(blocks):
            stride = 2 if (b == 0 and stage > 0) else 1
            x = builder.bottleneck(
                x,
                width,
                stride=stride,
                inflate=inflate if (inflate and pattern[stage][b]) else None,
                stride_on=stride_on,
                name=f"conv{stage + 2}_block{b + 1}",
            )
            if b in nonlocal_at.get(f"res{stage + 2}", ()):
                x = NonLocal3D(**nl_kwargs, name=f"conv{stage + 2}_block{b + 1}_nonlocal")(x)
        if stage == 0 and pool2_temporal is not None:
            k2, s2 = pool2_temporal
            x = builder.max_pool(x, (k2, 1, 1), (s2, 1, 1), "pool2_pool")

    if include_top:
        x = keras.layers.GlobalAveragePooling3D(name="avg_pool")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name="dropout")(x)
        x = keras.layers.Dense(
            classes, activation=classifier_activation, name="predictions",
            kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
            dtype="float32" if classifier_activation == "softmax" else None,
        )(x)
    return keras.Model(inputs, x, name=name or "video_resnet")


class _Builder:
    """Conv / BN / pool helpers that apply the chosen padding convention."""

    def __init__(self, padding, synchronized_bn=False):
        self.padding = padding
        self.synchronized_bn = synchronized_bn

    def _pad(self, x, kernel, strides, name):
        """Explicit symmetric zero padding for strided ops; returns the Keras padding."""
        if self.padding == "same" or all(s == 1 for s in strides):
            if all(k % 2 == 1 for k in kernel) or self.padding == "same":
                return x, "same"
        pads = tuple(((k - 1) // 2, (k - 1) // 2) for k in kernel)
        if any(p != (0, 0) for p in pads):
            x = keras.layers.ZeroPadding3D(pads, name=name + "_pad")(x)
        return x, "valid"

    def conv(self, x, filters, kernel, strides, name):
        x, pad = self._pad(x, kernel, strides, name.replace("_conv", ""))
        return keras.layers.Conv3D(
            filters, kernel, strides=strides, padding=pad, use_bias=False,
            kernel_initializer="he_normal", name=name,
        )(x)

    def bn(self, x, name, zero_gamma=False):
        layer = SyncBatchNormalization if self.synchronized_bn else keras.layers.BatchNormalization
        return layer(
            epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name,
            gamma_initializer="zeros" if zero_gamma else "ones",
        )(x)

    def bn_relu(self, x, prefix):
        x = self.bn(x, prefix + "_bn")
        return keras.layers.Activation("relu", name=prefix + "_relu")(x)

    def max_pool(self, x, pool, strides, name):
        # Zero padding is exact here: the inputs are ReLU outputs (>= 0).
        x, pad = self._pad(x, pool, strides, name.replace("_pool", ""))
        return keras.layers.MaxPooling3D(pool, strides, padding=pad, name=name)(x)

    def bottleneck(self, x, width, stride, inflate, stride_on, name):
        filters = width * EXPANSION
        s1 = (1, stride, stride) if stride_on == "1x1" else (1, 1, 1)
        s2 = (1, stride, stride) if stride_on == "3x3" else (1, 1, 1)
        k1 = (3, 1, 1) if inflate == "3x1x1" else (1, 1, 1)
        k2 = (3, 3, 3) if inflate == "3x3x3" else (1, 3, 3)
        if stride != 1 or x.shape[-1] != filters:
            shortcut = self.conv(x, filters, (1, 1, 1), (1, stride, stride), name + "_0_conv")
            shortcut = self.bn(shortcut, name + "_0_bn")
        else:
            shortcut = x
        y = self.conv(x, width, k1, s1, name + "_1_conv")
        y = self.bn_relu(y, name + "_1")
        y = self.conv(y, width, k2, s2, name + "_2_conv")
        y = self.bn_relu(y, name + "_2")
        y = self.conv(y, filters, (1, 1, 1), (1, 1, 1), name + "_3_conv")
        y = self.bn(y, name + "_3_bn")
        y = keras.layers.Add(name=name + "_add")([shortcut, y])
        return keras.layers.Activation("relu", name=name + "_out")(y)
