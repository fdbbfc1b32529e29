"""The zoo's builders: one thin function per published C2D / I3D / NL model.

Every builder takes the arguments of `options.ModelOptions` (its signature
and Args docs are made from that record) and calls `create(name, ...)`,
which does the work: read the weights argument (`sources.weights_source`),
settle the network (the caller's arguments, else the weights', else the
defaults), build it in its publisher's conventions (`publishers`), record
its clip, load the weights. `build(name, ...)` calls a builder by name.
"""

import functools
import os

import keras

from keras_nonlocal.clip import Clip
from keras_nonlocal.layers.preprocessing import find_preprocessing
from keras_nonlocal.models.video_resnet import Architecture
from keras_nonlocal.settings import apply_renames
from keras_nonlocal.models.video_resnet import nonlocal_after
from keras_nonlocal.models import preset_files
from keras_nonlocal.models.classifier import video_resnet
from keras_nonlocal.weights.imagenet import IMAGENET_NORMALIZATION
from keras_nonlocal.weights.inflation import inflate
from keras_nonlocal.weights.kinetics import kinetics400_classes
from keras_nonlocal.zoo import publishers
from keras_nonlocal.zoo.options import ARCHITECTURE_DEFAULTS
from keras_nonlocal.zoo.options import ModelOptions
from keras_nonlocal.zoo.options import builder_doc
from keras_nonlocal.zoo.options import builder_signature
from keras_nonlocal.zoo.presets import PRESETS
from keras_nonlocal.zoo.registry import model_info
from keras_nonlocal.zoo.registry import register
from keras_nonlocal.zoo.sources import ImageNetWeights
from keras_nonlocal.zoo.sources import weights_source

DEFAULT_CLASSES = 400


def build(name, **kwargs):
    """Builds the zoo model `name` (see `list_models()`); kwargs as the builders'."""
    return model_info(name).builder(**kwargs)


def from_preset_name(handle, **kwargs):
    """The model of a built-in preset name, `<zoo model>_<weights preset>`
    (`"nl_i3d_r50_kinetics400"`), built with `kwargs`; None for another name.
    `VideoClassifier.from_preset` asks this (registered below)."""
    for model, named in PRESETS.items():
        prefix = model + "_"
        if handle.startswith(prefix) and handle[len(prefix):] in named:
            return build(model, weights=handle[len(prefix):], **kwargs)
    return None


preset_files.register_builtin_resolver(from_preset_name)


def nonlocal_layers(name, num_nonlocal=None):
    """The layers after which zoo model `name` puts its non-local blocks.

    `insert_nonlocal(model, after=nonlocal_layers(...))` builds the same
    network from the model without blocks: `nonlocal_layers("nl_i3d_r50")`
    into `i3d_r50` gives `nl_i3d_r50` (its layer names and parameters).

    Args:
        name: a zoo name (`list_models()`).
        num_nonlocal: 1, 5 or 10 (the paper's placements); default the
            model's own (5 for the NL video models, 1 for the image ones).

    Returns:
        Layer names, e.g. `["conv3_block2_out", "conv3_block4_out", ...]`.
    """
    info = model_info(name)
    return nonlocal_after(info.depth, info.num_nonlocal if num_nonlocal is None else num_nonlocal)


def create(name, **kwargs):
    """What every builder does: the zoo model `name` built with `kwargs`
    (`options.ModelOptions`); see any builder's docs."""
    info = model_info(name)
    options = ModelOptions(**{"name": name, **kwargs})
    if options.classes is not None and not options.include_top:
        raise ValueError("`classes` sets the classifier, which include_top=False leaves out. "
                         f"Received: include_top=False, classes={options.classes!r}")
    if options.pooling is not None and options.include_top:
        raise ValueError("`pooling` says what a model without its classifier returns; use it "
                         f"with include_top=False. Received: pooling={options.pooling!r}, "
                         "include_top=True")
    classes = DEFAULT_CLASSES if options.classes is None else options.classes
    if isinstance(classes, bool) or not isinstance(classes, int) or classes < 1:
        raise ValueError(f"`classes` must be a positive int. Received: classes={classes!r}")
    source = weights_source(info, options.weights)
    args = _network_args(name, options, source)
    publisher = publishers.publisher(args["publisher"])
    architecture = _architecture(info, publisher, args)
    clip = _model_clip(source, publisher, args["sampling"], options,
                       classes if options.include_top else None)
    common = dict(dropout=options.dropout, classifier_activation=options.classifier_activation,
                  include_preprocessing=options.include_preprocessing,
                  synchronized_bn=options.synchronized_bn, publisher=publisher.name,
                  name=options.name)
    model = video_resnet(architecture, clip=clip, include_top=options.include_top,
                         pooling=options.pooling, classes=classes, input_shape=options.input_shape, **common)
    source.load(model, lambda: video_resnet(architecture, clip=source.clip or clip,
                                            classes=DEFAULT_CLASSES, **common))
    return model


def _network_args(name, options, source):
    """The architecture arguments: the caller's, else the weights', else the
    defaults; a caller's that contradicts a preset is a ValueError."""
    explicit = options.architecture_args()
    for arg, value in source.builder_args.items():
        if source.strict and arg in explicit and explicit[arg] != value:
            raise ValueError(
                f"The weights preset {options.weights!r} of {name} is built with {arg}="
                f"{value!r}; the arguments ask for {arg}={explicit[arg]!r}. Received: "
                f"weights={options.weights!r}, {arg}={explicit[arg]!r}")
    args = {**ARCHITECTURE_DEFAULTS, **source.builder_args, **explicit}
    if isinstance(source, ImageNetWeights) and args["base_width"] != 64:
        raise ValueError("ImageNet weights exist for the paper's widths only. "
                         f"Received: weights='imagenet', base_width={args['base_width']}")
    return args


def _architecture(info, publisher, args):
    """The `Architecture` of zoo model `info` in `publisher`'s conventions."""
    if args["inflate"] is not None and info.inflate is None:
        raise ValueError(f"{info.name} is a C2D model; `inflate` applies to I3D models. "
                         f"Received: inflate={args['inflate']!r}")
    conventions = publisher.architecture_args(args["sampling"])
    conventions["nonlocal_kwargs"].update(args["nonlocal_kwargs"] or {})
    if args["test_head"] is not None:
        conventions["test_head"] = args["test_head"]
    if not args["pool2"]:
        conventions["pool2_temporal"] = None
    num_nonlocal = info.num_nonlocal if args["num_nonlocal"] is None else args["num_nonlocal"]
    return Architecture(depth=info.depth, inflate=args["inflate"] or info.inflate,
                        num_nonlocal=num_nonlocal, nonlocal_mode=args["nonlocal_mode"],
                        base_width=args["base_width"], **conventions)


def _model_clip(source, publisher, sampling, options, classes):
    """The clip a new model records: the weights' (or its sampling's,
    normalised as the weights or else its publisher expect), then the
    caller's `clip` (a `Clip`, or a dict of changes)."""
    base = source.clip
    if base is None:
        frames, stride = publishers.SAMPLINGS[sampling]
        normalization = source.normalization or publisher.normalization
        base = Clip(num_frames=frames, frame_stride=stride, protocol=publisher.protocol,
                    **normalization.fields())
    if base.class_names is not None and len(base.class_names) != classes:
        base = base.replace(class_names=None)  # a new classifier
    if base.class_names is None and classes == DEFAULT_CLASSES and source.classes == 400:
        base = base.replace(class_names=kinetics400_classes())  # a Kinetics checkpoint
    clip = options.clip
    if clip is None:
        return base
    if isinstance(clip, dict):
        return base.replace(**clip)
    if not isinstance(clip, Clip):
        raise ValueError(f"`clip` must be a Clip or a dict of changes. Received: clip={clip!r}")
    if options.weights is not None and clip.normalization != base.normalization:
        raise ValueError(
            f"The weights expect the normalisation {base.normalization}; the clip asks "
            f"for {clip.normalization}. Received: clip={clip}")
    return clip


def inflate_from(model_2d, model_3d):
    """Inflates a 2D ResNet (a model or a `.keras` path) into `model_3d`.

    The 2D network is taken to be keras.applications' (their layer names, their
    normalisation): `model_3d`'s clip then records `IMAGENET_NORMALIZATION`.
    """
    if isinstance(model_2d, (str, os.PathLike)):
        model_2d = keras.saving.load_model(model_2d, compile=False)
    inflate(model_2d, model_3d)
    layer = find_preprocessing(model_3d)
    if layer is not None:
        layer.clip = layer.clip.replace(**IMAGENET_NORMALIZATION.fields())
    return model_3d


def zoo_model(depth, inflate, num_nonlocal):
    """Registers a builder (`def name(**kwargs)` calling `create`) under its
    name, with the signature and docs of `ModelOptions`: a misspelt argument
    is a TypeError naming it, `help()` lists every argument."""

    def decorate(function):
        signature = builder_signature(function.__name__, inflate is not None)

        @functools.wraps(function)
        def builder(*args, **kwargs):
            try:
                kwargs = apply_renames(kwargs, f"{function.__name__}()")
                bound = signature.bind(*args, **kwargs)
            except TypeError as error:
                raise TypeError(f"{function.__name__}() {error}") from None
            return function(**bound.arguments)

        builder.__signature__ = signature
        builder.__doc__ = builder_doc(function.__doc__, signature, function.__name__)
        return register(depth, inflate, num_nonlocal)(builder)

    return decorate


@zoo_model(depth=14, inflate=None, num_nonlocal=0)
def c2d_r14(**kwargs):
    """C2D ResNet-14, not in the paper: one bottleneck block per stage, the
    smallest network of the family, for quick experiments and tests where
    the depth is not the point. No published or ImageNet weights."""
    return create("c2d_r14", **kwargs)


@zoo_model(depth=14, inflate=None, num_nonlocal=2)
def nl_c2d_r14(**kwargs):
    """NL-C2D ResNet-14, not in the paper: C2D R14 with a non-local block
    after res3's block and after res4's (`num_nonlocal=1`: res4's only)."""
    return create("nl_c2d_r14", **kwargs)


@zoo_model(depth=50, inflate=None, num_nonlocal=0)
def c2d_r50(**kwargs):
    """C2D ResNet-50 (paper Table 1): the 2D baseline, 1x7x7 conv1."""
    return create("c2d_r50", **kwargs)


@zoo_model(depth=101, inflate=None, num_nonlocal=0)
def c2d_r101(**kwargs):
    """C2D ResNet-101 (paper Table 2e)."""
    return create("c2d_r101", **kwargs)


@zoo_model(depth=50, inflate="3x1x1", num_nonlocal=0)
def i3d_r50(**kwargs):
    """I3D ResNet-50: conv1 5x7x7, one kernel inflated to 3x1x1 (`inflate`, or
    "3x3x3") in every other residual block, the release's pattern."""
    return create("i3d_r50", **kwargs)


@zoo_model(depth=101, inflate="3x1x1", num_nonlocal=0)
def i3d_r101(**kwargs):
    """I3D ResNet-101 (paper Table 2e/2f), inflated like `i3d_r50`."""
    return create("i3d_r101", **kwargs)


@zoo_model(depth=50, inflate=None, num_nonlocal=5)
def nl_c2d_r50(**kwargs):
    """NL-C2D ResNet-50: C2D with 5 non-local blocks (res3 blocks 2, 4 and res4
    blocks 2, 4, 6; `num_nonlocal=1` or 10 for the paper's other settings)."""
    return create("nl_c2d_r50", **kwargs)


@zoo_model(depth=101, inflate=None, num_nonlocal=5)
def nl_c2d_r101(**kwargs):
    """NL-C2D ResNet-101 (paper Table 2e): 5 blocks, res3 2, 4 and res4 7, 14, 21."""
    return create("nl_c2d_r101", **kwargs)


@zoo_model(depth=50, inflate="3x1x1", num_nonlocal=5)
def nl_i3d_r50(**kwargs):
    """NL-I3D ResNet-50 (paper Table 2f, 74.9 top-1 on Kinetics-400 at 32x2):
    I3D 3x1x1 with 5 non-local blocks."""
    return create("nl_i3d_r50", **kwargs)


@zoo_model(depth=101, inflate="3x1x1", num_nonlocal=5)
def nl_i3d_r101(**kwargs):
    """NL-I3D ResNet-101 (paper Table 2f): I3D 3x1x1 with 5 non-local blocks."""
    return create("nl_i3d_r101", **kwargs)
