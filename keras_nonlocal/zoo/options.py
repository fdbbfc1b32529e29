"""The arguments of every zoo builder: one record, one place to add one.

`ModelOptions` is what a builder call says; the builders are thin (their
signature and their Args docs come from this record), and `builders.create`
does the work. Architecture arguments left at None take the weights' value
(a preset, a checkpoint file's publisher) or else `ARCHITECTURE_DEFAULTS`.
"""

import dataclasses
import inspect

# Builder arguments that decide the network, with their value when neither
# the caller nor the weights set them.
ARCHITECTURE_DEFAULTS = dict(sampling="32x2", publisher="paper", inflate=None, num_nonlocal=None,
                             nonlocal_mode="embedded_gaussian", nonlocal_kwargs=None, pool2=True,
                             base_width=64, test_head=None)


@dataclasses.dataclass(frozen=True)
class ModelOptions:
    """Every argument of a zoo builder (`ARGUMENT_DOCS` says what each does)."""

    weights: object = None
    classes: int = None
    include_top: bool = True
    pooling: str = None
    input_shape: tuple = None
    clip: object = None
    sampling: str = None
    publisher: str = None
    inflate: str = None
    num_nonlocal: int = None
    nonlocal_mode: str = None
    nonlocal_kwargs: dict = None
    pool2: bool = None
    base_width: int = None
    test_head: str = None
    dropout: float = 0.5
    classifier_activation: str = "softmax"
    include_preprocessing: bool = True
    synchronized_bn: bool = False
    name: str = None

    def architecture_args(self):
        """The architecture arguments the caller set (the others are None)."""
        return {k: getattr(self, k) for k in ARCHITECTURE_DEFAULTS
                if getattr(self, k) is not None}


ARGUMENT_DOCS = dict(
    weights="""`None` (random); a Kinetics-400 preset (`"kinetics400"`, the
            original release's 32x2 file, `"kinetics400_8x8"`, ...; see
            `zoo.list_weights()`): downloaded once, converted, and the model
            built as the publisher's network, with its clip and class names;
            `"imagenet"` (keras.applications' ResNet of the same depth,
            inflated as in the paper, sec. 4); or a path: a published
            checkpoint of any supported format (Caffe2 `.pkl`, PyTorch
            `.pyth` / `.pth`, told by content; read as its publisher's
            network unless the other arguments say otherwise), a
            `.weights.h5`, or a `.keras` file (a video model of the same
            architecture, whose clip record the new model takes over; or a
            2D ResNet, inflated).""",
    classes="""classifier size; 400 (Kinetics-400) by default. With a
            preset and another size, everything but the classifier is loaded
            (fine-tuning).""",
    include_top="add pooling, dropout and the classifier.",
    pooling="""with `include_top=False`: `None` (the res5 feature map), `"avg"`
            (its global average: the features the classifier reads) or
            `"max"`. `zoo.feature_model()` takes any stage.""",
    input_shape="""`(T, H, W, 3)`; default any size (testing is fully
            convolutional).""",
    clip="""the `keras_nonlocal.Clip` the model is for, or a dict of
            changes to the default one (that of `sampling`, normalised as
            the weights expect). Recorded in the model, read by
            `zoo.preprocessing_spec()` and everything downstream.""",
    sampling="""`"32x2"` (the paper's 32 frames, one every 2) or `"8x8"`:
            the clip and the temporal strides that go with it.""",
    publisher="""whose network: a publisher of `zoo.PUBLISHERS`, `"paper"`
            (default; Table 1 with keras.applications' stride placement, for
            ImageNet inflation), `"release"` (the original Caffe2 code),
            `"pyslowfast"`, `"pytorchvideo"`, `"mmaction2"`.""",
    inflate="""the kernel inflated in I3D's blocks: `"3x1x1"` (default, the
            first 1x1 conv) or `"3x3x3"` (the 3x3 conv).""",
    num_nonlocal="""0, 1, 5 or 10 non-local blocks, placed as the paper
            places them (`zoo.nonlocal_layers()` names where); 0, 1 or 2 in
            the R14 models.""",
    nonlocal_mode="""pairwise function of the blocks (`"embedded_gaussian"`
            by default, `"gaussian"`, `"dot_product"`, `"concatenation"`).""",
    nonlocal_kwargs="""further `NonLocal3D` arguments (`scope`,
            `pool_position`, `scale`, ...), over the publisher's.""",
    pool2="the temporal max-pool after res2 (`False`: none).",
    base_width="64 as in the paper; smaller for small, quick models.",
    test_head="""what the classifier reads of a res5 map larger than a
            training clip's (testing fully convolutional at 256): default
            the publisher's; `"window_scores"` every training-size
            window classified, scores averaged (the release, PySlowFast, the
            paper's network), `"window_logits"` their logits averaged
            (pytorchvideo), `"global"` the global mean (mmaction2). The same
            function at the training size.""",
    dropout="0.5 as in the paper.",
    classifier_activation='`"softmax"`, `"sigmoid"` or `None` (logits).',
    include_preprocessing="""the model normalises RGB frames in [0, 255]
            itself; with `False` it takes normalised frames.""",
    synchronized_bn="BN statistics over all replicas (TensorFlow backend).",
    name="the model's name (default: the builder's).",
)

_RETURNS = """
    Returns:
        A functional `keras.Model` taking `(batch, T, H, W, 3)` RGB frames in
        [0, 255] (uint8 or float), returning class scores.

    Example:

    ```python
    model = zoo.{name}(weights=None, classes=10, sampling="8x8")
    zoo.preprocessing_spec(model).num_frames   # 8
    ```
"""


def builder_signature(name, i3d):
    """The signature a builder shows: every option, `inflate` for I3D only."""
    parameters = []
    for field in dataclasses.fields(ModelOptions):
        if field.name == "inflate" and not i3d:
            continue
        default = name if field.name == "name" else field.default
        parameters.append(inspect.Parameter(field.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                            default=default, annotation=field.type))
    return inspect.Signature(parameters)


def builder_doc(summary, signature, name):
    """The builder's docstring: its summary, then Args from `ARGUMENT_DOCS`."""
    args = "\n".join(f"        {p}: {ARGUMENT_DOCS[p]}" for p in signature.parameters)
    return f"{summary}\n\n    Args:\n{args}\n{_RETURNS.replace('{name}', name)}"
