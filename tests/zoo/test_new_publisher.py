"""A publisher added from outside the package: its record, its naming scheme
(defined here, not in keras_nonlocal) and a preset, then checkpoints in its
names loaded by path and by preset name, with no edit of the package."""

import dataclasses
import os
import re

import numpy as np
import pytest
import torch

from helpers import to_numpy
from keras_nonlocal import Clip
from keras_nonlocal import VideoClassifier
from keras_nonlocal import zoo
from keras_nonlocal.clip import Normalization
from keras_nonlocal.weights.converters import CheckpointNames
from keras_nonlocal.zoo import presets
from keras_nonlocal.zoo import publishers

pytestmark = pytest.mark.skipif(
    __import__("keras").backend.backend() != "tensorflow",
    reason="the registries are backend-free; one backend is enough")


class DottedNames(CheckpointNames):
    """A made-up PyTorch naming: `net.s3.b2.u1.conv.w`, `net.s3.nl2.theta.w`,
    `net.fc.w`."""

    name = "dotted"
    publisher = "dotted_lab"
    _BN = {"gamma": "w", "beta": "b", "moving_mean": "mean", "moving_variance": "var"}

    @classmethod
    def recognizes(cls, file_format, keys):
        return file_format == "pytorch" and any(k.startswith("net.stem.") for k in keys)

    def _unit(self, stage, block, j):
        return "net.stem" if stage is None else f"net.s{stage}.b{block}.u{j}"

    def conv(self, stage, block, j):
        return self._unit(stage, block, j) + ".conv.w"

    def bn(self, stage, block, j, param):
        return f"{self._unit(stage, block, j)}.bn.{self._BN[param]}"

    def fc(self, param):
        return "net.fc." + ("w" if param == "kernel" else "b")

    def nonlocal_(self, stage, block, part, param):
        return f"net.s{stage}.nl{block}.{part}." + ("w" if param == "kernel" else "b")

    def nonlocal_bn(self, stage, block, param):
        return f"net.s{stage}.nl{block}.bn.{self._BN[param]}"


DOTTED_LAB = zoo.Publisher(
    "dotted_lab", "a lab that names tensors with dots", stride_on="3x3",
    pool_padding="symmetric",
    time={s: zoo.TimeAxis(conv1_stride=1, pool1=(1, 1), pool2=(2, 2)) for s in zoo.SAMPLINGS},
    nonlocal_block=dict(scale=False), normalization=Normalization("RGB", (120.0,) * 3, (60.0,) * 3),
    checkpoint_names=DottedNames, file_sampling="8x8", test_head="global", protocol="mmaction2")


@pytest.fixture
def registered(monkeypatch, tmp_path):
    """The lab and its preset, registered for this test only (the registries
    are restored after it)."""
    saved_publishers = dict(publishers._REGISTRY)
    saved_presets = {model: dict(named) for model, named in presets.PRESETS.items()}
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    zoo.register_publisher(DOTTED_LAB)
    preset = zoo.register_preset(zoo.WeightsPreset(
        "nl_c2d_r50", "kinetics400_8x8_dotted_lab", "the dotted lab",
        "https://example.invalid/dotted/nl_c2d.pt", "pytorch",
        dict(sampling="8x8", publisher="dotted_lab", base_width=8),
        Clip(num_frames=8, frame_stride=8, crop_size=32, eval_short_side=32,
                 **DOTTED_LAB.normalization.fields()),
        top1=1.0, top5=2.0, accuracy_source="made up", license="CC0"))
    yield preset
    publishers._REGISTRY.clear()
    publishers._REGISTRY.update(saved_publishers)
    presets.PRESETS.clear()
    presets.PRESETS.update(saved_presets)


_UNIT = re.compile(r"^conv(\d)_block(\d+)_(\d)_(conv|bn)$")


def _dotted_file(model, path):
    """`model`'s weights written as the lab would: PyTorch layouts, its names
    (written here from the layer names, independently of the package's
    converters)."""
    tensors = {}
    for layer in model.layers:
        if not layer.weights:
            continue
        if layer.name.endswith("_nonlocal"):
            stage, block = re.match(r"conv(\d)_block(\d+)_nonlocal", layer.name).groups()
            prefix = f"net.s{stage}.nl{block}."
            for part in ("theta", "phi", "g", "out"):
                dense = getattr(layer, part)
                kernel = to_numpy(dense.kernel)
                tensors[prefix + part + ".w"] = kernel.T[..., None, None, None]
                tensors[prefix + part + ".b"] = to_numpy(dense.bias)
            for param, short in DottedNames._BN.items():
                tensors[prefix + "bn." + short] = to_numpy(getattr(layer.bn, param))
            continue
        if layer.name == "predictions":
            tensors["net.fc.w"] = to_numpy(layer.kernel).T
            tensors["net.fc.b"] = to_numpy(layer.bias)
            continue
        match = _UNIT.match(layer.name)
        unit = "net.stem" if match is None else "net.s{}.b{}.u{}".format(*match.groups()[:3])
        if layer.name.endswith("_conv"):
            tensors[unit + ".conv.w"] = np.transpose(to_numpy(layer.kernel), (4, 3, 0, 1, 2))
        else:
            for param, short in DottedNames._BN.items():
                tensors[f"{unit}.bn.{short}"] = to_numpy(getattr(layer, param))
    torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in tensors.items()}, path)


def _reference(rng):
    """The lab's network with random weights: the model its file comes from."""
    model = zoo.nl_c2d_r50(publisher="dotted_lab", sampling="8x8", base_width=8)
    for weight in model.weights:
        values = rng.normal(0, 0.1, weight.shape)
        if "moving_variance" in weight.path:
            values = 1 + np.abs(values)
        weight.assign(values.astype("float32"))
    return model


def test_a_publisher_and_its_scheme_from_outside(registered, rng, tmp_path):
    reference = _reference(rng)
    assert reference.backbone.publisher == "dotted_lab"
    assert reference.get_layer("conv3_block2_nonlocal").scale is False  # its block convention
    assert reference.get_layer("conv3_block1_2_conv").strides == (1, 2, 2)  # stride on the 3x3
    path = str(tmp_path / "lab_checkpoint.pt")
    _dotted_file(reference, path)
    x = rng.integers(0, 256, size=(1, 8, 32, 32, 3)).astype("float32")
    expected = to_numpy(reference(x, training=False))

    by_path = zoo.nl_c2d_r50(weights=path, base_width=8)  # told by its names: the lab's network
    assert by_path.backbone.publisher == "dotted_lab"
    assert zoo.preprocessing_spec(by_path).normalization == DOTTED_LAB.normalization
    np.testing.assert_allclose(to_numpy(by_path(x, training=False)), expected, rtol=1e-5,
                               atol=1e-6)

    os.makedirs(tmp_path / "keras" / "models")
    os.replace(path, tmp_path / "keras" / "models" / registered.file_name)
    by_name = VideoClassifier.from_preset("nl_c2d_r50_kinetics400_8x8_dotted_lab")
    np.testing.assert_allclose(to_numpy(by_name(x, training=False)), expected, rtol=1e-5,
                               atol=1e-6)
    assert any(w["preset"] == registered.name for w in zoo.list_weights("nl_c2d_r50"))


def test_registries_refuse_what_would_break_them(registered):
    with pytest.raises(ValueError, match="A publisher 'dotted_lab' exists already"):
        zoo.register_publisher(DOTTED_LAB)
    with pytest.raises(ValueError, match="has a preset 'kinetics400_8x8_dotted_lab' already"):
        zoo.register_preset(registered)
    with pytest.raises(ValueError, match=r"is named 'kinetics400_8x8_dotted_lab'. Received: "
                                         r"name='dotted_k400'"):
        zoo.WeightsPreset("nl_c2d_r50", "dotted_k400", *[getattr(registered, f) for f in (
            "source", "url", "file_format", "builder_args", "clip", "top1", "top5",
            "accuracy_source", "license")])
    with pytest.raises(ValueError, match="must be a CheckpointNames subclass"):
        zoo.Publisher("x", "x", "3x3", "symmetric", DOTTED_LAB.time, {},
                      DOTTED_LAB.normalization, checkpoint_names="dotted")


def test_two_schemes_claiming_one_file_is_an_error(registered):
    class Greedy(DottedNames):
        name = "greedy"

        @classmethod
        def recognizes(cls, file_format, keys):
            return file_format == "pytorch"

    zoo.register_publisher(dataclasses.replace(DOTTED_LAB, name="greedy_lab",
                                               checkpoint_names=Greedy))
    with pytest.raises(ValueError, match=r"Tensor names of several schemes \(dotted, greedy\)"):
        publishers.checkpoint_names("pytorch", ["net.stem.conv.w"])
