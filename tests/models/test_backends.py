"""A small zoo model runs forward and trains on every Keras backend (this
file is part of the JAX and PyTorch test runs as well as the TensorFlow one)."""

import keras
import numpy as np

from helpers import to_numpy
from keras_nonlocal import zoo


def test_nl_i3d_forward_and_train_step(rng):
    model = zoo.nl_i3d_r50(classes=4, input_shape=(8, 32, 32, 3))
    x = rng.integers(0, 256, size=(2, 8, 32, 32, 3)).astype("float32")
    probs = to_numpy(model(x, training=False))
    assert probs.shape == (2, 4)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    model.compile(keras.optimizers.SGD(0.01), "sparse_categorical_crossentropy")
    loss = float(np.asarray(model.train_on_batch(x, np.array([0, 3]))))
    assert np.isfinite(loss)

