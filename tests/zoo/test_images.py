"""`zoo.nl_resnet50(weights="imagenet")`: the real download path
(`weights.imagenet_weights_file`), offline (the cache pre-filled with a file
made here, as the video inflation tests do: the real ImageNet file cannot be
fetched here), in the folder KERAS_HOME names when the model is built."""

import keras
import numpy as np

from helpers import prefill_keras_cache
from helpers import to_numpy
from keras_nonlocal import zoo

SIZE = 64


def test_imagenet_weights_through_keras_applications(tmp_path, rng, monkeypatch):
    stand_in = keras.applications.ResNet50(weights=None, include_top=False,
                                           input_shape=(SIZE, SIZE, 3))
    for layer in stand_in.layers:  # not the initial values: a load must show
        if isinstance(layer, keras.layers.BatchNormalization):
            n = layer.gamma.shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n), rng.normal(0, 0.1, n),
                               rng.normal(0, 0.1, n), rng.uniform(0.5, 2.0, n)])
    prefill_keras_cache(monkeypatch, tmp_path / "keras_home", stand_in,
                        "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5")

    model = zoo.nl_resnet50(weights="imagenet", include_top=False, pooling="avg",
                            input_shape=(SIZE, SIZE, 3))
    reference = keras.applications.ResNet50(weights="imagenet", include_top=False,
                                            pooling="avg", input_shape=(SIZE, SIZE, 3))
    x = keras.applications.resnet.preprocess_input(
        rng.uniform(0, 255, (2, SIZE, SIZE, 3)).astype("float32"))
    expected = to_numpy(stand_in(x)).mean(axis=(1, 2))
    np.testing.assert_allclose(to_numpy(reference(x)), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(to_numpy(model(x)), expected, rtol=1e-5, atol=1e-5)
    assert to_numpy(model.get_layer("conv4_block5_nonlocal").bn.gamma).max() == 0
