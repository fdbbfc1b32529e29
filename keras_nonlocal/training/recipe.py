"""Training recipes: a TOML file of typed settings plus `key=value` overrides.

Every key has a type and a default (`Recipe`); an unknown key or a value of
the wrong type is an error at start-up naming the key and the valid ones.
Recipes ship with the package (`keras_nonlocal.recipes`, the repository's
`zoo/recipes/` folder) and are found by name.
"""

import dataclasses
import importlib.resources
import os
import tomllib
import typing
from typing import Optional

from keras_nonlocal.clip import Clip
from keras_nonlocal.settings import parse_assignments
from keras_nonlocal.training.distribution import CHOICES

RECIPES_PACKAGE = "keras_nonlocal.recipes"


@dataclasses.dataclass
class Recipe:
    """All settings of a training run (the paper's values as defaults).

    A setting left at None is unset: the model's own (its builder's, or its
    weights preset's) for the network and the clip keys (`num_frames` ...
    `eval_crops`, as `keras_nonlocal.Clip` names them). A clip key set here
    is what the model is trained on and records. On the command line
    `key=` (empty) unsets a key.
    """

    # model
    model: str = "nl_i3d_r50"
    weights: Optional[str] = None  # a preset ("kinetics400_8x8"), "imagenet", a path
    num_nonlocal: Optional[int] = None
    nonlocal_mode: str = "embedded_gaussian"
    sampling: Optional[str] = None
    publisher: Optional[str] = None  # whose network (zoo.PUBLISHERS)
    dropout: float = 0.5
    base_width: int = 64  # 64: the paper's ResNet; smaller for quick experiments
    # data
    train_data: Optional[str] = None
    val_data: Optional[str] = None
    data_root: Optional[str] = None
    class_names: Optional[str] = None
    data_format: str = "files"  # "files" or "tfrecord"
    num_classes: Optional[int] = None  # needed with tfrecord data; else from the list
    multi_label: bool = False
    # the clip
    num_frames: Optional[int] = None
    frame_stride: Optional[int] = None
    crop_size: Optional[int] = None
    short_side_min: Optional[int] = None
    short_side_max: Optional[int] = None
    eval_short_side: Optional[int] = None
    eval_clips: Optional[int] = None
    eval_crops: Optional[int] = None
    # optimisation (paper section 4.1)
    batch_size: int = 64  # global, split over replicas
    steps: int = 400000
    lr_at_batch_64: float = 0.01  # the learning rate at a global batch of 64, scaled linearly
    lr_schedule: str = "step"  # "step" (/10 at lr_decay_at) or "cosine"
    lr_decay_at: typing.List[float] = dataclasses.field(default_factory=lambda: [0.375, 0.75])
    warmup_steps: int = 0
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    clipnorm: Optional[float] = None  # each gradient's norm at most this
    mixed_precision: str = "float32"  # "float32", "bfloat16", "float16"
    synchronized_bn: bool = False  # BN statistics over all replicas
    freeze_bn: bool = False  # BN in inference mode, statistics and scale/offset fixed
    # every BN an Affine: statistics folded in and fixed, scale and bias trained
    # (the paper's long-clip fine-tuning; models.freeze_batch_norm)
    affine_bn: bool = False
    # running
    # TensorFlow: "auto", "default", "mirrored", "multiworker", "tpu"; JAX: "auto",
    # "default", "data_parallel", "model_parallel", "multihost" (training/distribution.py)
    strategy: str = "auto"
    model_shards: int = 2  # devices per model with strategy="model_parallel" (JAX)
    output_dir: str = "runs/run"
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    seed: int = 0
    deterministic: bool = False

    def clip_changes(self):
        """The clip settings this recipe sets, as `Clip` names them."""
        return {k: getattr(self, k) for k in CLIP_KEYS if getattr(self, k) is not None}

    @classmethod
    def keys(cls):
        return [f.name for f in dataclasses.fields(cls)]


# The clip's sampling settings (its ints); the normalisation comes with the weights.
CLIP_KEYS = tuple(f.name for f in dataclasses.fields(Clip) if f.type is int)
_TYPES = {f.name: list if f.type == typing.List[float] else f.type
          for f in dataclasses.fields(Recipe)}


def load_recipe(path=None, overrides=()):
    """Reads a recipe file (TOML) and applies `key=value` overrides.

    Args:
        path: a `.toml` file, a recipe name under the top-level `zoo/` folder
            (e.g. `"nl_i3d_r50_k400_32x2"`), or None for the defaults.
        overrides: strings `key=value` (or a dict).

    Returns:
        A `Recipe`.
    """
    values = {}
    if path:
        path = resolve_recipe_path(path)
        with open(path, "rb") as f:
            try:
                table = tomllib.load(f)
            except tomllib.TOMLDecodeError as error:
                raise ValueError(f"{path}: not valid TOML ({error}). Received: recipe={path!r}") from None
        values.update(parse_assignments(table, _TYPES, source=path))
    values.update(parse_assignments(overrides, _TYPES, source="override"))
    recipe = Recipe(**values)
    _validate(recipe)
    return recipe


def _validate(recipe):
    choices = {
        "data_format": ("files", "tfrecord"), "lr_schedule": ("step", "cosine"),
        "mixed_precision": ("float32", "bfloat16", "float16"),
        "strategy": tuple(dict.fromkeys(n for names in CHOICES.values() for n in names)),
    }
    for key, allowed in choices.items():
        if getattr(recipe, key) not in allowed:
            raise ValueError(
                f"`{key}` must be one of {', '.join(allowed)}. Received: {key}={getattr(recipe, key)!r}"
            )
    for key in ("batch_size", "steps", "checkpoint_every", "keep_checkpoints", "model_shards",
                "num_classes", "clipnorm", *CLIP_KEYS):
        value = getattr(recipe, key)
        if value is not None and value <= 0:
            raise ValueError(f"`{key}` must be positive (or unset). Received: {key}={value}")


def list_recipes():
    """Names of the recipes shipped with the package."""
    folder = importlib.resources.files(RECIPES_PACKAGE)
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".toml"))


def resolve_recipe_path(name):
    """A recipe file path, or the name of a recipe shipped with the package
    (`keras_nonlocal.recipes`, the repository's `zoo/recipes/`)."""
    if os.path.exists(name):
        return name
    file = name if name.endswith(".toml") else name + ".toml"
    shipped = importlib.resources.files(RECIPES_PACKAGE) / file
    if shipped.is_file():
        return str(shipped)
    raise ValueError(f"Recipe not found: not a file, nor one of the shipped recipes "
                     f"({', '.join(list_recipes())}). Received: recipe={name!r}")
