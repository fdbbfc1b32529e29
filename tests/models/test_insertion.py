"""`insert_nonlocal`: blocks in any functional or Sequential Keras model, and
the zoo's placements (`zoo.nonlocal_layers`, `zoo.nl_resnet50/101`); runs on
every backend (`make test` runs it on TensorFlow, JAX and PyTorch)."""

import keras
import numpy as np
import pytest

from helpers import to_numpy
from keras_nonlocal import NonLocal1D
from keras_nonlocal import NonLocal2D
from keras_nonlocal import NonLocal3D
from keras_nonlocal import insert_nonlocal
from keras_nonlocal import zoo

SIZE = 64


def application(name):
    builder = getattr(keras.applications, name)
    return builder(weights=None, input_shape=(SIZE, SIZE, 3), classes=10)


FAMILIES = {  # keras.applications family -> a layer inside it with a (batch, H, W, C) output
    "ResNet50": "conv4_block5_out",
    "EfficientNetB0": "block5c_add",
    "ConvNeXtTiny": "convnext_tiny_stage_2_block_8_identity",
}


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_identity_at_insertion_weights_kept_and_trainable(rng, tmp_path, family):
    base = application(family)
    after = FAMILIES[family]
    x = rng.uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32")
    expected = to_numpy(base(x))
    before = {w.path: to_numpy(w) for w in base.weights}
    model = insert_nonlocal(base, after, mode="embedded_gaussian")
    block = model.get_layer(after.replace("_out", "") + "_nonlocal")
    assert isinstance(block, NonLocal2D)
    channels = base.get_layer(after).output.shape[-1]
    # theta, phi, g (C -> C/2, biases), W_z (C/2 -> C, bias), BN (4 C)
    half = channels // 2
    assert model.count_params() - base.count_params() == \
        3 * (channels * half + half) + half * channels + channels + 4 * channels
    np.testing.assert_allclose(to_numpy(model(x)), expected, atol=1e-5)
    for w in base.weights:  # shared and unchanged
        np.testing.assert_array_equal(to_numpy(w), before[w.path])
    assert {id(w) for w in base.weights} <= {id(w) for w in model.weights}

    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), atol=1e-5)

    model.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    gamma, theta = to_numpy(block.bn.gamma), to_numpy(block.theta.kernel)
    model.train_on_batch(x, np.array([1, 2]))
    assert np.abs(to_numpy(block.bn.gamma) - gamma).max() > 0  # the block learns
    assert np.abs(to_numpy(block.theta.kernel) - theta).max() == 0  # gamma 0: no gradient yet


def test_every_rank_sequential_and_several_outputs(rng):
    inputs = keras.Input((12, 8))
    seq = keras.layers.Conv1D(8, 3, padding="same", name="conv")(inputs)
    model = insert_nonlocal(keras.Model(inputs, seq), "conv")
    assert isinstance(model.get_layer("conv_nonlocal"), NonLocal1D)
    sequential = keras.Sequential([keras.Input((4, 6, 6, 3)), keras.layers.Conv3D(8, 1, name="c"),
                                   keras.layers.GlobalAveragePooling3D(), keras.layers.Dense(2)])
    x = rng.normal(size=(2, 4, 6, 6, 3)).astype("float32")
    inserted = insert_nonlocal(sequential, ["c"])
    assert isinstance(inserted, keras.Sequential)
    assert isinstance(inserted.get_layer("c_nonlocal"), NonLocal3D)
    np.testing.assert_allclose(to_numpy(inserted(x)), to_numpy(sequential(x)), atol=1e-6)
    # a backbone with two outputs (a pyramid): both keep their values
    inputs = keras.Input((16, 16, 3))
    c3 = keras.layers.Conv2D(8, 3, strides=2, padding="same", name="c3")(inputs)
    c4 = keras.layers.Conv2D(16, 3, strides=2, padding="same", name="c4")(c3)
    pyramid = keras.Model(inputs, [c3, c4])
    inserted = insert_nonlocal(pyramid, "c3")
    image = rng.normal(size=(2, 16, 16, 3)).astype("float32")
    for got, want in zip(inserted(image), pyramid(image)):
        np.testing.assert_allclose(to_numpy(got), to_numpy(want), atol=1e-6)


def test_what_cannot_take_a_block_is_named():
    base = application("ResNet50")
    with pytest.raises(ValueError, match="no layer 'conv4_block5_ot'.*'conv4_block5_out'"):
        insert_nonlocal(base, "conv4_block5_ot")
    with pytest.raises(ValueError, match=r"gives \(None, 10\).*rank 3, 4 or 5"):
        insert_nonlocal(base, "predictions")

    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.conv = keras.layers.Conv2D(4, 1)

        def call(self, x):
            return self.conv(x)

    with pytest.raises(ValueError, match="subclassed model"):
        insert_nonlocal(Subclassed(), "conv")
    shared = keras.layers.Conv2D(4, 1, name="shared")
    inputs = keras.Input((8, 8, 4))
    twice = keras.Model(inputs, shared(shared(inputs)))
    with pytest.raises(ValueError, match="called 2 times"):
        insert_nonlocal(twice, "shared")
    with pytest.raises(ValueError, match="already has a layer 'conv4_block5_nonlocal'"):
        insert_nonlocal(insert_nonlocal(base, "conv4_block5_out"), "conv4_block5_out")


def test_the_zoo_placement_into_i3d_gives_nl_i3d(rng):
    """`nonlocal_layers("nl_i3d_r50")` into `i3d_r50` is `nl_i3d_r50`: its
    parameters and layer names, and at insertion the output of `i3d_r50`."""
    i3d = zoo.i3d_r50(classes=5, base_width=16, sampling="8x8")
    after = zoo.nonlocal_layers("nl_i3d_r50")
    assert after == ["conv3_block2_out", "conv3_block4_out", "conv4_block2_out",
                     "conv4_block4_out", "conv4_block6_out"]
    inserted = insert_nonlocal(i3d, after, fused_bn=True)  # the zoo's BN kernel choice
    nl_i3d = zoo.nl_i3d_r50(classes=5, base_width=16, sampling="8x8")
    assert inserted.count_params() == nl_i3d.count_params()
    assert sorted(l.name for l in inserted.layers) == sorted(l.name for l in nl_i3d.layers)
    for name in ("conv3_block2_nonlocal", "conv4_block6_nonlocal"):
        assert inserted.get_layer(name).get_config() == nl_i3d.get_layer(name).get_config()
    x = rng.integers(0, 256, (1, 8, 64, 64, 3)).astype("float32")
    np.testing.assert_allclose(to_numpy(inserted(x)), to_numpy(i3d(x)), atol=1e-6)
    assert zoo.nonlocal_layers("nl_c2d_r101", 1) == ["conv4_block22_out"]
    assert zoo.nonlocal_layers("nl_resnet50") == ["conv4_block5_out"]


@pytest.mark.parametrize("depth", [50, 101])
def test_nl_resnet(rng, depth):
    name = f"nl_resnet{depth}"
    assert name in zoo.list_models("image") and name not in zoo.list_models("video")
    model = zoo.build(name, input_shape=(SIZE, SIZE, 3), classes=7, pooling=None)
    reference = getattr(keras.applications, f"ResNet{depth}")(
        weights=None, input_shape=(SIZE, SIZE, 3), classes=7)
    after = "conv4_block5_out" if depth == 50 else "conv4_block22_out"
    block = model.get_layer(after.replace("_out", "_nonlocal"))
    assert isinstance(block, NonLocal2D) and block.input.shape[-1] == 1024
    # ResNet's parameters plus one block on 1024 channels
    assert model.count_params() == reference.count_params() + 3 * (1024 * 512 + 512) + \
        512 * 1024 + 1024 + 4 * 1024
    names = [l.name for l in model.layers]
    assert names[names.index(after) + 1] == block.name  # right after it, before the next block
    features = zoo.build(name, include_top=False, pooling="avg", input_shape=(SIZE, SIZE, 3))
    assert tuple(features.output.shape) == (None, 2048)
