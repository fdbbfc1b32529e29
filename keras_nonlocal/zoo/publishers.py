"""Who published a network, and how they built it: one frozen record each.

A zoo model is its registry entry (depth, C2D / I3D, non-local blocks) built
the way one publisher built it: the `publisher=` argument of every builder
names the `Publisher`, `sampling=` the clip (`"32x2"`, `"8x8"`). The record
is what the builders (strides, pools, the non-local block's conventions),
the checkpoint loaders (tensor names), the clip (normalisation) read; a
checkpoint reproduces its outputs only in its publisher's network.

| record | who | stride | pool1 | normalisation | checkpoints | test head | protocol |
|---|---|---|---|---|---|---|---|
| `paper` | Table 1, keras.applications' stride | first 1x1 | padded | release's | (ImageNet inflation) | window scores | `keras_nonlocal` |
| `release` | video-nonlocal-net (Caffe2) | 3x3 | unpadded | RGB 114.75 / 57.375 | Caffe2 blob names | window scores | `release` |
| `pyslowfast` | PySlowFast | 3x3 | padded | the same numbers | Caffe2 blob names | window scores | `pyslowfast` |
| `pytorchvideo` | pytorchvideo | 3x3 | padded | the same numbers | `blocks.*` | window logits | `pyslowfast` |
| `mmaction2` | mmaction2 1.x | 3x3 | padded | ImageNet mean / std | `backbone.*` | global mean | `mmaction2` |

The test head (`models.Architecture.test_head`) is what the classifier
reads of a res5 map larger than training's (a 256 crop); the protocol
(`keras_nonlocal.protocol`) where the test views lie and how they combine.

A new publisher is one record registered (`register_publisher`, with its
weights presets), plus the code for whatever is new in it: its checkpoint
naming scheme (a `weights.converters.CheckpointNames` that recognises its
own tensor names), and fields of `Architecture` for what its network does
differently.
"""

import dataclasses
import types

from keras_nonlocal.clip import RELEASE_NORMALIZATION
from keras_nonlocal.clip import Normalization
from keras_nonlocal.models.video_resnet import TEST_HEADS
from keras_nonlocal.protocol import PROTOCOLS
from keras_nonlocal.settings import check_choice
from keras_nonlocal.weights.converters import CheckpointNames
from keras_nonlocal.weights.converters import MmactionNames
from keras_nonlocal.weights.converters import PytorchvideoNames
from keras_nonlocal.weights.converters import ReleaseNames

# frames x stride of the clip of each sampling.
SAMPLINGS = types.MappingProxyType({"32x2": (32, 2), "8x8": (8, 8)})


@dataclasses.dataclass(frozen=True)
class TimeAxis:
    """What a network does to time, for one sampling.

    Attributes:
        conv1_stride: conv1's temporal stride.
        pool1: pool1's `(kernel, stride)` in time.
        pool2: the max-pool after res2, `(kernel, stride)` in time.
    """

    conv1_stride: int
    pool1: tuple
    pool2: tuple


_EIGHT_FRAMES = TimeAxis(conv1_stride=1, pool1=(1, 1), pool2=(2, 2))


@dataclasses.dataclass(frozen=True)
class Publisher:
    """One published implementation's conventions.

    Attributes:
        name: the `publisher=` word (`"release"`).
        title: in words.
        stride_on: where a stage's spatial stride sits: `"1x1"` (the first
            1x1 conv, keras.applications' ImageNet ResNets) or `"3x3"`.
        pool_padding: `"symmetric"` (pool1 and pool2 padded by
            `(k - 1) // 2`, PyTorch) or `"valid"` (unpadded, Caffe2: 112 -> 55).
        time: `{sampling: TimeAxis}`.
        nonlocal_block: the `NonLocal3D` arguments its blocks need (where
            its code differs from the layer's defaults).
        normalization: the `Normalization` its networks were trained with.
        checkpoint_names: the naming scheme of its checkpoint files (a
            `weights.converters.CheckpointNames` subclass, which recognises
            its files), None if it publishes none.
        file_sampling: the sampling of its checkpoint files when a file
            does not say (`None`: the builder's default).
        test_head: how its code classifies a res5 map larger than a
            training clip's (`models.Architecture.test_head`).
        protocol: the name of its evaluation `Protocol` (`protocols`).
    """

    name: str
    title: str
    stride_on: str
    pool_padding: str
    time: types.MappingProxyType
    nonlocal_block: types.MappingProxyType
    normalization: Normalization
    checkpoint_names: type = None
    file_sampling: str = None
    test_head: str = "window_scores"
    protocol: str = "keras_nonlocal"

    def __post_init__(self):
        check_choice("test_head", self.test_head, TEST_HEADS)
        check_choice("protocol", self.protocol, tuple(PROTOCOLS))
        names = self.checkpoint_names
        if names is not None and not (isinstance(names, type)
                                      and issubclass(names, CheckpointNames)):
            raise ValueError("`checkpoint_names` must be a CheckpointNames subclass (or None). "
                             f"Received: checkpoint_names={names!r}")
        object.__setattr__(self, "time", types.MappingProxyType(dict(self.time)))
        object.__setattr__(self, "nonlocal_block", types.MappingProxyType(
            dict(self.nonlocal_block)))

    def architecture_args(self, sampling):
        """The `models.Architecture` arguments of this publisher's network at
        `sampling` (strides, pools, padding, the blocks' conventions)."""
        check_choice("sampling", sampling, tuple(SAMPLINGS))
        time = self.time[sampling]
        return dict(stride_on=self.stride_on, pool_padding=self.pool_padding,
                    conv1_temporal_stride=time.conv1_stride, pool1_temporal=time.pool1,
                    pool2_temporal=time.pool2, nonlocal_kwargs=dict(self.nonlocal_block),
                    test_head=self.test_head)


_ALL = (
    # The paper's Table 1 (pool1 3x3x3 and pool2 3x1x1, both stride 2 in time,
    # padded) with keras.applications' stride on the first 1x1 conv, so that
    # its ImageNet ResNets inflate exactly; the release's block conventions.
    Publisher(
        "paper", "the paper (Table 1), for ImageNet inflation", stride_on="1x1",
        pool_padding="symmetric",
        time={"32x2": TimeAxis(2, (3, 2), (3, 2)), "8x8": _EIGHT_FRAMES},
        nonlocal_block={}, normalization=RELEASE_NORMALIZATION,
        # the release's head (its windows, scores averaged) but evenly spaced
        # test clips: the release's rule wraps clips past a video's end into
        # its start, which the paper does not describe.
        test_head="window_scores", protocol="keras_nonlocal"),
    # video-nonlocal-net: 32-frame files come from its resnet_video_org
    # network (conv1, pool1 2x3x3 and pool2 2x1x1 each halve time), 8-frame
    # files from resnet_video; its blocks pool the input before phi and g
    # and scale the logits by 1/sqrt(d) (the layer's defaults).
    Publisher(
        "release", "video-nonlocal-net (the paper's original release, Caffe2)",
        stride_on="3x3", pool_padding="valid",
        time={"32x2": TimeAxis(2, (2, 2), (2, 2)), "8x8": _EIGHT_FRAMES},
        nonlocal_block={}, normalization=RELEASE_NORMALIZATION, checkpoint_names=ReleaseNames,
        test_head="window_scores", protocol="release"),
    # PySlowFast: conv1 never strides in time, pool1 1x3x3 padded (112 -> 56).
    Publisher(
        "pyslowfast", "PySlowFast", stride_on="3x3", pool_padding="symmetric",
        time={"32x2": _EIGHT_FRAMES, "8x8": _EIGHT_FRAMES}, nonlocal_block={},
        normalization=RELEASE_NORMALIZATION, checkpoint_names=ReleaseNames, file_sampling="8x8",
        test_head="window_scores", protocol="pyslowfast"),
    # pytorchvideo: PySlowFast's network; its hub has no non-local model. Its
    # head averages the windows' logits; it ships no test protocol (its
    # model zoo's 10 x 3 figures are PySlowFast's way), so PySlowFast's.
    Publisher(
        "pytorchvideo", "pytorchvideo", stride_on="3x3", pool_padding="symmetric",
        time={"32x2": _EIGHT_FRAMES, "8x8": _EIGHT_FRAMES}, nonlocal_block={},
        normalization=RELEASE_NORMALIZATION, checkpoint_names=PytorchvideoNames,
        file_sampling="8x8", test_head="window_logits", protocol="pyslowfast"),
    # mmaction2's ResNet3d I3D (32x2x1 configs): conv1 and pool1 (1x3x3, a
    # temporal subsampling, padded) each halve time. Its blocks (mmcv
    # NonLocal3d) pool the keys and values after phi and g, do not scale the
    # logits (use_scale=False in every published config) and have no W_z bias.
    Publisher(
        "mmaction2", "mmaction2 1.x", stride_on="3x3", pool_padding="symmetric",
        time={"32x2": TimeAxis(2, (1, 2), (2, 2)), "8x8": _EIGHT_FRAMES},
        nonlocal_block=dict(pool_position="after", scale=False, output_bias=False),
        normalization=Normalization("RGB", (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)),
        checkpoint_names=MmactionNames, test_head="global", protocol="mmaction2"),
)
_REGISTRY = {p.name: p for p in _ALL}
# Every publisher by `publisher=` name (read-only; `register_publisher` adds one).
PUBLISHERS = types.MappingProxyType(_REGISTRY)


def register_publisher(record):
    """Adds a `Publisher`: `publisher=record.name` then builds its network, and
    a checkpoint file in its names (`record.checkpoint_names`) is read as
    its network. Its weights presets are registered with
    `zoo.presets.register_preset`.

    Raises:
        ValueError: for a name already taken.
    """
    if not isinstance(record, Publisher):
        raise ValueError(f"`record` must be a Publisher. Received: record={record!r}")
    if record.name in _REGISTRY:
        raise ValueError(f"A publisher {record.name!r} exists already. Received: "
                         f"record.name={record.name!r}")
    _REGISTRY[record.name] = record
    return record


def publisher(name):
    """The `Publisher` called `name` (a ValueError naming the others)."""
    return PUBLISHERS[check_choice("publisher", name, tuple(PUBLISHERS))]


def checkpoint_names(file_format, keys):
    """`(publisher, names)` for a checkpoint file: the naming scheme that
    recognises its tensor names (`CheckpointNames.recognizes`) among the
    publishers', and the publisher whose network its files are read as
    (`CheckpointNames.publisher`).

    Raises:
        ValueError: naming the supported schemes when none (or more than
            one) recognises the file.
    """
    keys = list(keys)
    schemes = list(dict.fromkeys(p.checkpoint_names for p in PUBLISHERS.values()
                                 if p.checkpoint_names is not None))
    found = [s for s in schemes if s.recognizes(file_format, keys)]
    if len(found) != 1:
        what = "Unknown tensor names" if not found else "Tensor names of several schemes (" + \
            ", ".join(s.name for s in found) + ")"
        raise ValueError(f"{what} in a {file_format} file (supported: "
                         f"{', '.join(s.name for s in schemes)}). Received: "
                         f"{', '.join(keys[:3])}, ...")
    names = found[0].from_keys(keys)
    return publisher(names.publisher), names
