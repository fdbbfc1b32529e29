"""ImageNet inflation: exactness on static clips, mismatches, the download path.

No ImageNet weights can be downloaded here, so each test makes a 2D ResNet
with random (non-trivial) weights itself; the download test pre-fills
Keras' cache with such a file and gives Keras its hash.
"""

import os

import keras
import numpy as np
import pytest

from helpers import prefill_keras_cache
from helpers import to_numpy
from keras_nonlocal import zoo
from keras_nonlocal.weights import inflate, inflate_kernel

SIZE = 64


def _random_resnet(depth, rng, classes=1000):
    cls = {50: keras.applications.ResNet50, 101: keras.applications.ResNet101}[depth]
    model = cls(weights=None, input_shape=(SIZE, SIZE, 3), classes=classes,
                classifier_activation=None)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n),
                               rng.normal(0, 0.1, n), rng.uniform(0.5, 2.0, n)])
        elif isinstance(layer, keras.layers.Conv2D):
            layer.bias.assign(rng.normal(0, 0.1, layer.bias.shape))
    return model


def _frame(rng):
    return rng.integers(0, 256, size=(SIZE, SIZE, 3)).astype("float32")


def _taps(model, names, x):
    return [to_numpy(t) for t in keras.Model(model.inputs, [model.get_layer(n).output for n in names])(x)]


def test_inflate_kernel():
    k = np.arange(2 * 2 * 3 * 4, dtype="float32").reshape(2, 2, 3, 4)
    inflated = inflate_kernel(k, 3)
    assert inflated.shape == (3, 2, 2, 3, 4)
    np.testing.assert_allclose(inflated.sum(axis=0), k, rtol=1e-6)


def test_c2d_on_a_static_clip_equals_the_2d_network(tmp_path, rng):
    """C2D (temporal kernels 1): every time position of every layer equals
    the 2D network on the frame; pooled features and logits too."""
    model_2d = _random_resnet(50, rng)
    path = str(tmp_path / "resnet50.keras")
    model_2d.save(path)
    model = zoo.c2d_r50(weights=path, classes=1000, classifier_activation=None,
                        input_shape=(8, SIZE, SIZE, 3))
    frame = _frame(rng)
    clip = np.repeat(frame[None, None], 8, axis=1)
    x_2d = to_numpy(zoo.preprocess_input(frame[None], "imagenet"))
    names = ["conv2_block3_out", "conv3_block4_out", "conv5_block3_out", "avg_pool", "predictions"]
    for name, a, b in zip(names, _taps(model, names, clip), _taps(model_2d, names, x_2d)):
        if a.ndim == 5:  # every time position
            b = np.broadcast_to(b[:, None], a.shape)
        scale = np.abs(b).max()
        np.testing.assert_allclose(a, b, atol=1e-5 * scale, rtol=1e-4, err_msg=name)


def _valid_time_positions(model, length):
    """Output time positions of each layer whose temporal receptive field
    holds no padding, for a clip of `length` frames (walks the layers)."""
    ranges = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            ranges[layer.name] = (0, length - 1)
            continue
        inputs = layer._inbound_nodes[0].input_tensors
        lo = max(ranges[t._keras_history.operation.name][0] for t in inputs)
        hi = min(ranges[t._keras_history.operation.name][1] for t in inputs)
        pad, k, s = 0, 1, 1
        if isinstance(layer, keras.layers.ZeroPadding3D):
            pad = layer.padding[0][0]
            lo, hi = lo + pad, hi + pad
        elif isinstance(layer, (keras.layers.Conv3D, keras.layers.MaxPooling3D)):
            k = (layer.kernel_size if hasattr(layer, "kernel_size") else layer.pool_size)[0]
            s = layer.strides[0]
            p = (k - 1) // 2 if layer.padding == "same" else 0
            lo, hi = -(-(lo + p) // s), (hi + p - k + 1) // s
        ranges[layer.name] = (lo, hi)
    return ranges


def test_i3d_on_a_static_clip_equals_the_2d_network_where_padding_does_not_reach(tmp_path, rng):
    """I3D: at every layer, the time positions whose temporal receptive
    field lies inside the clip (computed from the layers' kernels, strides
    and paddings) equal the 2D network; with a 64-frame clip these exist
    up to res3."""
    model_2d = _random_resnet(50, rng)
    path = str(tmp_path / "resnet50.keras")
    model_2d.save(path)
    frames = 64
    model = zoo.i3d_r50(weights=path, classes=1000, input_shape=(frames, SIZE, SIZE, 3))
    ranges = _valid_time_positions(model, frames)
    frame = _frame(rng)
    clip = np.repeat(frame[None, None], frames, axis=1)
    x_2d = to_numpy(zoo.preprocess_input(frame[None], "imagenet"))
    names = ["conv1_relu", "pool1_pool", "conv2_block3_out", "conv3_block1_out", "conv3_block2_out"]
    checked = 0
    for name, a, b in zip(names, _taps(model, names, clip),
                          _taps(model_2d, names, x_2d)):
        lo, hi = ranges[name]
        assert hi >= lo, f"{name}: no position untouched by padding"
        scale = np.abs(b).max()
        for t in range(lo, hi + 1):
            np.testing.assert_allclose(a[:, t], b, atol=1e-5 * scale, rtol=1e-4, err_msg=f"{name}[t={t}]")
            checked += 1
        # positions reached by the zero padding do differ (the test can fail)
        if lo > 0 and name != "pool1_pool":
            assert not np.allclose(a[:, 0], b, atol=1e-5 * scale, rtol=1e-4)
    assert checked >= 10


def test_wrong_depth_names_the_tensors(rng):
    model_2d = _random_resnet(101, rng)
    model = zoo.c2d_r50(classes=1000, input_shape=(4, SIZE, SIZE, 3))
    with pytest.raises(ValueError, match=r"conv4_block7_1_conv: in resnet101 but not in c2d_r50"):
        inflate(model_2d, model)


def test_different_layout_names_the_tensors():
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(64, 7, strides=2, name="stem")(inputs)
    other = keras.Model(inputs, x, name="other_net")
    model = zoo.c2d_r50(input_shape=(4, SIZE, SIZE, 3))
    with pytest.raises(ValueError, match=r"(?s)conv1_conv: no layer of that name in other_net.*stem: in other_net but not in c2d_r50"):
        inflate(other, model)


def test_imagenet_download_path_with_prefilled_cache(tmp_path, rng, monkeypatch):
    """weights='imagenet' runs the real keras.applications download code;
    the cache is pre-filled with a file made here and Keras is given its
    hash (a stand-in for the real ImageNet file, which cannot be fetched)."""
    model_2d = _random_resnet(50, rng)
    path = prefill_keras_cache(monkeypatch, tmp_path / "keras_home", model_2d,
                               "resnet50_weights_tf_dim_ordering_tf_kernels.h5")

    model = zoo.c2d_r50(weights="imagenet", classes=1000, classifier_activation=None,
                        input_shape=(4, SIZE, SIZE, 3))
    frame = _frame(rng)
    clip = np.repeat(frame[None, None], 4, axis=1)
    expected = to_numpy(model_2d(zoo.preprocess_input(frame[None], "imagenet")))
    np.testing.assert_allclose(to_numpy(model(clip)), expected,
                               atol=1e-5 * np.abs(expected).max(), rtol=1e-4)
    # a new head when the classes differ; non-local blocks stay identities
    nl = zoo.nl_c2d_r50(weights="imagenet", classes=10, input_shape=(4, SIZE, SIZE, 3))
    assert to_numpy(nl.get_layer("conv3_block2_nonlocal").bn.gamma).max() == 0
    os.remove(path)
