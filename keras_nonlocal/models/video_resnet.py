"""Video ResNets of the paper: C2D, I3D and their non-local versions.

The `Architecture` record and the network it describes: `resnet_trunk`
builds every variant (paper Table 1 and section 4, the original release,
pytorchvideo's 8x8 models) up to res5, `classifier_head` the classifier;
`VideoResNetBackbone` and `VideoClassifier` (backbone.py, classifier.py) are
the models made of them. Layer names follow `keras.applications.ResNet50`
(`conv2_block1_1_conv`, ...), so an ImageNet ResNet maps onto a video model
by name.
"""

import dataclasses

import keras

from keras_nonlocal.layers import NonLocal3D
from keras_nonlocal.layers import WindowAveragePooling3D
from keras_nonlocal.layers.affine import Affine
from keras_nonlocal.layers.preprocessing import VideoPreprocessing
from keras_nonlocal.layers.fused_batch_norm import FusedBatchNormalization
from keras_nonlocal.layers.sync_batch_norm import SyncBatchNormalization
from keras_nonlocal.models.insertion import block_name
from keras_nonlocal.settings import check_choice

# Bottleneck blocks per stage (res2..res5). ResNet-14 is not in the paper:
# the smallest network of the family (one block per stage), for quick
# experiments and tests where the depth is not the point.
STAGE_BLOCKS = {14: (1, 1, 1, 1), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}
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


# Non-local blocks after these residual blocks (0-based), per stage: after
# the layer convK_block{b+1}_out, named convK_block{b+1}_nonlocal
# (`nonlocal_after` names the layers; `insertion.block_name` the blocks).
NONLOCAL_POSITIONS = {
    # one block per stage: after res4's, or after res3's and res4's
    14: {1: {"res4": [0]}, 2: {"res3": [0], "res4": [0]}},
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




def nonlocal_after(depth, num_nonlocal):
    """The layers (`convK_blockB_out`) after which the paper puts its
    `num_nonlocal` blocks in a ResNet of `depth` (`NONLOCAL_POSITIONS`); the
    same names in keras.applications' ResNets."""
    if depth not in NONLOCAL_POSITIONS:
        raise ValueError(f"`depth` must be one of {', '.join(map(str, STAGE_BLOCKS))}. "
                         f"Received: depth={depth!r}")
    if num_nonlocal and num_nonlocal not in NONLOCAL_POSITIONS[depth]:
        counts = ", ".join(map(str, (0, *NONLOCAL_POSITIONS[depth])))
        raise ValueError(f"`num_nonlocal` must be one of {counts} at depth {depth}. Received: "
                         f"num_nonlocal={num_nonlocal!r}")
    stages = NONLOCAL_POSITIONS[depth].get(num_nonlocal, {})
    return [f"conv{stage[3:]}_block{b + 1}_out" for stage in ("res3", "res4")
            for b in stages.get(stage, ())]


@dataclasses.dataclass(frozen=True)
class Architecture:
    """Everything that decides a video ResNet's weights and outputs.

    Two models with equal architectures take each other's weights and
    compute the same function. The zoo names the published ones (its
    `sampling` and `publisher` arguments); this record is the full detail.

    Args:
        depth: 50 or 101 (the paper's); 14 (one block per stage, for quick
            experiments).
        inflate: `None` (C2D), `"3x1x1"` (the first 1x1 conv of a bottleneck
            becomes 3x1x1) or `"3x3x3"` (the 3x3 conv becomes 3x3x3), applied
            to the blocks of `inflation_pattern(depth)`.
        num_nonlocal: 0, 1, 5 or 10 non-local blocks, placed as the paper
            places them (`NONLOCAL_POSITIONS`); 0, 1 or 2 at depth 14.
        nonlocal_mode: the blocks' pairwise function.
        nonlocal_kwargs: further `NonLocal3D` arguments (e.g. `scope`,
            `pool_position`, `scale`, `normalization`).
        nonlocal_stage_kwargs: `NonLocal3D` arguments of one stage's blocks
            over `nonlocal_kwargs`, by stage (`{"res3": {"frames_per_group":
            4}}`: the release's long-clip and LFB networks attend within
            groups of 4 frames in res3, globally in res4).
        normalization: `"batch_norm"` (default) or `"affine"`: every batch
            norm of the trunk an `Affine` (frozen statistics; the release's
            long-clip and LFB networks, `freeze_batch_norm`).
        conv1_temporal_kernel: defaults to 1 for C2D and 5 for I3D.
        conv1_temporal_stride: 2 in the 32-frame models, 1 in 8-frame ones.
        pool1_temporal: `(kernel, stride)` of pool1 in time: (3, 2) in the
            paper's Table 1, (2, 2) in the original release's 32-frame
            models, (1, 1) in 8-frame ones.
        pool2_temporal: `(kernel, stride)` of the max-pool after res2, or
            `None` for none: (3, 2) paper, (2, 2) release and the others.
        pool_padding: `"symmetric"` pads pool1 and pool2 by `(k - 1) // 2`
            on both sides (PyTorch); `"valid"` does not pad them (the
            original Caffe2 release: 112 -> 55 after pool1).
        stride_on: `"1x1"` puts the spatial stride of a stage's first block
            on its first 1x1 conv (keras.applications' ImageNet ResNets);
            `"3x3"` on the 3x3 conv (the original release, PySlowFast,
            pytorchvideo, mmaction2).
        padding: `"symmetric"` pads strided convs equally on both sides
            (PyTorch, Caffe2, keras.applications' stem); `"same"` uses Keras
            "same" padding (more on the right).
        base_width: channels of conv1 and of res2's bottleneck (64 in the
            paper); the stages use 1x, 2x, 4x, 8x of it.
        test_head: what the classifier reads of a res5 map larger than a
            training clip's (testing fully convolutional, e.g. 8 x 8 on a
            256 crop): `"global"` its mean (mmaction2); `"window_scores"`
            every training-size window (`head_window`) classified, scores
            (after the activation) averaged (the original release,
            PySlowFast); `"window_logits"` the windows' logits averaged, then
            the activation (pytorchvideo). At the training size all three
            are the same function.
    """

    depth: int = 50
    inflate: str = None
    num_nonlocal: int = 0
    nonlocal_mode: str = "embedded_gaussian"
    nonlocal_kwargs: dict = None
    nonlocal_stage_kwargs: dict = None
    normalization: str = "batch_norm"
    conv1_temporal_kernel: int = None
    conv1_temporal_stride: int = 2
    pool1_temporal: tuple = (3, 2)
    pool2_temporal: tuple = (3, 2)
    pool_padding: str = "symmetric"
    stride_on: str = "1x1"
    padding: str = "symmetric"
    base_width: int = 64
    test_head: str = "global"

    def __post_init__(self):
        choices = dict(depth=tuple(STAGE_BLOCKS), inflate=(None, "3x1x1", "3x3x3"),
                       test_head=TEST_HEADS, pool_padding=("symmetric", "valid"),
                       stride_on=("1x1", "3x3"), padding=("symmetric", "same"),
                       normalization=("batch_norm", "affine"))
        for key, allowed in choices.items():
            check_choice(key, getattr(self, key), allowed)
        nonlocal_after(self.depth, self.num_nonlocal)  # a count this depth places
        if not isinstance(self.base_width, int) or self.base_width < 1:
            raise ValueError(f"`base_width` must be a positive int. Received: base_width={self.base_width!r}")
        object.__setattr__(self, "nonlocal_kwargs", dict(self.nonlocal_kwargs or {}))
        stages = {key: dict(value) for key, value in (self.nonlocal_stage_kwargs or {}).items()}
        if not set(stages) <= {"res3", "res4"}:
            raise ValueError("`nonlocal_stage_kwargs` holds the blocks' arguments of stages "
                             f"res3 and res4. Received: nonlocal_stage_kwargs={stages!r}")
        object.__setattr__(self, "nonlocal_stage_kwargs", stages)
        for key in ("pool1_temporal", "pool2_temporal"):
            value = getattr(self, key)
            if value is not None:
                object.__setattr__(self, key, tuple(value))

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    def time_reduction(self):
        """Input frames per res5 frame (conv1, pool1 and pool2 strides)."""
        pool2 = self.pool2_temporal[1] if self.pool2_temporal is not None else 1
        return self.conv1_temporal_stride * self.pool1_temporal[1] * pool2


TEST_HEADS = ("global", "window_scores", "window_logits")


def head_window(architecture, clip):
    """The res5 size `(t, h, w)` of a training clip (`clip.num_frames` of
    `clip.crop_size` squared): the window a fully convolutional test head
    classifies."""
    side = max(clip.crop_size // 32, 1)
    return (max(clip.num_frames // architecture.time_reduction(), 1), side, side)


def resnet_trunk(inputs, architecture, clip=None, include_preprocessing=True,
                 synchronized_bn=False, dtype=None):
    """The video ResNet from `inputs` (RGB frames) to its res5 feature map.

    Args:
        inputs: a Keras tensor `(batch, T, H, W, 3)`.
        architecture: an `Architecture`.
        clip: the `keras_nonlocal.Clip` recorded in the `VideoPreprocessing`
            layer the network starts with.
        include_preprocessing: the network normalises RGB frames in [0, 255].
        synchronized_bn: BN statistics over all replicas.
        dtype: the layers' dtype policy (`None`: Keras' global policy).

    Returns:
        The res5 map `(batch, T', H', W', 8 x 4 x base_width)`.
    """
    arch = architecture
    builder = _Builder(arch.padding, arch.pool_padding, synchronized_bn, dtype,
                       arch.normalization)
    x = VideoPreprocessing(clip, normalize=include_preprocessing, name="preprocessing")(inputs)
    base = arch.base_width
    kt = arch.conv1_temporal_kernel or (5 if arch.inflate else 1)
    x = builder.conv(x, base, (kt, 7, 7), (arch.conv1_temporal_stride, 2, 2), "conv1_conv")
    x = builder.bn_relu(x, "conv1")
    pk, ps = arch.pool1_temporal
    x = builder.max_pool(x, (pk, 3, 3), (ps, 2, 2), "pool1_pool")
    pattern = inflation_pattern(arch.depth)
    nonlocal_at = set(nonlocal_after(arch.depth, arch.num_nonlocal))
    # TensorFlow's fused BN kernel in the blocks as in the trunk (`_Builder.bn`).
    nl_kwargs = dict(mode=arch.nonlocal_mode, synchronized_bn=synchronized_bn, fused_bn=True,
                     dtype=dtype)
    if arch.nonlocal_kwargs.get("scope") == "time":
        nl_kwargs["pool_size"] = None
    nl_kwargs.update(arch.nonlocal_kwargs)
    widths = [w * base // 64 for w in WIDTHS]
    for stage, (blocks, width) in enumerate(zip(STAGE_BLOCKS[arch.depth], widths)):
        for b in range(blocks):
            name = f"conv{stage + 2}_block{b + 1}"
            x = builder.bottleneck(
                x, width, stride=2 if (b == 0 and stage > 0) else 1,
                inflate=arch.inflate if (arch.inflate and pattern[stage][b]) else None,
                stride_on=arch.stride_on, name=name)
            if f"{name}_out" in nonlocal_at:
                stage_kwargs = arch.nonlocal_stage_kwargs.get(f"res{stage + 2}", {})
                x = NonLocal3D(**{**nl_kwargs, **stage_kwargs},
                               name=block_name(f"{name}_out"))(x)
        if stage == 0 and arch.pool2_temporal is not None:
            k2, s2 = arch.pool2_temporal
            x = builder.max_pool(x, (k2, 1, 1), (s2, 1, 1), "pool2_pool")
    return x


def check_input_shape(input_shape):
    """`(T, H, W, 3)`, default `(None, None, None, 3)`; a ValueError otherwise."""
    input_shape = (None, None, None, 3) if input_shape is None else tuple(input_shape)
    if len(input_shape) != 4 or input_shape[-1] != 3:
        raise ValueError(
            "`input_shape` must be (frames, height, width, 3). "
            f"Received: input_shape={input_shape}"
        )
    return input_shape


POOLINGS = (None, "avg", "max")
# The layers of the classifier (`_classifier`), after the res5 feature map.
HEAD_LAYERS = ("avg_pool", "dropout", "predictions", "window_mean", "scores")


def classifier_head(x, test_head, window, classes, dropout, activation, dtype=None):
    """Pooling, dropout and the classifier `predictions` on the res5 map `x`,
    read as `test_head` says (`Architecture`) over windows of `window`; per
    window, the classifier is the same Dense."""
    windows = test_head != "global"
    if windows:
        x = WindowAveragePooling3D(window, name="avg_pool", dtype="float32")(x)
    else:
        x = keras.layers.GlobalAveragePooling3D(name="avg_pool")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="dropout", dtype=dtype)(x)
    per_window = activation if test_head != "window_logits" else None
    x = keras.layers.Dense(
        classes, activation=per_window, name="predictions",
        kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
        dtype="float32" if per_window == "softmax" or windows else dtype,
    )(x)
    if windows:
        x = keras.layers.GlobalAveragePooling3D(name="window_mean", dtype="float32")(x)
    if test_head == "window_logits" and activation is not None:
        x = keras.layers.Activation(activation, name="scores", dtype="float32")(x)
    return x


def check_pooling(pooling):
    if pooling not in POOLINGS:
        raise ValueError(f"`pooling` must be None, 'avg' or 'max'. Received: pooling={pooling!r}")


def global_pool(x, pooling, name=None):
    """`x` `(batch, T, H, W, C)` pooled over time and space (`"avg"` or
    `"max"`) in float32 (a half-precision mean of thousands of positions
    loses digits), named `avg_pool` / `max_pool` unless `name` says."""
    layer = keras.layers.GlobalAveragePooling3D if pooling == "avg" else keras.layers.GlobalMaxPooling3D
    return layer(name=name or f"{pooling}_pool", dtype="float32")(x)


class _Builder:
    """Conv / BN / pool helpers that apply the chosen padding convention."""

    def __init__(self, padding, pool_padding="symmetric", synchronized_bn=False, dtype=None,
                 normalization="batch_norm"):
        self.padding = padding
        self.pool_padding = pool_padding
        self.synchronized_bn = synchronized_bn
        self.dtype = dtype
        self.normalization = normalization

    def _pad(self, x, kernel, strides, name):
        """Explicit symmetric zero padding for strided ops; returns the Keras padding."""
        if self.padding == "same" or all(s == 1 for s in strides):
            if all(k % 2 == 1 for k in kernel) or self.padding == "same":
                return x, "same"
        pads = tuple(((k - 1) // 2, (k - 1) // 2) for k in kernel)
        if any(p != (0, 0) for p in pads):
            x = keras.layers.ZeroPadding3D(pads, name=name + "_pad", dtype=self.dtype)(x)
        return x, "valid"

    def conv(self, x, filters, kernel, strides, name):
        x, pad = self._pad(x, kernel, strides, name.replace("_conv", ""))
        return keras.layers.Conv3D(
            filters, kernel, strides=strides, padding=pad, use_bias=False,
            kernel_initializer="he_normal", name=name, dtype=self.dtype,
        )(x)

    def bn(self, x, name, zero_gamma=False):
        if self.normalization == "affine":
            return Affine(scale_initializer="zeros" if zero_gamma else "ones", name=name,
                          dtype=self.dtype)(x)
        layer = SyncBatchNormalization if self.synchronized_bn else FusedBatchNormalization
        return layer(
            epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=name,
            gamma_initializer="zeros" if zero_gamma else "ones", dtype=self.dtype,
        )(x)

    def bn_relu(self, x, prefix):
        x = self.bn(x, prefix + "_bn")
        return keras.layers.Activation("relu", name=prefix + "_relu", dtype=self.dtype)(x)

    def max_pool(self, x, pool, strides, name):
        # Zero padding is exact here: the inputs are ReLU outputs (>= 0).
        if self.pool_padding == "valid":
            return keras.layers.MaxPooling3D(pool, strides, padding="valid", name=name,
                                             dtype=self.dtype)(x)
        x, pad = self._pad(x, pool, strides, name.replace("_pool", ""))
        return keras.layers.MaxPooling3D(pool, strides, padding=pad, name=name, dtype=self.dtype)(x)

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
        y = keras.layers.Add(name=name + "_add", dtype=self.dtype)([shortcut, y])
        return keras.layers.Activation("relu", name=name + "_out", dtype=self.dtype)(y)
