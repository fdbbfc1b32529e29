"""The video ResNet architectures: Table 1 shapes, block placement, sizes."""

import keras
import numpy as np
import pytest

from helpers import to_numpy
from keras_nonlocal import Clip
from keras_nonlocal import zoo
from keras_nonlocal.layers import NonLocal3D

# Paper Table 1, C2D R50 at 32x224x224 (T x H x W, channels).
TABLE_1 = {
    "conv1_relu": (16, 112, 112, 64),
    "pool1_pool": (8, 56, 56, 64),
    "conv2_block3_out": (8, 56, 56, 256),
    "pool2_pool": (4, 56, 56, 256),
    "conv3_block4_out": (4, 28, 28, 512),
    "conv4_block6_out": (4, 14, 14, 1024),
    "conv5_block3_out": (4, 7, 7, 2048),
}


@pytest.mark.parametrize("name", ["c2d_r50", "i3d_r50", "nl_i3d_r50"])
def test_stage_shapes_match_table_1(name):
    model = zoo.build(name, input_shape=(32, 224, 224, 3))  # symbolic, no forward
    for layer, shape in TABLE_1.items():
        assert tuple(model.get_layer(layer).output.shape[1:]) == shape, layer
    assert tuple(model.output.shape) == (None, 400)


def _maps(model, names):
    return {n: tuple(model.get_layer(n).output.shape[1:4]) for n in names}


STAGES = ("conv1_relu", "pool1_pool", "conv2_block3_out", "pool2_pool", "conv3_block4_out",
          "conv4_block6_out", "conv5_block3_out")


def test_8x8_sampling_shapes():
    model = zoo.build("i3d_r50", sampling="8x8", publisher="pytorchvideo", input_shape=(8, 224, 224, 3))
    assert _maps(model, STAGES) == dict(zip(STAGES, [
        (8, 112, 112), (8, 56, 56), (8, 56, 56), (4, 56, 56), (4, 28, 28), (4, 14, 14),
        (4, 7, 7)]))


def test_release_feature_maps():
    """The original release's networks (video-nonlocal-net): 32-frame files
    come from resnet_video_org (conv1, pool1 2x3x3 and pool2 2x1x1 each halve
    time; pools unpadded, so 112 -> 55), 8-frame files from resnet_video."""
    model = zoo.nl_i3d_r50(sampling="32x2", publisher="release", input_shape=(32, 224, 224, 3))
    assert _maps(model, STAGES) == dict(zip(STAGES, [
        (16, 112, 112), (8, 55, 55), (8, 55, 55), (4, 55, 55), (4, 28, 28), (4, 14, 14),
        (4, 7, 7)]))
    model = zoo.nl_i3d_r50(sampling="8x8", publisher="release", input_shape=(8, 224, 224, 3))
    assert _maps(model, STAGES) == dict(zip(STAGES, [
        (8, 112, 112), (8, 55, 55), (8, 55, 55), (4, 55, 55), (4, 28, 28), (4, 14, 14),
        (4, 7, 7)]))
    # the spatial stride sits on the 3x3 conv there, on the 1x1 in the paper layout
    assert model.get_layer("conv3_block1_2_conv").strides == (1, 2, 2)
    assert model.get_layer("conv3_block1_1_conv").strides == (1, 1, 1)
    paper = zoo.nl_i3d_r50(input_shape=(8, 64, 64, 3))
    assert paper.get_layer("conv3_block1_1_conv").strides == (1, 2, 2)


def test_r101_has_23_res4_blocks_and_inflation_pattern():
    model = zoo.build("i3d_r101", input_shape=(8, 64, 64, 3))
    names = {layer.name for layer in model.layers}
    assert "conv4_block23_out" in names and "conv4_block24_out" not in names
    inflated = [
        layer.name for layer in model.layers
        if isinstance(layer, keras.layers.Conv3D) and layer.kernel_size[0] == 3
    ]
    # res2 every block, res3/res4 every even-indexed block, res5 the middle one
    expected = ([f"conv2_block{i}_1_conv" for i in (1, 2, 3)]
                + [f"conv3_block{i}_1_conv" for i in (1, 3)]
                + [f"conv4_block{i}_1_conv" for i in range(1, 24, 2)]
                + ["conv5_block2_1_conv"])
    assert sorted(inflated) == sorted(expected)
    model = zoo.build("i3d_r50", inflate="3x3x3", input_shape=(8, 64, 64, 3))
    assert model.get_layer("conv3_block1_2_conv").kernel_size == (3, 3, 3)
    assert model.get_layer("conv3_block1_1_conv").kernel_size == (1, 1, 1)
    assert model.get_layer("conv1_conv").kernel_size == (5, 7, 7)


@pytest.mark.parametrize("depth,num,expected", [
    (50, 1, ["conv4_block5"]),
    (50, 5, ["conv3_block2", "conv3_block4", "conv4_block2", "conv4_block4", "conv4_block6"]),
    (50, 10, [f"conv3_block{i}" for i in range(1, 5)] + [f"conv4_block{i}" for i in range(1, 7)]),
    (101, 1, ["conv4_block22"]),
    (101, 5, ["conv3_block2", "conv3_block4", "conv4_block7", "conv4_block14", "conv4_block21"]),
    (101, 10, [f"conv3_block{i}" for i in range(1, 5)]
     + [f"conv4_block{i}" for i in (2, 6, 10, 14, 18, 22)]),
])
def test_nonlocal_placement(depth, num, expected):
    model = zoo.build(f"nl_c2d_r{depth}", num_nonlocal=num, input_shape=(8, 64, 64, 3))
    found = [layer.name for layer in model.layers if isinstance(layer, NonLocal3D)]
    assert found == [name + "_nonlocal" for name in expected]
    # each block sits right after the residual block it is named after
    for name in expected:
        layer = model.get_layer(name + "_nonlocal")
        assert layer.input is model.get_layer(name + "_out").output


@pytest.mark.parametrize("name", zoo.list_models("video"))
def test_every_builder_runs_forward(rng, name):
    """Its scores are the softmax of its logits: the same network built with
    `classifier_activation=None` and the same weights (the head random). At
    width 8: the builders' layers, not their width, are the point here (the
    full widths: the parity and complexity tests)."""
    model = zoo.build(name, classes=7, base_width=8)
    logits_model = zoo.build(name, classes=7, base_width=8, classifier_activation=None)
    logits_model.set_weights(model.get_weights())
    x = rng.integers(0, 256, size=(1, 8, 64, 64, 3)).astype("uint8")
    probs = to_numpy(model(x, training=False)).astype(np.float64)
    logits = to_numpy(logits_model(x, training=False)).astype(np.float64)
    assert np.ptp(logits) > 0
    expected = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
    np.testing.assert_allclose(probs, expected, rtol=1e-5, atol=1e-7)


def test_variable_input_sizes(rng):
    """A model of any size computes, at each size, what the model built for
    that size computes with the same weights (non-trivial blocks)."""
    model = zoo.nl_i3d_r50(classes=5, classifier_activation=None, base_width=16)
    assert tuple(model.input.shape) == (None, None, None, None, 3)
    for layer in model.layers:
        if isinstance(layer, NonLocal3D):
            layer.bn.gamma.assign(rng.normal(size=layer.bn.gamma.shape).astype("float32"))
    for shape in [(1, 8, 64, 64, 3), (2, 16, 96, 80, 3)]:
        x = rng.uniform(0, 255, size=shape).astype("float32")
        fixed = zoo.nl_i3d_r50(classes=5, classifier_activation=None, base_width=16,
                               input_shape=shape[1:])
        fixed.set_weights(model.get_weights())
        expected = to_numpy(fixed(x))
        np.testing.assert_allclose(to_numpy(model(x)), expected,
                                   atol=1e-4 * np.abs(expected).max())


def test_include_top_false_gives_features():
    model = zoo.i3d_r50(include_top=False, input_shape=(8, 64, 64, 3))
    assert tuple(model.output.shape) == (None, 1, 2, 2, 2048)  # 32x2 strides: T / 8


def test_keras_round_trip_of_nl_i3d(tmp_path, rng):
    model = zoo.nl_i3d_r50(classes=3, input_shape=(8, 64, 64, 3))
    for layer in model.layers:  # non-trivial non-local weights
        if isinstance(layer, NonLocal3D):
            layer.bn.gamma.assign(rng.normal(size=layer.bn.gamma.shape).astype("float32"))
    x = rng.integers(0, 256, size=(2, 8, 64, 64, 3)).astype("uint8")
    path = str(tmp_path / "nl_i3d.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), atol=1e-6)
    assert zoo.preprocessing_spec(loaded) == zoo.preprocessing_spec(model)
    assert zoo.preprocessing_spec(loaded).channel_order == "RGB"


@pytest.mark.parametrize("kwargs,match", [
    (dict(num_nonlocal=3), "Received: num_nonlocal=3"),
    (dict(include_top=False, classes=10), "Received: include_top=False, classes=10"),
    (dict(sampling="16x4"), "Received: sampling='16x4'"),
    (dict(publisher="keras"), "Received: publisher='keras'"),
    (dict(publisher="releas"), "Did you mean 'release'"),
    (dict(input_shape=(8, 64, 64)), r"Received: input_shape=\(8, 64, 64\)"),
    (dict(weights=3), "Received: weights=3"),
    (dict(weights="/no/such/file.keras"), "Received: weights='/no/such/file.keras'"),
    (dict(weights="imagenet", clip=Clip()), "The weights expect the normalisation"),
    (dict(weights="imagenet", base_width=8), "Received: weights='imagenet', base_width=8"),
    (dict(clip=dict(num_frame=8)), "Unknown clip settings"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        zoo.build("nl_i3d_r50", **kwargs)


def test_unknown_name_suggests_close_names():
    with pytest.raises(ValueError, match=r"Did you mean 'nl_i3d_r50'.*Received: name='nl_i3d_r5'"):
        zoo.build("nl_i3d_r5")
    with pytest.raises(TypeError, match="inflate"):  # C2D builders have no `inflate`
        zoo.c2d_r50(inflate="3x3x3")
