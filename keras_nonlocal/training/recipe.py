"""Training recipes: a TOML file of typed settings plus `key=value` overrides.

Every key has a type and a default (`Recipe`); an unknown key or a value of
the wrong type is an error at start-up naming the key and the valid ones.
"""

import dataclasses
import difflib
import os
import sys
import tomllib
import typing


@dataclasses.dataclass
class Recipe:
    """All settings of a training run (the paper's values as defaults)."""

    # model
    model: str = "nl_i3d_r50"
    weights: str = ""  # "", "imagenet", or a .keras / .weights.h5 path
    num_nonlocal: int = -1  # -1: the builder's default
    nonlocal_mode: str = "embedded_gaussian"
    sampling: str = "32x2"
    stride_on: str = "1x1"
    dropout: float = 0.5
    base_width: int = 64  # 64: the paper's ResNet; smaller for quick experiments
    # data
    train_data: str = ""
    val_data: str = ""
    data_root: str = ""
    class_names: str = ""
    data_format: str = "files"  # "files" or "tfrecord"
    num_classes: int = 0  # needed with tfrecord data; else from the list
    multi_label: bool = False
    num_frames: int = 32
    frame_stride: int = 2
    crop_size: int = 224
    short_side_min: int = 256
    short_side_max: int = 320
    eval_short_side: int = 256
    eval_clips: int = 10
    eval_crops: int = 3
    # optimisation (paper section 4.1)
    batch_size: int = 64  # global, split over replicas
    steps: int = 400000
    base_lr: float = 0.01  # for a global batch of 64, scaled linearly
    lr_schedule: str = "step"  # "step" (/10 at lr_decay_at) or "cosine"
    lr_decay_at: typing.List[float] = dataclasses.field(default_factory=lambda: [0.375, 0.75])
    warmup_steps: int = 0
    momentum: float = 0.9
    nesterov: bool = False
    weight_decay: float = 1e-4
    clipnorm: float = 0.0  # 0: off
    mixed_precision: str = "float32"  # "float32", "bfloat16", "float16"
    synchronized_bn: bool = False  # BN statistics over all replicas
    freeze_bn: bool = False  # BN in inference mode, statistics and scale/offset fixed
    # running
    strategy: str = "auto"  # "auto", "default", "mirrored", "multiworker", "tpu"
    output_dir: str = "runs/run"
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    seed: int = 0
    deterministic: bool = False

    @classmethod
    def keys(cls):
        return [f.name for f in dataclasses.fields(cls)]


_TYPES = {f.name: f.type for f in dataclasses.fields(Recipe)}


def _coerce(key, value, source):
    kind = _TYPES[key]
    if kind in (typing.List[float], "typing.List[float]"):
        if isinstance(value, str):
            value = [v for v in value.strip("[]").split(",") if v.strip()]
        if isinstance(value, (list, tuple)):
            try:
                return [float(v) for v in value]
            except (TypeError, ValueError):
                pass
        raise ValueError(f"{source}: `{key}` must be a list of numbers. Received: {key}={value!r}")
    if isinstance(value, str) and kind is not str:
        text = value.strip()
        try:
            if kind is bool:
                if text.lower() not in ("true", "false", "1", "0"):
                    raise ValueError
                return text.lower() in ("true", "1")
            return kind(text)
        except ValueError:
            raise ValueError(
                f"{source}: `{key}` must be {kind.__name__}. Received: {key}={value!r}"
            ) from None
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(
            f"{source}: `{key}` must be {kind.__name__}. Received: {key}={value!r}"
        )
    return value


def _check_key(key, source):
    if key not in _TYPES:
        close = difflib.get_close_matches(key, _TYPES, n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(
            f"{source}: unknown key `{key}`.{hint} Valid keys: {', '.join(Recipe.keys())}. "
            f"Received: {key}"
        )


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
        for key, value in table.items():
            _check_key(key, path)
            values[key] = _coerce(key, value, path)
    if isinstance(overrides, dict):
        overrides = [f"{k}={v}" for k, v in overrides.items()]
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"Overrides are key=value. Received: {item!r}")
        key = key.strip()
        _check_key(key, "override")
        values[key] = _coerce(key, value, "override")
    recipe = Recipe(**values)
    _validate(recipe)
    return recipe


def _validate(recipe):
    choices = {
        "data_format": ("files", "tfrecord"), "lr_schedule": ("step", "cosine"),
        "mixed_precision": ("float32", "bfloat16", "float16"),
        "strategy": ("auto", "default", "mirrored", "multiworker", "tpu"),
    }
    for key, allowed in choices.items():
        if getattr(recipe, key) not in allowed:
            raise ValueError(
                f"`{key}` must be one of {', '.join(allowed)}. Received: {key}={getattr(recipe, key)!r}"
            )
    for key in ("batch_size", "steps", "checkpoint_every", "keep_checkpoints", "num_frames",
                "frame_stride", "crop_size"):
        if getattr(recipe, key) <= 0:
            raise ValueError(f"`{key}` must be positive. Received: {key}={getattr(recipe, key)}")


def resolve_recipe_path(name):
    """A recipe file path, or the name of one in the repository's `zoo/recipes/`
    (or, for an installed wheel, `<prefix>/share/keras_nonlocal/recipes/`)."""
    if os.path.exists(name):
        return name
    here = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    file = name if name.endswith(".toml") else name + ".toml"
    for folder in (os.path.join(here, "zoo", "recipes"),
                   os.path.join(sys.prefix, "share", "keras_nonlocal", "recipes")):
        if os.path.exists(os.path.join(folder, file)):
            return os.path.join(folder, file)
    raise ValueError(f"Recipe not found (a .toml path or a name in zoo/recipes/). Received: recipe={name!r}")
