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
        depth: 50 or 101.
        inflate: `None` (C2D) or the default inflation (`"3x1x1"`).
        num_nonlocal: non-local blocks by default (0 or 5).
        builder: the function that builds it.
    """

    name: str
    title: str
    depth: int
    inflate: str
    num_nonlocal: int
    builder: object = None


MODELS = {}


def register(depth, inflate, num_nonlocal):
    """Adds the decorated builder to the registry under its function name."""

    def add(builder):
        kind = ("NL-" if num_nonlocal else "") + ("I3D" if inflate else "C2D")
        MODELS[builder.__name__] = ModelInfo(builder.__name__, f"{kind} ResNet-{depth}", depth,
                                             inflate, num_nonlocal, builder)
        return builder

    return add


def list_models():
    """Names of every builder, for `zoo.build(name)`."""
    return sorted(MODELS)


def model_info(name):
    """The `ModelInfo` of a zoo name; an unknown name is a ValueError with a hint."""
    if name not in MODELS:
        raise ValueError(f"Unknown model name.{did_you_mean(name, MODELS)} Available: "
                         f"{', '.join(list_models())}. Received: name={name!r}")
    return MODELS[name]

