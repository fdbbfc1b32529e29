"""Zoo models that know what they are: `VideoResNetBackbone` and
`VideoClassifier` through `.keras` files and preset directories, on every
backend (this file runs in the TensorFlow, JAX and PyTorch passes)."""

import json
import os
import sys
import types

import keras
import numpy as np
import pytest

from helpers import to_numpy
from keras_nonlocal import Clip
from keras_nonlocal import VideoClassifier
from keras_nonlocal import VideoResNetBackbone
from keras_nonlocal import zoo
from keras_nonlocal.models import Architecture
from keras_nonlocal.models import video_resnet

CLIP = dict(num_frames=4, frame_stride=2, crop_size=32, eval_short_side=32,
            class_names=("a", "b", "c"))


def _model():
    """A small NL-I3D (ResNet-14, width 8: the round trips, not the depth,
    are the point) in mmaction2's conventions: a publisher, block arguments
    (`nonlocal_kwargs`), a test head, class names to carry."""
    architecture = Architecture(depth=14, inflate="3x1x1", num_nonlocal=2, base_width=8,
                                nonlocal_mode="gaussian",
                                **zoo.PUBLISHERS["mmaction2"].architecture_args("8x8"))
    return video_resnet(architecture, clip=Clip(**CLIP), classes=3, dropout=0.0,
                        publisher="mmaction2")


def _randomise(model, rng):
    """Random weights everywhere (the non-local blocks start at identity,
    BN at unit statistics: a round trip of those would prove little)."""
    for weight in model.weights:
        weight.assign(rng.normal(0, 0.1, weight.shape).astype(weight.dtype))
    return model


def _clip(rng):
    return rng.integers(0, 256, size=(2, 4, 32, 32, 3)).astype("float32")


def _assert_same_model(loaded, model, x):
    assert type(loaded) is type(model)
    assert loaded.get_config() == model.get_config()
    if isinstance(model, VideoClassifier):
        assert type(loaded.backbone) is VideoResNetBackbone
        assert loaded.backbone.get_config() == model.backbone.get_config()
        assert loaded.backbone.architecture == model.backbone.architecture
    assert zoo.preprocessing_spec(loaded) == zoo.preprocessing_spec(model)
    np.testing.assert_allclose(to_numpy(loaded(x, training=False)),
                               to_numpy(model(x, training=False)), rtol=1e-5, atol=1e-6)


def test_a_zoo_model_is_a_classifier_holding_its_backbone():
    model = _model()
    assert isinstance(model, VideoClassifier)
    backbone = model.backbone
    assert isinstance(backbone, VideoResNetBackbone) and backbone.publisher == "mmaction2"
    assert backbone.architecture.num_nonlocal == 2
    assert backbone.architecture.nonlocal_kwargs["pool_position"] == "after"
    assert backbone.architecture.nonlocal_mode == "gaussian"
    # One flat network: the backbone's layers are the classifier's.
    assert model.get_layer("conv3_block1_nonlocal") is backbone.get_layer("conv3_block1_nonlocal")
    assert len(model.weights) == len(backbone.weights) + 2  # + the classifier's kernel and bias
    config = model.get_config()
    assert config["classes"] == 3 and config["backbone"]["config"]["publisher"] == "mmaction2"
    assert json.loads(json.dumps(config)) == config  # what a .keras file holds


def test_the_backbone_alone_and_pooled():
    features = zoo.nl_c2d_r14(base_width=8, include_top=False, pooling="avg")
    assert type(features) is VideoResNetBackbone and features.output.shape == (None, 256)
    assert VideoResNetBackbone.from_config(features.get_config()).get_config() == \
        features.get_config()
    with pytest.raises(ValueError, match="pooling=None"):
        VideoClassifier(features)
    with pytest.raises(ValueError, match="Received: architecture="):
        VideoResNetBackbone(architecture="nl_i3d_r50")


def test_keras_file_round_trip(rng, tmp_path):
    model = _randomise(_model(), rng)
    path = str(tmp_path / "model.keras")
    model.save(path)
    _assert_same_model(keras.saving.load_model(path), model, _clip(rng))


def test_a_backbone_keras_file_round_trip(rng, tmp_path):
    backbone = _randomise(zoo.c2d_r14(base_width=8, include_top=False, publisher="release",
                                      sampling="8x8"), rng)
    path = str(tmp_path / "backbone.keras")
    backbone.save(path)
    loaded = keras.saving.load_model(path)
    _assert_same_model(loaded, backbone, _clip(rng))
    assert loaded.architecture.pool_padding == "valid" and loaded.publisher == "release"


def test_preset_directory_round_trip(rng, tmp_path):
    model = _randomise(_model(), rng)
    folder = tmp_path / "presets" / "my_nl_i3d"
    model.save_to_preset(str(folder))
    assert {"config.json", "model.weights.h5", "metadata.json"} <= set(os.listdir(folder))
    with open(folder / "metadata.json") as f:
        metadata = json.load(f)
    assert metadata["parameter_count"] == model.count_params()
    assert metadata["keras_version"] == keras.__version__ and "keras_nonlocal_version" in metadata
    loaded = VideoClassifier.from_preset(str(folder))
    _assert_same_model(loaded, model, _clip(rng))
    # Saving again over it replaces it whole, and leaves no staging folder.
    _randomise(model, rng).save_to_preset(str(folder))
    assert os.listdir(tmp_path / "presets") == ["my_nl_i3d"]
    _assert_same_model(VideoClassifier.from_preset(folder), model, _clip(rng))


def _saved_preset(rng, tmp_path):
    model = _randomise(_model(), rng)
    folder = tmp_path / "downloaded"
    model.save_to_preset(str(folder))
    return model, str(folder)


def test_an_hf_handle_goes_through_keras_own_download(rng, tmp_path, monkeypatch):
    """Keras resolves `hf://` with huggingface_hub.snapshot_download. No
    network here, and huggingface_hub is not installed: a stand-in module
    serves the folder, so what runs is Keras' own hf:// loading path."""
    from keras.src.saving import saving_lib

    model, folder = _saved_preset(rng, tmp_path)
    asked = []

    def snapshot_download(repo_id, **kwargs):
        asked.append(repo_id)
        return folder

    monkeypatch.setattr(saving_lib, "huggingface_hub",
                        types.SimpleNamespace(snapshot_download=snapshot_download))
    loaded = VideoClassifier.from_preset("hf://someone/nl-i3d")
    assert asked == ["someone/nl-i3d"]
    _assert_same_model(loaded, model, _clip(rng))


def test_a_kaggle_handle_goes_through_kagglehub(rng, tmp_path, monkeypatch):
    """kagglehub downloads `kaggle://` handles (keras-hub's way); a stand-in
    module here (no network, kagglehub not installed)."""
    model, folder = _saved_preset(rng, tmp_path)
    asked = []
    fake = types.ModuleType("kagglehub")
    fake.model_download = lambda handle: asked.append(handle) or folder
    monkeypatch.setitem(sys.modules, "kagglehub", fake)
    _assert_same_model(VideoClassifier.from_preset("kaggle://me/nl/keras/v1"), model, _clip(rng))
    assert asked == ["me/nl/keras/v1"]
    monkeypatch.setitem(sys.modules, "kagglehub", None)
    with pytest.raises(ImportError, match="pip install kagglehub"):
        VideoClassifier.from_preset("kaggle://me/nl/keras/v1")


def test_bad_presets_say_what_is_wrong(rng, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no config.json, model.weights.h5"):
        VideoClassifier.from_preset(str(empty))
    with pytest.raises(ValueError, match="Received: preset='nl_i3d_r50_kinetics4000'"):
        VideoClassifier.from_preset("nl_i3d_r50_kinetics4000")
    _, folder = _saved_preset(rng, tmp_path)
    with pytest.raises(ValueError, match=r"Builder arguments apply to built-in preset names"):
        VideoClassifier.from_preset(folder, classes=10)
    backbone_folder = str(tmp_path / "backbone")
    zoo.c2d_r14(base_width=8, include_top=False).save(backbone_folder, zipped=False)
    with pytest.raises(ValueError, match="holds a VideoResNetBackbone, not a VideoClassifier"):
        VideoClassifier.from_preset(backbone_folder)


def test_an_architecture_alone_builds_a_backbone():
    backbone = VideoResNetBackbone(Architecture(inflate="3x3x3", base_width=8, num_nonlocal=1),
                                   input_shape=(4, 32, 32, 3))
    assert backbone.get_layer("conv4_block5_nonlocal") is not None
    assert backbone.get_config()["architecture"]["inflate"] == "3x3x3"
