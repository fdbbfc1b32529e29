"""`WindowAveragePooling3D`: the test head's windows, on every backend,
against the windows written out in NumPy."""

import keras
import numpy as np
import pytest
from keras.src.testing import TestCase

from helpers import to_numpy
from keras_nonlocal.layers import WindowAveragePooling3D


def numpy_windows(x, window):
    """Every `window` box (stride 1), the whole axis where it is shorter."""
    sizes = [min(w, n) for w, n in zip(window, x.shape[1:4])]
    out = [n - s + 1 for n, s in zip(x.shape[1:4], sizes)]
    y = np.empty((x.shape[0], *out, x.shape[-1]))
    for t in range(out[0]):
        for i in range(out[1]):
            for j in range(out[2]):
                y[:, t, i, j] = x[:, t:t + sizes[0], i:i + sizes[1], j:j + sizes[2]].mean(
                    axis=(1, 2, 3))
    return y


@pytest.mark.parametrize("shape,window", [
    ((2, 4, 8, 8, 5), (4, 7, 7)),     # a 256 crop of an 8x8 network: 2 x 2 windows
    ((1, 4, 7, 7, 3), (4, 7, 7)),     # the training size: the global mean
    ((2, 5, 9, 8, 2), (4, 7, 7)),     # windows in time too
    ((1, 2, 3, 10, 2), (4, 7, 7)),    # shorter than the window on two axes
])
def test_windows_equal_numpy(rng, shape, window):
    x = rng.normal(size=shape).astype("float32")
    got = to_numpy(WindowAveragePooling3D(window)(x))
    np.testing.assert_allclose(got, numpy_windows(x, window), atol=1e-6)


def test_sizes_known_only_when_run(rng):
    """In a model of unknown sizes (the zoo's), run on two sizes."""
    inputs = keras.Input((None, None, None, 3))
    model = keras.Model(inputs, WindowAveragePooling3D((2, 3, 3))(inputs))
    assert model.output.shape == (None, None, None, None, 3)
    for shape in [(1, 4, 6, 5, 3), (2, 2, 3, 3, 3)]:
        x = rng.normal(size=shape).astype("float32")
        np.testing.assert_allclose(to_numpy(model(x)), numpy_windows(x, (2, 3, 3)), atol=1e-6)
    with pytest.raises(ValueError, match=r"Received: window=\(7, 7\)"):
        WindowAveragePooling3D((7, 7))


class WindowPoolingHarness(TestCase):
    def test_keras_layer_harness(self):
        self.run_layer_test(
            WindowAveragePooling3D, init_kwargs={"window": (2, 3, 3)},
            input_shape=(2, 3, 5, 4, 4), expected_output_shape=(2, 2, 3, 2, 4),
            expected_num_trainable_weights=0, expected_num_non_trainable_weights=0,
            supports_masking=False, run_training_check=True, run_mixed_precision_check=True)
