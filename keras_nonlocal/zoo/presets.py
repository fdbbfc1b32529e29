"""Published Kinetics-400 weights of the zoo's models, one record each.

`zoo.nl_i3d_r50(weights="kinetics400")` is the paper's own NL I3D (the
original release's 32x2 file, 74.9 top-1); `zoo.list_weights()` lists every
preset: source, clip, published accuracy, licence, URL. A preset is one
record: where the file is and in which format, the builder arguments that
reproduce the network that made it, the clip it was trained and tested with
(normalisation and the 400 class names included), the published accuracy
and its source, the licence.

Files come through `keras.utils.get_file` into the Keras cache
(`$KERAS_HOME/models/`, under the published file name), so a file placed
there works offline; `KERAS_NONLOCAL_WEIGHTS_MIRROR` points every download
at a mirror (`<mirror>/<file name>`). A file is converted once and the
result cached beside it (`models/keras_nonlocal/<model>-<preset>.weights.h5`).
"""

import dataclasses
import hashlib
import os

import keras

from keras_nonlocal.cache import keras_home
from keras_nonlocal.cache import models_dir
from keras_nonlocal.clip import Clip
from keras_nonlocal.models.classifier import classifier_size
from keras_nonlocal.settings import did_you_mean
from keras_nonlocal.weights import converters
from keras_nonlocal.weights import readers
from keras_nonlocal.weights.kinetics import kinetics400_classes
from keras_nonlocal.weights.loading import copy_by_name
from keras_nonlocal.zoo import publishers
from keras_nonlocal.zoo.publishers import PUBLISHERS
from keras_nonlocal.zoo.publishers import SAMPLINGS

MIRROR = "KERAS_NONLOCAL_WEIGHTS_MIRROR"
CC_BY_NC = ("CC-BY-NC 4.0 (non-commercial; downloaded from the original host at your "
            "request, never re-hosted)")
APACHE = "Apache-2.0"


@dataclasses.dataclass(frozen=True)
class WeightsPreset:
    """One published checkpoint of a zoo model.

    Attributes:
        model: the zoo builder (`"nl_i3d_r50"`).
        name: the preset (`"kinetics400"`).
        source: who published it.
        url: where the file is (its original host).
        file_format: `"caffe2"` (pickle) or `"pytorch"` (torch.save zip).
        builder_args: the builder arguments that reproduce the network.
        clip: the `Clip` it was trained and tested with (class names included).
        top1, top5: the published Kinetics-400 validation accuracy.
        accuracy_source: where those figures are published.
        license: the licence of the weights.
        sha256_prefix: the first hex digits of the file's SHA-256 when the
            publisher gives them (mmaction2 file names), checked on download.
        dataset: what it was trained on (`"kinetics400"`).
        variant: what tells it from the publisher's other checkpoints of
            the model at that sampling (`"nopool"`, `"dot_product"`).

    The name follows one grammar (`preset_name`): the dataset, the sampling
    unless 32x2, the publisher unless the paper's release, the variant;
    `"kinetics400_8x8_pyslowfast_nopool"`.
    """

    model: str
    name: str
    source: str
    url: str
    file_format: str
    builder_args: dict
    clip: Clip
    top1: float
    top5: float
    accuracy_source: str
    license: str
    sha256_prefix: str = None
    dataset: str = "kinetics400"
    variant: str = None

    def __post_init__(self):
        expected = preset_name(self.dataset, self.sampling, self.publisher, self.variant)
        if self.name != expected:
            raise ValueError(f"A preset of {self.dataset} at {self.sampling} by {self.publisher}"
                             f"{' (' + self.variant + ')' if self.variant else ''} is named "
                             f"{expected!r}. Received: name={self.name!r}")

    @property
    def publisher(self):
        """Whose network it is (`zoo.PUBLISHERS`)."""
        return self.builder_args.get("publisher", "release")

    @property
    def sampling(self):
        return self.builder_args.get("sampling", "32x2")

    @property
    def file_name(self):
        return self.url.rsplit("/", 1)[-1]

    def summary(self):
        """A short dict: what `list_weights` shows."""
        return dict(model=self.model, preset=self.name, source=self.source,
                    clip=f"{self.clip.num_frames}x{self.clip.frame_stride}",
                    top1=self.top1, top5=self.top5, accuracy_source=self.accuracy_source,
                    license=self.license, url=self.url,
                    builder_args=dict(self.builder_args))


def preset_name(dataset, sampling, publisher, variant=None):
    """A preset's name: `<dataset>[_<sampling>][_<publisher>][_<variant>]`,
    the sampling left out at 32x2 and the publisher for the paper's own
    release (`"kinetics400"` is the release's 32x2 file)."""
    parts = [dataset, sampling if sampling != "32x2" else None,
             publisher if publisher != "release" else None, variant]
    return "_".join(p for p in parts if p)


def _kinetics_clip(publisher, sampling, **views):
    """The clip of a Kinetics-400 checkpoint: its sampling, its publisher's
    normalisation and test protocol, the 400 class names (and any other
    `views` settings)."""
    frames, stride = SAMPLINGS[sampling]
    return Clip(num_frames=frames, frame_stride=stride, class_names=kinetics400_classes(),
                protocol=PUBLISHERS[publisher].protocol,
                **PUBLISHERS[publisher].normalization.fields(), **views)


_RELEASE = "https://dl.fbaipublicfiles.com/video-nonlocal/"
_PYSLOWFAST = "https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/kinetics400/"
_PYTORCHVIDEO = "https://dl.fbaipublicfiles.com/pytorchvideo/model_zoo/kinetics/"
_MMACTION = "https://download.openmmlab.com/mmaction/v1.0/recognition/i3d/"
_RELEASE_README = "video-nonlocal-net README (10 clips x 3 crops)"


def _release(model, name, file, sampling, top1, top5):
    return WeightsPreset(
        model, name, PUBLISHERS["release"].title, _RELEASE + file, "caffe2", dict(sampling=sampling, publisher="release"),
        _kinetics_clip("release", sampling), top1, top5, _RELEASE_README, CC_BY_NC)


def _pyslowfast(model, name, file, top1, top5, **args):
    return WeightsPreset(
        model, name, "PySlowFast (Caffe2 file)", _PYSLOWFAST + file, "caffe2",
        dict(sampling="8x8", publisher="pyslowfast", **args), _kinetics_clip("pyslowfast", "8x8"),
        top1, top5, "PySlowFast MODEL_ZOO.md", APACHE,
        variant="nopool" if args.get("pool2") is False else None)


def _pytorchvideo(model, file, top1, top5):
    return WeightsPreset(
        model, "kinetics400_8x8_pytorchvideo", "pytorchvideo (PyTorch)", _PYTORCHVIDEO + file,
        "pytorch", dict(sampling="8x8", publisher="pytorchvideo"),
        _kinetics_clip("pytorchvideo", "8x8"),
        top1, top5, "pytorchvideo model_zoo.md", APACHE)


def _mmaction(model, name, config, suffix, nonlocal_mode, top1, top5):
    stem = f"i3d_imagenet-pretrained-r50{config}_8xb8-32x2x1-100e_kinetics400-rgb"
    args = dict(sampling="32x2", publisher="mmaction2")
    if nonlocal_mode:
        args["nonlocal_mode"] = nonlocal_mode
    return WeightsPreset(
        model, name, "mmaction2 1.x (PyTorch)", f"{_MMACTION}{stem}/{stem}_{suffix}.pth",
        "pytorch", args,
        # mmaction2 trains on multi-scale crops of the 256-pixel short side.
        _kinetics_clip("mmaction2", "32x2", short_side_max=256), top1, top5,
        "mmaction2 configs/recognition/i3d/README.md (10 clips x 3 crops)", APACHE,
        sha256_prefix=suffix.rsplit("-", 1)[-1],
        # The embedded Gaussian (the paper's default) carries no variant.
        variant=None if nonlocal_mode in (None, "embedded_gaussian") else nonlocal_mode)


_ALL = [
    _release("c2d_r50", "kinetics400", "c2d_baseline_32x2_IN_pretrain_400k.pkl", "32x2", 72.0, 90.0),
    _release("c2d_r50", "kinetics400_8x8", "c2d_baseline_8x8_IN_pretrain_400k.pkl", "8x8", 71.9, 90.0),
    _release("nl_c2d_r50", "kinetics400", "c2d_nonlocal_32x2_IN_pretrain_400k.pkl", "32x2", 73.9, 91.0),
    _release("nl_c2d_r50", "kinetics400_8x8", "c2d_nonlocal_8x8_IN_pretrain_400k.pkl", "8x8", 74.4, 91.4),
    _release("i3d_r50", "kinetics400", "i3d_baseline_32x2_IN_pretrain_400k.pkl", "32x2", 73.6, 90.8),
    _release("i3d_r50", "kinetics400_8x8", "i3d_baseline_8x8_IN_pretrain_400k.pkl", "8x8", 73.4, 90.9),
    _release("nl_i3d_r50", "kinetics400", "i3d_nonlocal_32x2_IN_pretrain_400k.pkl", "32x2", 74.9, 91.6),
    _release("nl_i3d_r50", "kinetics400_8x8", "i3d_nonlocal_8x8_IN_pretrain_400k.pkl", "8x8", 74.7, 91.6),
    # PySlowFast's Caffe2 rows, run in its own network (pool1 padded).
    _pyslowfast("c2d_r50", "kinetics400_8x8_pyslowfast_nopool", "C2D_NOPOOL_8x8_R50.pkl",
                67.2, 87.8, pool2=False),
    _pyslowfast("i3d_r50", "kinetics400_8x8_pyslowfast", "I3D_8x8_R50.pkl", 73.5, 90.8),
    _pyslowfast("nl_i3d_r50", "kinetics400_8x8_pyslowfast", "I3D_NLN_8x8_R50.pkl", 74.0, 91.1),
    # pytorchvideo's hub models.
    _pytorchvideo("c2d_r50", "C2D_8x8_R50.pyth", 71.46, 89.68),
    _pytorchvideo("i3d_r50", "I3D_8x8_R50.pyth", 73.27, 90.70),
    # mmaction2's I3D / NL-I3D, 32x2.
    _mmaction("i3d_r50", "kinetics400_mmaction2", "", "20220812-e213c223", None, 73.47, 91.27),
    _mmaction("nl_i3d_r50", "kinetics400_mmaction2", "-nl-embedded-gaussian",
              "20220812-afd8f562", "embedded_gaussian", 74.73, 91.80),
    _mmaction("nl_i3d_r50", "kinetics400_mmaction2_dot_product", "-nl-dot-product",
              "20220812-8e1f2148", "dot_product", 74.80, 92.07),
    _mmaction("nl_i3d_r50", "kinetics400_mmaction2_gaussian", "-nl-gaussian",
              "20220812-0c5cbf5a", "gaussian", 73.97, 91.33),
]
# {zoo model: {preset name: WeightsPreset}}; `register_preset` adds one.
PRESETS = {}


def register_preset(preset):
    """Adds a `WeightsPreset`: `zoo.<model>(weights=preset.name)` then loads
    it, and `VideoClassifier.from_preset("<model>_<name>")`. Its publisher
    (`builder_args["publisher"]`) must be registered (`register_publisher`).

    Raises:
        ValueError: for an unknown publisher or a name already taken.
    """
    publishers.publisher(preset.publisher)
    if preset.name in PRESETS.get(preset.model, {}):
        raise ValueError(f"{preset.model} has a preset {preset.name!r} already. Received: "
                         f"name={preset.name!r}")
    PRESETS.setdefault(preset.model, {})[preset.name] = preset
    return preset


for _preset in _ALL:
    register_preset(_preset)


def list_weights(model=None):
    """The weights presets of a zoo model (or of every model), as dicts: preset,
    source, clip, published top-1 / top-5 and where, licence, URL."""
    models = [model] if model else sorted(PRESETS)
    return [p.summary() for m in models for p in PRESETS.get(m, {}).values()]


def find_preset(model, name):
    """The `WeightsPreset` of `model` called `name`, or None if `name` is not
    a preset name (a path, say); a near miss is a ValueError with a hint."""
    presets = PRESETS.get(model, {})
    if name in presets:
        return presets[name]
    if isinstance(name, str) and not os.path.exists(name) and (
            name.startswith("kinetics") or did_you_mean(name, presets)):
        raise ValueError(f"{model} has no weights preset {name!r}.{did_you_mean(name, presets)} "
                         f"Presets: {', '.join(presets) or 'none'}. Received: weights={name!r}")
    return None


def fetch(preset):
    """`(path, downloaded)`: the cached file of a preset, or a fresh download
    from its host (or `$KERAS_NONLOCAL_WEIGHTS_MIRROR`) under a temporary
    name, which `load_preset` moves into the cache only once it has read it
    whole: no half-written or unreadable download is ever cached."""
    path = os.path.join(models_dir(), preset.file_name)
    if os.path.isfile(path):
        return path, False
    origin = preset.url
    if os.environ.get(MIRROR):
        origin = os.environ[MIRROR].rstrip("/") + "/" + preset.file_name
    partial = preset.file_name + ".download"
    try:
        downloaded = keras.utils.get_file(partial, origin=origin, cache_dir=keras_home(),
                                          cache_subdir="models")
    except Exception as error:  # noqa: BLE001 -- any failure of the download
        _remove(os.path.join(models_dir(), partial))
        raise ValueError(f"Could not download {preset.file_name} for {preset.model} "
                         f"weights={preset.name!r} from {origin}: {error}. Place the file in "
                         f"{models_dir()} to use it offline. Received: weights={preset.name!r}"
                         ) from None
    if preset.sha256_prefix:
        digest = _sha256(downloaded)
        if not digest.startswith(preset.sha256_prefix):
            _remove(downloaded)
            raise ValueError(f"{preset.file_name} from {origin}: SHA-256 {digest[:8]}..., the "
                             f"file name says {preset.sha256_prefix}...: not the published "
                             f"file (deleted). Received: weights={preset.name!r}")
    return downloaded, True


def converted_path(preset):
    return os.path.join(models_dir(), "keras_nonlocal", f"{preset.model}-{preset.name}.weights.h5")


def load_preset(model, preset, full_model):
    """Fills `model` with a preset's weights.

    The file is converted once: the converted weights are cached beside it
    (`converted_path`) and read from there afterwards.

    Args:
        model: a zoo model built with the preset's architecture.
        preset: a `WeightsPreset`.
        full_model: builds the preset's full model (400 classes, with top),
            to convert into and, when `model` has another head, to copy from.
    """
    source = model if _is_full(model) else full_model()
    cached = converted_path(preset)
    if not _read_cache(source, cached):
        _convert(source, preset, cached)
    if source is not model:
        copy_by_name(source, model, skip=("predictions",))
    return model


def _read_cache(model, cached):
    """Whether the converted weights were in the cache and fit (a cache of
    another Keras version, say, is converted again)."""
    if not os.path.isfile(cached):
        return False
    try:
        model.load_weights(cached)
    except (OSError, ValueError):
        return False
    return True


def _convert(model, preset, cached):
    """Reads the preset's file (downloading it first if needed) into `model`
    and caches the result; a download that cannot be read is deleted."""
    path, downloaded = fetch(preset)
    try:
        kind, tensors = readers.read_tensors(path)
        if kind != preset.file_format:
            raise ValueError(f"{path}: a {kind} file where {preset.source} publishes a "
                             f"{preset.file_format} one. Received: {path}")
        _, names = publishers.checkpoint_names(kind, tensors)
        converters.assign(model, tensors, names, path)
    except ValueError:
        if downloaded:
            _remove(path)  # an unreadable download does not enter the cache
        raise
    if downloaded:
        os.replace(path, os.path.join(models_dir(), preset.file_name))
    os.makedirs(os.path.dirname(cached), exist_ok=True)
    temporary = cached[: -len(".weights.h5")] + ".tmp.weights.h5"
    model.save_weights(temporary)
    os.replace(temporary, cached)


def _is_full(model):
    return classifier_size(model) == 400


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _remove(path):
    if os.path.exists(path):
        os.remove(path)
