"""The zoo's builders: one function per published C2D / I3D / NL model.

Every builder has the same arguments (`_ARGS_DOC`) and differs only in the
network it stands for (its `registry.ModelInfo`); `build(name, ...)` calls
one by name.
"""

import os

import keras

from keras_nonlocal.clip import Clip
from keras_nonlocal.models.video_resnet import video_resnet
from keras_nonlocal.weights import converters
from keras_nonlocal.weights import readers
from keras_nonlocal.weights import sources
from keras_nonlocal.weights.imagenet import imagenet_resnet
from keras_nonlocal.weights.inflation import inflate
from keras_nonlocal.weights.loading import load_weights
from keras_nonlocal.zoo import layouts
from keras_nonlocal.zoo import presets
from keras_nonlocal.zoo.registry import model_info
from keras_nonlocal.zoo.registry import register

# Builder arguments that decide the network, with their value when neither
# the caller nor a weights preset sets them.
ARCHITECTURE_DEFAULTS = dict(sampling="32x2", layout="paper", inflate=None, num_nonlocal=None,
                             nonlocal_mode="embedded_gaussian", nonlocal_kwargs=None, pool2=True,
                             base_width=64)
DEFAULT_CLASSES = 400


def build(name, **kwargs):
    """Builds the zoo model `name` (see `list_models()`); kwargs as the builders'."""
    return model_info(name).builder(**kwargs)


def _build(key, weights=None, classes=None, include_top=True, input_shape=None, clip=None,
           dropout=0.5, classifier_activation="softmax", include_preprocessing=True,
           synchronized_bn=False, name=None, **architecture_args):
    info = model_info(key)
    if classes is not None and not include_top:
        raise ValueError("`classes` sets the classifier, which include_top=False leaves out. "
                         f"Received: include_top=False, classes={classes!r}")
    classes = DEFAULT_CLASSES if classes is None else classes
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(f"`classes` must be a positive int. Received: classes={classes!r}")
    source = _weights_source(key, weights)
    explicit = {k: v for k, v in architecture_args.items() if v is not None}
    for arg, value in source["builder_args"].items():
        if source["preset"] is not None and arg in explicit and explicit[arg] != value:
            raise ValueError(
                f"The weights preset {weights!r} of {key} is built with {arg}={value!r}; the "
                f"arguments ask for {arg}={explicit[arg]!r}. Received: weights={weights!r}, "
                f"{arg}={explicit[arg]!r}")
    arch_args = {**ARCHITECTURE_DEFAULTS, **source["builder_args"], **explicit}
    if weights == "imagenet" and arch_args["base_width"] != 64:
        raise ValueError("ImageNet weights exist for the paper's widths only. "
                         f"Received: weights='imagenet', base_width={arch_args['base_width']}")
    arch = layouts.architecture(info, **arch_args)
    model_clip = _clip(source, arch_args["sampling"], clip, classes if include_top else None,
                       weights is not None)

    def build(**overrides):
        options = dict(clip=model_clip, include_top=include_top, classes=classes,
                       dropout=dropout, classifier_activation=classifier_activation,
                       input_shape=input_shape, include_preprocessing=include_preprocessing,
                       synchronized_bn=synchronized_bn, name=name or key)
        options.update(overrides)
        return video_resnet(arch, **options)

    model = build()
    if weights == "imagenet":
        inflate_from(imagenet_resnet(info.depth), model)
    elif source["preset"] is not None:
        full = dict(include_top=True, classes=DEFAULT_CLASSES, input_shape=None,
                    clip=source["preset"].clip)
        presets.load_preset(model, source["preset"], lambda: build(**full))
    elif source["tensors"] is not None:
        skip = ("predictions",) if include_top and classes != source["classes"] else ()
        converters.assign(model, source["tensors"], source["names"], os.fspath(weights), skip)
    elif isinstance(source["model"], keras.Model):
        load_weights(model, source["model"])
    elif weights is not None:
        load_weights(model, weights)
    return model


# What a checkpoint's tensor names say about the network and its input.
_FAMILY_DEFAULTS = {
    "release": (dict(layout="release"), "nonlocal_release"),
    "pytorchvideo": (dict(layout="pytorchvideo", sampling="8x8"), "pytorchvideo"),
    "mmaction2": (dict(layout="mmaction2"), "mmaction2"),
}


def _weights_source(key, weights):
    """What a `weights` argument brings: `preset` (a `WeightsPreset`),
    `builder_args` (the network it needs), `clip` (its record, if it has one),
    `normalization` (else), and what to load: `model` (a loaded `.keras`),
    or `tensors` with their `names` (a published checkpoint file)."""
    source = dict(preset=None, builder_args={}, clip=None, model=None, normalization="caffe",
                  tensors=None, names=None, classes=None)
    if weights is None or weights == "imagenet":
        return source
    if not isinstance(weights, (str, os.PathLike)):
        raise ValueError("`weights` must be None, 'imagenet', a preset name (see "
                         f"zoo.list_weights({key!r})) or a file path. Received: weights={weights!r}")
    preset = presets.find_preset(key, weights)
    if preset is not None:
        return dict(source, preset=preset, builder_args=dict(preset.builder_args),
                    clip=preset.clip, normalization=None)
    path = os.fspath(weights)
    if not os.path.exists(path):
        raise ValueError(f"Weights file not found, and not a preset of {key} (None, "
                         f"'imagenet', {', '.join(map(repr, presets.PRESETS.get(key, {})))}). "
                         f"Received: weights={path!r}")
    if path.endswith(".keras"):
        model = keras.saving.load_model(path, compile=False)
        recorded = _recorded_clip(model)
        if recorded is not None:
            return dict(source, clip=recorded, model=model, normalization=None)
        return dict(source, model=model)  # a 2D ResNet, inflated
    if path.endswith(".h5"):
        return source
    kind, tensors = readers.read_tensors(path)
    names = converters.naming_for(kind, tensors)
    builder_args, normalization = _FAMILY_DEFAULTS[names.name]
    head = names.fc("bias")
    classes = tensors[head].shape[0] if head in tensors else None
    return dict(source, builder_args=dict(builder_args), normalization=normalization,
                tensors=tensors, names=names, classes=classes)


def _clip(source, sampling, clip, classes, has_weights):
    """The clip a new model records: its weights' (or the sampling's), then
    the caller's `clip` (a `Clip`, or a dict of changes)."""
    base = source["clip"]
    if base is None:
        frames, stride = layouts.SAMPLINGS[sampling]
        base = Clip(num_frames=frames, frame_stride=stride,
                    **sources.normalization(source["normalization"]))
    if base.class_names is not None and len(base.class_names) != classes:
        base = base.replace(class_names=None)  # a new classifier
    if base.class_names is None and classes == DEFAULT_CLASSES and source["classes"] == 400:
        base = base.replace(class_names=sources.kinetics400_classes())  # a Kinetics checkpoint
    if clip is None:
        return base
    if isinstance(clip, dict):
        return base.replace(**clip)
    if not isinstance(clip, Clip):
        raise ValueError(f"`clip` must be a Clip or a dict of changes. Received: clip={clip!r}")
    if has_weights and clip.normalization != base.normalization:
        raise ValueError(
            f"The weights expect the normalisation {base.normalization}; the clip asks "
            f"for {clip.normalization}. Received: clip={clip}")
    return clip


def _recorded_clip(model):
    for layer in model.layers:
        clip = getattr(layer, "clip", None)
        if isinstance(clip, Clip):
            return clip
    return None


def inflate_from(model_2d, model_3d):
    """Inflates a 2D ResNet (a model or a `.keras` path) into `model_3d`."""
    if isinstance(model_2d, (str, os.PathLike)):
        model_2d = keras.saving.load_model(model_2d, compile=False)
    inflate(model_2d, model_3d)
    return model_3d


_ARGS_DOC = """

    Args:
        weights: `None` (random); a Kinetics-400 preset (`"kinetics400"`, the
            original release's 32x2 file, `"kinetics400_8x8"`, ...; see
            `zoo.list_weights()`): downloaded once, converted, and the model
            built as the publisher's network, with its clip and class names;
            `"imagenet"` (keras.applications' ResNet of the same depth,
            inflated as in the paper, sec. 4); or a path: a published
            checkpoint of any supported format (Caffe2 `.pkl`, PyTorch
            `.pyth` / `.pth`, told by content; the other arguments give the
            network), a `.weights.h5`, or a `.keras` file (a video model of
            the same architecture, whose clip record the new model takes
            over; or a 2D ResNet, inflated).
        classes: classifier size; 400 (Kinetics-400) by default. With a
            preset and another size, everything but the classifier is loaded
            (fine-tuning).
        include_top: add pooling, dropout and the classifier.
        input_shape: `(T, H, W, 3)`; default any size (testing is fully
            convolutional).
        clip: the `keras_nonlocal.Clip` the model is for, or a dict of
            changes to the default one (that of `sampling` and of the
            weights' normalisation). Recorded in the model, read by
            `zoo.preprocessing_spec()` and everything downstream.
        sampling: `"32x2"` (the paper's 32 frames, one every 2) or `"8x8"`:
            the clip and the temporal strides that go with it.
        layout: the conventions of the code the weights come from:
            `"paper"` (default; Table 1 with keras.applications' stride
            placement, for ImageNet inflation), `"release"` (the original
            Caffe2 code), `"pyslowfast"`, `"pytorchvideo"`. See
            `keras_nonlocal.zoo.layouts`.
        num_nonlocal: 0, 1, 5 or 10 non-local blocks, placed as the paper
            places them.
        nonlocal_mode: pairwise function of the blocks (`"embedded_gaussian"`
            by default, `"gaussian"`, `"dot_product"`, `"concatenation"`).
        nonlocal_kwargs: further `NonLocal3D` arguments (`scope`,
            `subsample_position`, `scale`, ...).
        pool2: the temporal max-pool after res2 (`False`: none).
        base_width: 64 as in the paper; smaller for small, quick models.
        dropout: 0.5 as in the paper.
        classifier_activation: `"softmax"`, `"sigmoid"` or `None` (logits).
        include_preprocessing: the model normalises RGB frames in [0, 255]
            itself; with `False` it takes normalised frames.
        synchronized_bn: BN statistics over all replicas (TensorFlow backend).
        name: the model's name.

    Returns:
        A functional `keras.Model` taking `(batch, T, H, W, 3)` RGB frames in
        [0, 255] (uint8 or float), returning class scores.

    Example:

    ```python
    model = zoo.{name}(weights=None, classes=10, sampling="8x8")
    zoo.preprocessing_spec(model).num_frames   # 8
    ```
    """


def _document(builder):
    builder.__doc__ = builder.__doc__ + _ARGS_DOC.replace("{name}", builder.__name__)
    return builder


@_document
@register(depth=50, inflate=None, num_nonlocal=0)
def c2d_r50(weights=None, classes=None, include_top=True, input_shape=None, clip=None,
            sampling=None, layout=None, num_nonlocal=None, nonlocal_mode=None,
            nonlocal_kwargs=None, pool2=None, base_width=None, dropout=0.5,
            classifier_activation="softmax", include_preprocessing=True,
            synchronized_bn=False, name="c2d_r50"):
    """C2D ResNet-50 (paper Table 1): the 2D baseline, 1x7x7 conv1."""
    return _build("c2d_r50", **locals())


@_document
@register(depth=101, inflate=None, num_nonlocal=0)
def c2d_r101(weights=None, classes=None, include_top=True, input_shape=None, clip=None,
             sampling=None, layout=None, num_nonlocal=None, nonlocal_mode=None,
             nonlocal_kwargs=None, pool2=None, base_width=None, dropout=0.5,
             classifier_activation="softmax", include_preprocessing=True,
             synchronized_bn=False, name="c2d_r101"):
    """C2D ResNet-101 (paper Table 2e)."""
    return _build("c2d_r101", **locals())


@_document
@register(depth=50, inflate="3x1x1", num_nonlocal=0)
def i3d_r50(weights=None, classes=None, include_top=True, input_shape=None, clip=None,
            sampling=None, layout=None, inflate=None, num_nonlocal=None, nonlocal_mode=None,
            nonlocal_kwargs=None, pool2=None, base_width=None, dropout=0.5,
            classifier_activation="softmax", include_preprocessing=True,
            synchronized_bn=False, name="i3d_r50"):
    """I3D ResNet-50: conv1 5x7x7, one kernel inflated to 3x1x1 (`inflate`, or
    "3x3x3") in every other residual block, the release's pattern."""
    return _build("i3d_r50", **locals())


@_document
@register(depth=101, inflate="3x1x1", num_nonlocal=0)
def i3d_r101(weights=None, classes=None, include_top=True, input_shape=None, clip=None,
             sampling=None, layout=None, inflate=None, num_nonlocal=None, nonlocal_mode=None,
             nonlocal_kwargs=None, pool2=None, base_width=None, dropout=0.5,
             classifier_activation="softmax", include_preprocessing=True,
             synchronized_bn=False, name="i3d_r101"):
    """I3D ResNet-101 (paper Table 2e/2f), inflated like `i3d_r50`."""
    return _build("i3d_r101", **locals())


@_document
@register(depth=50, inflate=None, num_nonlocal=5)
def nl_c2d_r50(weights=None, classes=None, include_top=True, input_shape=None, clip=None,
               sampling=None, layout=None, num_nonlocal=None, nonlocal_mode=None,
               nonlocal_kwargs=None, pool2=None, base_width=None, dropout=0.5,
               classifier_activation="softmax", include_preprocessing=True,
               synchronized_bn=False, name="nl_c2d_r50"):
    """NL-C2D ResNet-50: C2D with 5 non-local blocks (res3 blocks 2, 4 and res4
    blocks 2, 4, 6; `num_nonlocal=1` or 10 for the paper's other settings)."""
    return _build("nl_c2d_r50", **locals())


@_document
@register(depth=101, inflate=None, num_nonlocal=5)
def nl_c2d_r101(weights=None, classes=None, include_top=True, input_shape=None, clip=None,
                sampling=None, layout=None, num_nonlocal=None, nonlocal_mode=None,
                nonlocal_kwargs=None, pool2=None, base_width=None, dropout=0.5,
                classifier_activation="softmax", include_preprocessing=True,
                synchronized_bn=False, name="nl_c2d_r101"):
    """NL-C2D ResNet-101 (paper Table 2e): 5 blocks, res3 2, 4 and res4 7, 14, 21."""
    return _build("nl_c2d_r101", **locals())


@_document
@register(depth=50, inflate="3x1x1", num_nonlocal=5)
def nl_i3d_r50(weights=None, classes=None, include_top=True, input_shape=None, clip=None,
               sampling=None, layout=None, inflate=None, num_nonlocal=None, nonlocal_mode=None,
               nonlocal_kwargs=None, pool2=None, base_width=None, dropout=0.5,
               classifier_activation="softmax", include_preprocessing=True,
               synchronized_bn=False, name="nl_i3d_r50"):
    """NL-I3D ResNet-50 (paper Table 2f, 74.9 top-1 on Kinetics-400 at 32x2):
    I3D 3x1x1 with 5 non-local blocks."""
    return _build("nl_i3d_r50", **locals())


@_document
@register(depth=101, inflate="3x1x1", num_nonlocal=5)
def nl_i3d_r101(weights=None, classes=None, include_top=True, input_shape=None, clip=None,
                sampling=None, layout=None, inflate=None, num_nonlocal=None, nonlocal_mode=None,
                nonlocal_kwargs=None, pool2=None, base_width=None, dropout=0.5,
                classifier_activation="softmax", include_preprocessing=True,
                synchronized_bn=False, name="nl_i3d_r101"):
    """NL-I3D ResNet-101 (paper Table 2f): I3D 3x1x1 with 5 non-local blocks."""
    return _build("nl_i3d_r101", **locals())
