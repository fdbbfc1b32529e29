"""Preset directories: a model as keras-hub and Keras write one.

A preset is a folder with `config.json` (the model's Keras config: its
classes and their arguments), `model.weights.h5` and `metadata.json`: Keras'
own uncompressed saving format (`model.save(folder, zipped=False)`), which
`keras.saving.load_model` reads from a folder or an `hf://` handle. A
`kaggle://` handle is downloaded with `kagglehub` (as keras-hub does), and a
built-in name (`"nl_i3d_r50_kinetics400"`) is resolved by the zoo, which
registers its resolver here (the zoo sits above the models).
"""

import json
import os
import shutil
import tempfile

import keras

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
METADATA_FILE = "metadata.json"

# name -> model for built-in preset names; set by keras_nonlocal.zoo.
_builtin_resolvers = []


def register_builtin_resolver(resolver):
    """`resolver(name, **kwargs)` returns a model for a built-in preset name,
    or None if the name is not one of its presets."""
    _builtin_resolvers.append(resolver)


def save_preset(model, preset_dir):
    """Writes `model` to `preset_dir` atomically (a sibling temporary folder
    renamed into place; an existing preset is replaced only once the new
    one is complete)."""
    preset_dir = os.path.abspath(os.fspath(preset_dir))
    parent = os.path.dirname(preset_dir)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".preset-", dir=parent)
    try:
        keras.saving.save_model(model, staging, zipped=False)
        _add_metadata(model, os.path.join(staging, METADATA_FILE))
        old = None
        if os.path.exists(preset_dir):
            old = tempfile.mkdtemp(prefix=".preset-old-", dir=parent)
            os.replace(preset_dir, os.path.join(old, "preset"))
        os.replace(staging, preset_dir)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _add_metadata(model, path):
    """Keras' metadata plus what keras-hub records: the package version and
    the parameter count."""
    import keras_nonlocal

    with open(path) as f:
        metadata = json.load(f)
    metadata.update(keras_nonlocal_version=keras_nonlocal.__version__,
                    parameter_count=int(model.count_params()))
    with open(path, "w") as f:
        json.dump(metadata, f, indent=2)


def load_preset(preset, cls=None, **kwargs):
    """The model of a preset directory, `hf://` / `kaggle://` handle or
    built-in name; checked to be a `cls` when given."""
    model = _load(os.fspath(preset), **kwargs)
    if cls is not None and not isinstance(model, cls):
        raise ValueError(f"The preset holds a {type(model).__name__}, not a {cls.__name__}. "
                         f"Received: preset={preset!r}")
    return model


def _load(preset, **kwargs):
    remote = preset.startswith(("hf://", "kaggle://"))
    if kwargs and (remote or os.path.isdir(preset)):
        raise ValueError("Builder arguments apply to built-in preset names; a saved preset is "
                         f"loaded as it was saved. Received: {sorted(kwargs)} for {preset!r}")
    if preset.startswith("kaggle://"):
        preset = _kaggle_download(preset)
    elif os.path.isdir(preset):
        _check_folder(preset)
    if preset.startswith("hf://") or os.path.isdir(preset):
        return keras.saving.load_model(preset)
    for resolver in _builtin_resolvers:
        model = resolver(preset, **kwargs)
        if model is not None:
            return model
    raise ValueError("A preset is a folder written by save_to_preset, an hf:// or kaggle:// "
                     "handle, or a built-in name (<model>_<weights preset>, e.g. "
                     f"'nl_i3d_r50_kinetics400'; zoo.list_weights()). Received: preset={preset!r}")


def _check_folder(folder):
    missing = [name for name in (CONFIG_FILE, WEIGHTS_FILE) if
               not os.path.isfile(os.path.join(folder, name))]
    if missing:
        raise ValueError(f"{folder} is not a preset directory: no {', '.join(missing)}. "
                         f"Received: preset={folder!r}")


def _kaggle_download(handle):
    try:
        import kagglehub
    except ModuleNotFoundError:
        raise ImportError("kaggle:// presets are downloaded with kagglehub: "
                          f"pip install kagglehub. Received: preset={handle!r}") from None
    return kagglehub.model_download(handle[len("kaggle://"):])
