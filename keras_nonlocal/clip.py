"""The clip record: how a video model's clips are sampled, cropped and normalised.

One `Clip` travels from the moment a model is built or trained to every use
of it: it is written into the model (its `VideoPreprocessing` layer), saved
with it, and read by the data pipelines, `evaluate`, `predict`, `visualize`
and `export`. A weights preset carries the clip its checkpoint was trained
with; a training recipe writes its own.

Pure Python, no backend: every layer of the package may import it.
"""

import dataclasses

from keras_nonlocal.protocol import DEFAULT_PROTOCOL
from keras_nonlocal.protocol import PROTOCOLS
from keras_nonlocal.settings import check_choice

CHANNEL_ORDERS = ("RGB", "BGR")
SHORT_RULES = ("loop", "repeat_last")


@dataclasses.dataclass(frozen=True)
class Normalization:
    """What weights expect of RGB frames in [0, 255]: the model sees
    `(reorder(x) - mean) / std`, with `mean` and `std` in `channel_order`.

    Example:

    >>> Normalization("BGR", (103.939, 116.779, 123.68), (1.0, 1.0, 1.0)).channel_order
    'BGR'
    """

    channel_order: str
    mean: tuple
    std: tuple

    def fields(self):
        """`{"channel_order", "mean", "std"}`, as `Clip` names them."""
        return dataclasses.asdict(self)


# The original release's (Caffe2, RGB, (x - 114.75) / 57.375): also
# PySlowFast's and pytorchvideo's mean 0.45, std 0.225 on [0, 1]. The
# default of every clip and model that no weights say otherwise for.
RELEASE_NORMALIZATION = Normalization("RGB", (114.75,) * 3, (57.375,) * 3)


@dataclasses.dataclass(frozen=True)
class Clip:
    """How a model sees a video, from training to evaluation (paper sec. 4.1).

    Args:
        num_frames: frames per clip (T).
        frame_stride: one frame kept every `frame_stride` (the paper's 32x2:
            64 consecutive frames, every other one kept).
        crop_size: side of the square training crop.
        short_side_min, short_side_max: training scale jitter: the short side
            is scaled to a random size in this range before cropping.
        eval_short_side: at test time the short side is scaled to this size
            and the views are square crops of this side (fully convolutional).
        eval_clips, eval_crops: test views per video, clips evenly spaced
            in time times crops along the longer side (10 x 3 in the paper).
        channel_order: `"RGB"` or `"BGR"`, the order the weights expect.
        mean, std: per-channel normalisation on the [0, 255] scale, in
            `channel_order`: the model sees `(reorder(x) - mean) / std`.
        class_names: the classifier's classes, in output order, when known.
        short_rule: a video shorter than a clip: `"loop"` (frame indices
            wrap around it) or `"repeat_last"` (they stop at its last frame).
        protocol: the name of the test protocol (`keras_nonlocal.protocol`:
            where the test clips start and the crops lie, how views combine);
            a preset's is its publisher's.

    The defaults are the paper's clip with the original release's RGB
    normalisation (`RELEASE_NORMALIZATION`: mean 114.75, std 57.375), which
    every model records unless its weights expect another.

    Example:

    >>> clip = Clip(num_frames=8, frame_stride=8)
    >>> clip.replace(crop_size=256).crop_size
    256
    """

    num_frames: int = 32
    frame_stride: int = 2
    crop_size: int = 224
    short_side_min: int = 256
    short_side_max: int = 320
    eval_short_side: int = 256
    eval_clips: int = 10
    eval_crops: int = 3
    channel_order: str = RELEASE_NORMALIZATION.channel_order
    mean: tuple = RELEASE_NORMALIZATION.mean
    std: tuple = RELEASE_NORMALIZATION.std
    class_names: tuple = None
    short_rule: str = "loop"
    protocol: str = DEFAULT_PROTOCOL

    def __post_init__(self):
        for name in ("num_frames", "frame_stride", "crop_size", "short_side_min",
                     "short_side_max", "eval_short_side", "eval_clips", "eval_crops"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int. Received: {name}={value!r}")
        if self.short_side_min > self.short_side_max:
            raise ValueError(
                "`short_side_min` must not exceed `short_side_max`. Received: "
                f"short_side_min={self.short_side_min}, short_side_max={self.short_side_max}")
        check_choice("protocol", self.protocol, tuple(PROTOCOLS))
        if self.short_rule not in SHORT_RULES:
            raise ValueError(f"`short_rule` must be one of {', '.join(map(repr, SHORT_RULES))}. "
                             f"Received: short_rule={self.short_rule!r}")
        if self.channel_order not in CHANNEL_ORDERS:
            raise ValueError(
                f"`channel_order` must be 'RGB' or 'BGR'. Received: channel_order={self.channel_order!r}")
        for name in ("mean", "std"):
            value = getattr(self, name)
            try:
                value = tuple(float(v) for v in value)
            except (TypeError, ValueError):
                value = ()
            if len(value) != 3:
                raise ValueError(f"`{name}` needs 3 numbers. Received: {name}={getattr(self, name)!r}")
            object.__setattr__(self, name, value)
        if any(s <= 0 for s in self.std):
            raise ValueError(f"`std` must be positive. Received: std={self.std!r}")
        if self.class_names is not None:
            names = tuple(str(n) for n in self.class_names)
            if len(set(names)) != len(names):
                raise ValueError(f"`class_names` holds duplicates. Received: {len(names)} names")
            object.__setattr__(self, "class_names", names)

    @property
    def normalization(self):
        """The `Normalization` the weights expect."""
        return Normalization(self.channel_order, self.mean, self.std)

    def replace(self, **changes):
        """A copy with `changes` applied (unknown names are a ValueError)."""
        unknown = sorted(set(changes) - set(FIELDS))
        if unknown:
            raise ValueError(f"Unknown clip settings {unknown}; valid: {', '.join(FIELDS)}. "
                             f"Received: {changes}")
        return dataclasses.replace(self, **changes)

    def override(self, print_fn=print, **overrides):
        """`replace()` with the settings that are not None, each change printed.

        What `evaluate`, `predict` and `visualize` do with explicit arguments:
        the model's record wins unless told otherwise, and a user who tells
        otherwise sees it.
        """
        changes = {k: v for k, v in overrides.items() if v is not None}
        clip = self.replace(**changes)
        for key, value in changes.items():
            if getattr(self, key) != getattr(clip, key) and print_fn:
                print_fn(f"clip: {key} = {getattr(clip, key)!r} instead of the model's "
                         f"{getattr(self, key)!r}")
        return clip

    def get_config(self):
        """A JSON-friendly dict (lists for tuples), the inverse of `from_config`."""
        config = dataclasses.asdict(self)
        for key in ("mean", "std", "class_names"):
            if config[key] is not None:
                config[key] = list(config[key])
        return config

    @classmethod
    def from_config(cls, config):
        """A `Clip` from `get_config()`'s dict (or a `Clip`, returned as is)."""
        if isinstance(config, cls):
            return config
        unknown = sorted(set(config) - set(FIELDS))
        if unknown:
            raise ValueError(f"Unknown clip settings {unknown}; valid: {', '.join(FIELDS)}. "
                             f"Received: {config}")
        return cls(**config)


FIELDS = tuple(f.name for f in dataclasses.fields(Clip))
