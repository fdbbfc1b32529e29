"""The model zoo: C2D, I3D and non-local video ResNets, by name.

Example:

```python
from keras_nonlocal import zoo

zoo.list_models()
model = zoo.nl_i3d_r50(weights="imagenet", classes=400)
model = zoo.build("i3d_r50", sampling="8x8", stride_on="3x3")  # pytorchvideo's
zoo.summary("c2d_r101", input_frames=32, input_size=224)
```
"""

import difflib

import keras

from keras_nonlocal.layers.preprocessing import SPECS
from keras_nonlocal.layers.preprocessing import VideoPreprocessing
from keras_nonlocal.models.complexity import complexity
from keras_nonlocal.models.complexity import format_complexity
from keras_nonlocal.models.video_resnet import video_resnet
from keras_nonlocal.weights.imagenet import imagenet_resnet
from keras_nonlocal.weights.inflation import inflate
from keras_nonlocal.weights.loading import load_weights

# Architecture of each builder.
MODELS = {
    "c2d_r50": dict(depth=50, inflate=None, num_nonlocal=0),
    "c2d_r101": dict(depth=101, inflate=None, num_nonlocal=0),
    "i3d_r50": dict(depth=50, inflate="3x1x1", num_nonlocal=0),
    "i3d_r101": dict(depth=101, inflate="3x1x1", num_nonlocal=0),
    "nl_c2d_r50": dict(depth=50, inflate=None, num_nonlocal=5),
    "nl_c2d_r101": dict(depth=101, inflate=None, num_nonlocal=5),
    "nl_i3d_r50": dict(depth=50, inflate="3x1x1", num_nonlocal=5),
    "nl_i3d_r101": dict(depth=101, inflate="3x1x1", num_nonlocal=5),
}

# Clip sampling settings and the temporal strides that go with them.
SAMPLINGS = {
    # The paper's 32x2 (Table 1): 32 frames, one every 2; conv1, pool1 and
    # pool2 each halve time (32 -> 16 -> 8 -> 4).
    "32x2": dict(num_frames=32, frame_stride=2, conv1_temporal_stride=2,
                 pool1_temporal=(3, 2), pool2_temporal=(3, 2)),
    # The original release's 32x2 (its pool1 is 2x3x3, pool2 2x1x1).
    "32x2_release": dict(num_frames=32, frame_stride=2, conv1_temporal_stride=1,
                         pool1_temporal=(2, 2), pool2_temporal=(2, 2)),
    # 8 frames, one every 8 (original release, PySlowFast, pytorchvideo):
    # only pool2 halves time (8 -> 4).
    "8x8": dict(num_frames=8, frame_stride=8, conv1_temporal_stride=1,
                pool1_temporal=(1, 1), pool2_temporal=(2, 2)),
}

_UNSET = object()


def list_models():
    """Names of every builder, for `build(name)`."""
    return sorted(MODELS)


def build(name, **kwargs):
    """Builds the zoo model `name` (see `list_models()`); kwargs as the builders'."""
    if name not in MODELS:
        close = difflib.get_close_matches(name, MODELS, n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"Unknown model name.{hint} Available: {', '.join(list_models())}. "
            f"Received: name={name!r}"
        )
    return _build(name, **kwargs)


def _build(
    name,
    weights=None,
    classes=_UNSET,
    include_top=True,
    input_shape=None,
    dropout=0.5,
    num_nonlocal=None,
    nonlocal_mode="embedded_gaussian",
    nonlocal_scope="spacetime",
    nonlocal_kwargs=None,
    inflate=None,
    sampling="32x2",
    stride_on="1x1",
    padding="symmetric",
    classifier_activation="softmax",
    include_preprocessing=True,
    preprocessing=None,
    base_width=64,
    synchronized_bn=False,
):
    arch = dict(MODELS[name])
    if classes is not _UNSET and not include_top:
        raise ValueError(
            "`classes` sets the classifier, which include_top=False leaves out. "
            f"Received: include_top=False, classes={classes!r}"
        )
    classes = 400 if classes is _UNSET else classes
    if not isinstance(classes, int) or classes < 1:
        raise ValueError(f"`classes` must be a positive int. Received: classes={classes!r}")
    if inflate is not None:
        if arch["inflate"] is None:
            raise ValueError(
                f"{name} is a C2D model; `inflate` applies to I3D models. "
                f"Received: inflate={inflate!r}"
            )
        arch["inflate"] = inflate
    if num_nonlocal is not None:
        arch["num_nonlocal"] = num_nonlocal
    if sampling not in SAMPLINGS:
        raise ValueError(
            f"`sampling` must be one of {', '.join(map(repr, SAMPLINGS))}. "
            f"Received: sampling={sampling!r}"
        )
    if weights is not None and not isinstance(weights, str):
        raise ValueError(
            "`weights` must be None, 'imagenet' or a file path. "
            f"Received: weights={weights!r}"
        )
    if preprocessing is None:
        preprocessing = "caffe"
    if weights == "imagenet" and base_width != 64:
        raise ValueError(
            "ImageNet weights exist for the paper's widths only. "
            f"Received: weights='imagenet', base_width={base_width}")
    if weights == "imagenet" and preprocessing != "caffe":
        raise ValueError(
            "The ImageNet weights (keras.applications) expect 'caffe' "
            f"preprocessing. Received: weights='imagenet', preprocessing={preprocessing!r}"
        )
    model = video_resnet(
        **arch,
        **SAMPLINGS[sampling],
        nonlocal_mode=nonlocal_mode,
        nonlocal_scope=nonlocal_scope,
        nonlocal_kwargs=nonlocal_kwargs,
        stride_on=stride_on,
        padding=padding,
        include_top=include_top,
        classes=classes,
        dropout=dropout,
        classifier_activation=classifier_activation,
        input_shape=input_shape,
        include_preprocessing=include_preprocessing,
        preprocessing=preprocessing,
        base_width=base_width,
        synchronized_bn=synchronized_bn,
        name=name,
    )
    if weights == "imagenet":
        inflate_from(imagenet_resnet(arch["depth"]), model)
    elif weights is not None:
        load_weights(model, weights)
    return model


def inflate_from(model_2d, model_3d):
    """Inflates a 2D ResNet (a model or a `.keras` path) into `model_3d`."""
    if isinstance(model_2d, str):
        model_2d = keras.saving.load_model(model_2d, compile=False)
    inflate(model_2d, model_3d)
    return model_3d


def preprocessing_spec(model):
    """The preprocessing a zoo model expects, read from the model itself.

    Returns:
        A dict with `channel_order`, `mean`, `std` (on the [0, 255] scale),
        `num_frames`, `frame_stride`, `crop_size` and `included` (whether the
        model applies it itself, in which case feed it RGB frames in [0, 255]).
    """
    for layer in model.layers:
        if isinstance(layer, VideoPreprocessing):
            config = layer.get_config()
            keys = ("channel_order", "mean", "std", "num_frames", "frame_stride", "crop_size")
            return dict({k: config[k] for k in keys}, included=True)
    raise ValueError(
        f"{model.name} carries no VideoPreprocessing layer (built with "
        "include_preprocessing=False); normalise with preprocess_input(). "
        f"Received: model={model.name!r}"
    )


def preprocess_input(frames, spec="caffe"):
    """Normalises RGB frames in [0, 255] as the weights of `spec` expect.

    Args:
        frames: array or tensor `(..., 3)`.
        spec: a name of `SPECS`, a dict with `channel_order`, `mean`, `std`,
            or a zoo model (its own spec is used).
    """
    if isinstance(spec, keras.Model):
        spec = preprocessing_spec(spec)
    if isinstance(spec, str):
        spec = SPECS[spec]
    keys = ("channel_order", "mean", "std")
    return VideoPreprocessing(**{k: spec[k] for k in keys})(frames)


def summary(model, input_frames=32, input_size=224, print_fn=print, **kwargs):
    """Prints and returns params and FLOPs (MACs) per stage.

    Args:
        model: a zoo name (built with `kwargs` at the given input size) or a
            model with a fixed input shape.
        input_frames, input_size: the clip, e.g. 32 x 224 x 224.
    """
    if isinstance(model, str):
        kwargs.setdefault("weights", None)
        model = build(model, input_shape=(input_frames, input_size, input_size, 3), **kwargs)
    stages = complexity(model)
    shape = "x".join(str(d) for d in model.inputs[0].shape[1:4])
    if print_fn:
        print_fn(format_complexity(stages, title=f"{model.name} at {shape}"))
    return stages


def _make_builder(name):
    def builder(weights=None, classes=_UNSET, include_top=True, input_shape=None, **kwargs):
        return _build(name, weights=weights, classes=classes, include_top=include_top,
                      input_shape=input_shape, **kwargs)

    arch = MODELS[name]
    kind = ("NL-" if arch["num_nonlocal"] else "") + ("I3D" if arch["inflate"] else "C2D")
    builder.__name__ = name
    builder.__doc__ = f"""{kind} ResNet-{arch['depth']} video classifier (Wang et al., 2018).

    Args:
        weights: None (random), "imagenet" (keras.applications ResNet-{arch['depth']}
            inflated, paper sec. 4), or a path to a `.weights.h5` / `.keras` file.
        classes: classifier size (400, Kinetics-400, by default).
        include_top: add pooling, dropout and the classifier.
        input_shape: (T, H, W, 3); default any size (fully convolutional testing).
        dropout: 0.5 as in the paper.
        num_nonlocal: 0, 1, 5 or 10 non-local blocks (default {arch['num_nonlocal']}).
        nonlocal_mode, nonlocal_scope: passed to `NonLocal3D`.
        inflate: for I3D models, "3x1x1" (default) or "3x3x3".
        sampling: "32x2" (paper), "32x2_release" or "8x8" temporal strides.
        stride_on: "1x1" (original release, keras.applications) or "3x3"
            (PySlowFast, pytorchvideo).
        padding: "symmetric" (PyTorch/Caffe2) or "same".
        classifier_activation: "softmax" or None for logits.
        include_preprocessing: the model normalises RGB [0, 255] input itself.
        base_width: 64 as in the paper; smaller for small, quick models.
        synchronized_bn: BN statistics over all replicas (TensorFlow backend).

    Returns:
        A functional `keras.Model`.
    """
    return builder


for _name in MODELS:
    globals()[_name] = _make_builder(_name)

__all__ = ["build", "inflate_from", "list_models", "preprocess_input",
           "preprocessing_spec", "summary"] + list(MODELS)
