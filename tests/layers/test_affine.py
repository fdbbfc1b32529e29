"""Affine (a batch norm with frozen statistics) and the folding of a batch
norm into it, against NumPy from the equations, on every backend."""

import keras
import numpy as np
import pytest

from helpers import layer_gradients
from helpers import to_numpy
from keras_nonlocal.layers import Affine
from keras_nonlocal.layers import affine_weights


def test_the_function_its_gradients_and_no_statistics(rng):
    x = rng.normal(size=(2, 3, 4, 5, 6)).astype("float32")
    upstream = rng.normal(size=x.shape).astype("float32")
    layer = Affine()
    layer.build(x.shape)
    scale, bias = rng.normal(size=6).astype("float32"), rng.normal(size=6).astype("float32")
    layer.set_weights([scale, bias])
    expected = x.astype(np.float64) * scale + bias
    for training in (True, False):  # no statistics: one function in both modes
        np.testing.assert_allclose(to_numpy(layer(x, training=training)), expected,
                                   rtol=1e-6, atol=1e-6)
    assert [w.name for w in layer.trainable_weights] == ["scale", "bias"]
    assert not layer.non_trainable_weights
    dx, dscale, dbias = layer_gradients(layer, x, upstream)
    axes = (0, 1, 2, 3)
    np.testing.assert_allclose(dx, upstream * scale, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dscale, (upstream * x).sum(axes), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dbias, upstream.sum(axes), rtol=1e-4, atol=1e-4)


def test_a_folded_batch_norm_computes_its_inference_output(rng, tmp_path):
    """`affine_weights`: s' = gamma / sqrt(var + eps), b' = beta - mean s'."""
    x = (rng.normal(size=(4, 3, 5, 8)) * 2 + 1).astype("float32")
    bn = keras.layers.BatchNormalization(epsilon=1e-5)
    bn.build(x.shape)
    gamma, beta = rng.normal(size=8), rng.normal(size=8)
    mean, var = rng.normal(size=8), rng.uniform(0.1, 3.0, size=8)
    bn.set_weights([a.astype("float32") for a in (gamma, beta, mean, var)])
    scale, bias = affine_weights(gamma, beta, mean, var, 1e-5)
    np.testing.assert_allclose(scale, gamma / np.sqrt(var + 1e-5), rtol=1e-6)
    np.testing.assert_allclose(bias, beta - mean * gamma / np.sqrt(var + 1e-5), rtol=1e-6,
                               atol=1e-7)
    inputs = keras.Input(x.shape[1:])
    model = keras.Model(inputs, Affine(name="frozen")(inputs))
    model.get_layer("frozen").set_weights([scale, bias])
    np.testing.assert_allclose(to_numpy(model(x)), to_numpy(bn(x, training=False)),
                               rtol=1e-5, atol=1e-5)
    path = str(tmp_path / "affine.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("frozen"), Affine)
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))


def test_half_precision_computes_in_float32(rng):
    """x s overflows float16 (> 65504) where x s + b does not: computed in
    float16 the output would be inf."""
    x = rng.uniform(65, 75, size=(2, 4, 16)).astype("float16")
    layer = Affine(dtype="mixed_float16")
    layer.build(x.shape)
    layer.set_weights([np.full(16, 1000.0, "float32"), np.full(16, -60000.0, "float32")])
    y = layer(x)
    assert keras.backend.standardize_dtype(y.dtype) == "float16"
    np.testing.assert_allclose(to_numpy(y).astype(np.float64),
                               x.astype(np.float64) * 1000 - 60000, rtol=1e-3)


@pytest.mark.parametrize("shape", [(3, 4, None), (3,)])
def test_an_unknown_channel_count_is_named(shape):
    inputs = keras.Input(shape)
    if shape[-1] is None:
        with pytest.raises(ValueError, match=r"Received: input_shape=\(None, 3, 4, None\)"):
            Affine()(inputs)
    else:
        assert Affine()(inputs).shape == (None, 3)
