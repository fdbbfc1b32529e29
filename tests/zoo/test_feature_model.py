"""`pooling` on every builder and `zoo.feature_model` (keras.applications style)."""

import keras
import numpy as np
import pytest

from helpers import assert_close_in_float32
from helpers import to_numpy
from keras_nonlocal import NonLocal3D
from keras_nonlocal import zoo


def clips(rng, shape=(2, 8, 64, 64, 3)):
    return rng.integers(0, 256, size=shape).astype("float32")


@pytest.mark.parametrize("name", ["c2d_r50", "nl_i3d_r101"])
def test_pooling(rng, name):
    """avg / max pooling are the mean / max of the unpooled res5 map, and the
    avg features times the classifier are the classifier model's logits.
    (Every builder takes `pooling`: one options record, tests/zoo/test_builders.py;
    these two cover both depths, C2D and I3D, with and without blocks.)"""
    maps = zoo.build(name, include_top=False, base_width=8)
    pooled = {p: zoo.build(name, include_top=False, pooling=p, base_width=8) for p in ("avg", "max")}
    head = zoo.build(name, classes=5, base_width=8, classifier_activation=None)
    for model in (*pooled.values(), head):
        model.set_weights(maps.get_weights() + model.get_weights()[len(maps.get_weights()):])
    x = clips(rng)
    feature_map = to_numpy(maps(x))
    assert feature_map.ndim == 5 and feature_map.shape[-1] == 256
    np.testing.assert_allclose(to_numpy(pooled["avg"](x)), feature_map.mean(axis=(1, 2, 3)),
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(to_numpy(pooled["max"](x)), feature_map.max(axis=(1, 2, 3)),
                               rtol=1e-6)
    kernel, bias = head.get_layer("predictions").get_weights()
    # a logit of 0.09 among logits of 350: within float32 summation order of the largest
    assert_close_in_float32(to_numpy(head(x)), feature_map.mean(axis=(1, 2, 3)) @ kernel + bias)


def test_feature_model_of_a_classifier_a_stage_and_a_keras_file(rng, tmp_path):
    model = zoo.nl_i3d_r50(classes=4, base_width=8, sampling="8x8")
    for layer in model.layers:
        if isinstance(layer, NonLocal3D):
            layer.bn.gamma.assign(rng.normal(size=layer.bn.gamma.shape).astype("float32"))
    x = clips(rng)
    unpooled = zoo.build("nl_i3d_r50", include_top=False, base_width=8, sampling="8x8")
    unpooled.set_weights(model.get_weights()[:len(unpooled.get_weights())])
    expected = to_numpy(unpooled(x)).mean(axis=(1, 2, 3))
    features = zoo.feature_model(model)
    np.testing.assert_allclose(to_numpy(features(x)), expected, rtol=1e-5, atol=1e-6)
    assert zoo.preprocessing_spec(features) == zoo.preprocessing_spec(model)
    # a stage by its layer name: the map the next block reads, pooled or not
    res4 = zoo.feature_model(model, "conv4_block6_out", pooling=None)
    probe = keras.Model(model.input, model.get_layer("conv4_block6_out").output)
    np.testing.assert_allclose(to_numpy(res4(x)), to_numpy(probe(x)), rtol=1e-6)
    block = zoo.feature_model(model, "conv4_block6_nonlocal", pooling="max")
    assert tuple(block.output.shape) == (None, 128)
    # a .keras checkpoint, loaded back
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = zoo.feature_model(keras.saving.load_model(path, compile=False))
    np.testing.assert_allclose(to_numpy(loaded(x)), expected, rtol=1e-5, atol=1e-6)


def test_bad_pooling_and_layers():
    model = zoo.c2d_r50(classes=2, base_width=8)
    with pytest.raises(ValueError, match="Received: pooling='sum'"):
        zoo.c2d_r50(include_top=False, pooling="sum", base_width=8)
    with pytest.raises(ValueError, match="use it with include_top=False"):
        zoo.c2d_r50(pooling="avg", base_width=8)
    with pytest.raises(ValueError, match="has no layer 'conv6_block1_out'.*conv5_block3_out"):
        zoo.feature_model(model, "conv6_block1_out")
    with pytest.raises(ValueError, match="not a feature map"):
        zoo.feature_model(model, "predictions")
    with pytest.raises(ValueError, match="no VideoPreprocessing"):
        zoo.feature_model(keras.Sequential([keras.Input((4, 8, 8, 3)), keras.layers.Dense(2)]))
