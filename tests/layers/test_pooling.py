"""`MaxPoolingAs2D` / `max_pool_3d`: a 3D max-pool as two 2D pools, on every backend."""

import keras
import numpy as np
import pytest

from helpers import to_numpy
from keras_nonlocal.layers import MaxPoolingAs2D
from keras_nonlocal.layers.pooling import max_pool_3d


def numpy_max_pool(x, pool, strides):
    """'valid' 3D max pooling written out."""
    out_shape = [(n - p) // s + 1 for n, p, s in zip(x.shape[1:4], pool, strides)]
    y = np.empty((x.shape[0], *out_shape, x.shape[-1]), x.dtype)
    for t in range(out_shape[0]):
        for i in range(out_shape[1]):
            for j in range(out_shape[2]):
                box = x[:, t * strides[0]:t * strides[0] + pool[0],
                        i * strides[1]:i * strides[1] + pool[1],
                        j * strides[2]:j * strides[2] + pool[2]]
                y[:, t, i, j] = box.max(axis=(1, 2, 3))
    return y


@pytest.mark.parametrize("pool,strides,padding,shape", [
    ((1, 3, 3), (1, 2, 2), "same", (2, 5, 9, 7, 3)),     # the zoo's pool1
    ((3, 1, 1), (2, 1, 1), "valid", (2, 7, 4, 5, 2)),    # pool2
    ((2, 2, 2), (2, 2, 2), "valid", (1, 4, 6, 6, 2)),
    ((3, 3, 3), (1, 2, 2), "same", (2, 5, 6, 7, 3)),
])
def test_equals_max_pooling_3d(rng, pool, strides, padding, shape):
    x = rng.normal(size=shape).astype("float32")
    expected = to_numpy(keras.layers.MaxPooling3D(pool, strides, padding)(x))
    np.testing.assert_array_equal(to_numpy(MaxPoolingAs2D(pool, strides, padding)(x)), expected)
    if padding == "valid":
        np.testing.assert_array_equal(expected, numpy_max_pool(x, pool, strides))


def test_unknown_sizes_in_a_model_and_config(rng):
    inputs = keras.Input((None, None, None, 4))
    model = keras.Model(inputs, MaxPoolingAs2D((2, 2, 2), (2, 2, 2))(inputs))
    x = rng.normal(size=(3, 4, 6, 8, 4)).astype("float32")
    np.testing.assert_array_equal(to_numpy(model(x)), numpy_max_pool(x, (2, 2, 2), (2, 2, 2)))
    layer = MaxPoolingAs2D.from_config(MaxPoolingAs2D((1, 2, 2), padding="same").get_config())
    assert layer.pool_size == (1, 2, 2) and layer.padding == "same"
    np.testing.assert_array_equal(
        to_numpy(max_pool_3d(x, (1, 2, 2), (1, 2, 2))), numpy_max_pool(x, (1, 2, 2), (1, 2, 2)))
