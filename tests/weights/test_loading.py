"""Loading weight files and saved models into zoo models."""

import numpy as np
import pytest

from helpers import to_numpy
from keras_nonlocal import zoo

SHAPE = (4, 32, 32, 3)
# The loading logic, not the width, is the point: width-8 networks (the
# layers and names of the full ones).
WIDTH = 8


def _randomize_nonlocal(model, rng):
    for layer in model.layers:
        if "nonlocal" in layer.name:
            layer.bn.gamma.assign(rng.normal(size=layer.bn.gamma.shape).astype("float32"))


def test_weights_file_round_trip(tmp_path, rng):
    model = zoo.nl_c2d_r50(classes=5, base_width=WIDTH, input_shape=SHAPE)
    _randomize_nonlocal(model, rng)
    path = str(tmp_path / "nl.weights.h5")
    model.save_weights(path)
    loaded = zoo.nl_c2d_r50(weights=path, classes=5, base_width=WIDTH, input_shape=SHAPE)
    x = rng.integers(0, 256, size=(1,) + SHAPE).astype("float32")
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), atol=1e-6)


def test_saved_video_model_is_copied_by_name(tmp_path, rng):
    model = zoo.nl_i3d_r50(classes=5, base_width=WIDTH, input_shape=SHAPE)
    _randomize_nonlocal(model, rng)
    path = str(tmp_path / "nl.keras")
    model.save(path)
    # the same architecture at another (variable) input size
    loaded = zoo.nl_i3d_r50(weights=path, classes=5, base_width=WIDTH)
    x = rng.integers(0, 256, size=(1,) + SHAPE).astype("float32")
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), atol=1e-6)


def test_saved_model_of_another_layout_names_the_layers(tmp_path):
    path = str(tmp_path / "c2d.keras")
    zoo.c2d_r50(classes=5, base_width=WIDTH, input_shape=SHAPE).save(path)
    with pytest.raises(ValueError, match=r"(?s)conv3_block2_nonlocal: missing in c2d_r50"):
        zoo.nl_c2d_r50(weights=path, classes=5, base_width=WIDTH, input_shape=SHAPE)
    with pytest.raises(ValueError, match=r"predictions: shapes"):
        zoo.c2d_r50(weights=path, classes=7, base_width=WIDTH, input_shape=SHAPE)


def test_weights_file_of_another_model_fails_clearly(tmp_path):
    path = str(tmp_path / "c2d.weights.h5")
    zoo.c2d_r50(classes=5, base_width=WIDTH, input_shape=SHAPE).save_weights(path)
    with pytest.raises(ValueError, match="do not fit nl_c2d_r50"):
        zoo.nl_c2d_r50(weights=path, classes=5, base_width=WIDTH, input_shape=SHAPE)


def test_unknown_weights_file_type(tmp_path):
    path = tmp_path / "model.bin"
    path.write_bytes(b"\0")
    with pytest.raises(ValueError, match="model.bin: neither a Caffe2 pickle nor a PyTorch "
                                         "checkpoint"):
        zoo.c2d_r50(weights=str(path), base_width=WIDTH)
