"""The zoo's registry: every builder by name, with what defines its model.

`list_models()` names them; `model_info(name)` gives the record the builders,
the weight presets and the model table read.
"""

import dataclasses

from keras_nonlocal.settings import did_you_mean


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What a zoo name stands for.

    Attributes:
        name: the builder's name, also the model's (`nl_i3d_r50`).
        title: in words (`"NL-I3D ResNet-50"`).
        depth: 14, 50 or 101.
        inflate: `None` (C2D) or the default inflation (`"3x1x1"`).
        num_nonlocal: non-local blocks by default (0, 1 or 5).
        builder: the function that builds it.
        kind: `"video"` (the video ResNets) or `"image"` (keras.applications'
            ResNets with a block).
    """

    name: str
    title: str
    depth: int
    inflate: str
    num_nonlocal: int
    builder: object = None
    kind: str = "video"


MODELS = {}


KINDS = ("video", "image")


def register(depth, inflate, num_nonlocal, kind="video"):
    """Adds the decorated builder to the registry under its function name."""

    def add(builder):
        family = ("NL-" if num_nonlocal else "") + (
            "ResNet" if kind == "image" else ("I3D" if inflate else "C2D"))
        title = f"{family}-{depth}" if kind == "image" else f"{family} ResNet-{depth}"
        MODELS[builder.__name__] = ModelInfo(builder.__name__, title, depth, inflate,
                                             num_nonlocal, builder, kind)
        return builder

    return add


def list_models(kind=None):
    """Names of the builders, for `zoo.build(name)`.

    Args:
        kind: `None` (all), `"video"` (the C2D / I3D video ResNets) or
            `"image"` (`nl_resnet50`, `nl_resnet101`).
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"`kind` must be None, 'video' or 'image'. Received: kind={kind!r}")
    return sorted(name for name, info in MODELS.items() if kind in (None, info.kind))


def model_info(name):
    """The `ModelInfo` of a zoo name; an unknown name is a ValueError with a hint."""
    if name not in MODELS:
        raise ValueError(f"Unknown model name.{did_you_mean(name, MODELS)} Available: "
                         f"{', '.join(list_models())}. Received: name={name!r}")
    return MODELS[name]

