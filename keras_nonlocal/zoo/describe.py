"""What a zoo model expects and costs: its clip record, its normalisation, its
parameters and FLOPs."""

import keras

from keras_nonlocal.clip import Clip
from keras_nonlocal.clip import Normalization
from keras_nonlocal.layers.preprocessing import VideoPreprocessing
from keras_nonlocal.layers.preprocessing import find_preprocessing
from keras_nonlocal.models.complexity import complexity
from keras_nonlocal.models.complexity import format_complexity
from keras_nonlocal.weights.imagenet import IMAGENET_NORMALIZATION
from keras_nonlocal.zoo.builders import build
from keras_nonlocal.zoo.publishers import PUBLISHERS


def preprocessing_layer(model):
    """The `VideoPreprocessing` layer of a zoo model (a ValueError if none)."""
    layer = find_preprocessing(model)
    if layer is not None:
        return layer
    raise ValueError(f"{model.name} carries no VideoPreprocessing layer (not a zoo model?), so "
                     f"its clip is unknown. Received: model={model.name!r}")


def preprocessing_spec(model):
    """The clip a zoo model was built or trained with, read from the model.

    Returns:
        A `keras_nonlocal.Clip`: frames, stride, training crop and scale
        jitter, test views, normalisation and class names (when known). A
        model built with `include_preprocessing=False` records the clip all
        the same; feed it normalised frames (`preprocess_input`, or
        `normalize=True` in the data pipelines).

    Example:

    >>> clip = zoo.preprocessing_spec(model)
    >>> train, _ = data.video_dataset(videos, clip)
    """
    return preprocessing_layer(model).clip


def preprocess_input(frames, spec="imagenet"):
    """Normalises RGB frames in [0, 255] as the weights of `spec` expect.

    Args:
        frames: array or tensor `(..., 3)`.
        spec: a publisher's name (`zoo.PUBLISHERS`), `"imagenet"`
            (keras.applications' ResNets), a `Normalization`, a `Clip`, or a
            zoo model (its own clip).

    Returns:
        float32 frames.
    """
    return VideoPreprocessing(Clip(**normalization_of(spec).fields()))(frames)


def normalization_of(spec):
    """The `Normalization` of a publisher name, `"imagenet"`, a `Clip`, a
    `Normalization` or a model that records its clip."""
    if isinstance(spec, keras.Model):
        spec = preprocessing_spec(spec)
    if isinstance(spec, Clip):
        return spec.normalization
    if isinstance(spec, Normalization):
        return spec
    if spec == "imagenet":
        return IMAGENET_NORMALIZATION
    if isinstance(spec, str) and spec in PUBLISHERS:
        return PUBLISHERS[spec].normalization
    raise ValueError("A normalisation is 'imagenet', a publisher "
                     f"({', '.join(PUBLISHERS)}), a Normalization, a Clip or a zoo model. "
                     f"Received: {spec!r}")


def summary(model, input_frames=32, input_size=224, print_fn=print, **kwargs):
    """Prints and returns params and FLOPs (MACs) per stage.

    Args:
        model: a zoo name (built with `kwargs` at the given input size) or a
            model with a fixed input shape.
        input_frames, input_size: the clip, e.g. 32 x 224 x 224.
        print_fn: where the table goes (`None`: nowhere).

    Returns:
        `{stage: {"params", "macs"}}` with a `"total"` entry.
    """
    if isinstance(model, str):
        kwargs.setdefault("weights", None)
        model = build(model, input_shape=(input_frames, input_size, input_size, 3), **kwargs)
    stages = complexity(model)
    shape = "x".join(str(d) for d in model.inputs[0].shape[1:4])
    if print_fn:
        print_fn(format_complexity(stages, title=f"{model.name} at {shape}"))
    return stages


def resolve_clip(model, clip=None, print_fn=print):
    """The clip to use with `model`: its own record, with changes.

    Args:
        model: a zoo model (or any model carrying a `VideoPreprocessing`).
        clip: `None` (the model's clip), a dict of changes (each change that
            differs from the model's record is printed), or a `Clip` (used
            as it is; required for a model that records none).
        print_fn: where the changes are printed.

    Returns:
        A `keras_nonlocal.Clip`.
    """
    if isinstance(clip, Clip):
        return clip
    recorded = preprocessing_spec(model)
    return recorded if clip is None else recorded.override(print_fn=print_fn, **clip)
