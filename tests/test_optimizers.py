"""PaperSGD: registered by `import keras_nonlocal`, on every backend.

Before, it was registered only by importing `keras_nonlocal.training`
(TensorFlow only), so `keras.saving.load_model(checkpoint)` after
`import keras_nonlocal` failed on the optimizer.
"""

import subprocess
import sys

import keras
import numpy as np
import pytest

from helpers import backend_env
from keras_nonlocal import PaperSGD

LOAD = """
import sys
import keras
import keras_nonlocal
model = keras.saving.load_model(sys.argv[1])
print("LOADED", type(model.optimizer).__name__, keras.backend.backend())
"""


def _checkpoint(path, rng):
    inputs = keras.Input((4,))
    x = keras.layers.BatchNormalization()(keras.layers.Dense(3)(inputs))
    model = keras.Model(inputs, x)
    model.compile(PaperSGD(learning_rate=0.1, momentum=0.9, weight_decay=0.1), "mse")
    model.fit(rng.normal(size=(8, 4)), rng.normal(size=(8, 3)), epochs=1, verbose=0)
    model.save(path)
    return model


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_a_checkpoint_loads_after_import_keras_nonlocal(tmp_path, rng, backend):
    path = str(tmp_path / "ckpt.keras")
    _checkpoint(path, rng)
    env = backend_env(backend)
    done = subprocess.run([sys.executable, "-c", LOAD, path], env=env, capture_output=True,
                          text=True, timeout=300)
    assert f"LOADED PaperSGD {backend}" in done.stdout, done.stderr[-3000:]


def test_weight_decay_skips_bn_parameters_and_biases(rng):
    """One step from zero gradients: decayed weights shrink by lr * wd, the
    excluded ones (BN gamma/beta, biases) do not move."""
    inputs = keras.Input((4,))
    dense = keras.layers.Dense(3)
    bn = keras.layers.BatchNormalization()
    model = keras.Model(inputs, bn(dense(inputs)))
    optimizer = PaperSGD(learning_rate=0.1, weight_decay=0.5)
    for v in dense.weights + bn.trainable_weights:
        v.assign(rng.normal(size=v.shape).astype("float32"))
    before = [np.asarray(v) for v in model.trainable_variables]
    optimizer.apply_gradients([(np.zeros(v.shape, "float32"), v)
                               for v in model.trainable_variables])
    after = {v.path: np.asarray(v) for v in model.trainable_variables}
    for old, v in zip(before, model.trainable_variables):
        factor = 1.0 if v.path.endswith(("bias", "gamma", "beta")) else 1 - 0.1 * 0.5
        np.testing.assert_allclose(after[v.path], old * factor, rtol=1e-6)


def test_warmup_cosine_decay_is_keras_cosine_decay_without_cond():
    """The same learning rates as keras' CosineDecay with warm-up (its
    reference), over the warm-up, its end, the decay and past the end, and
    a serialisation round trip; without warm-up it is CosineDecay itself."""
    import keras

    from keras_nonlocal.optimizers import WarmupCosineDecay

    steps = [0, 1, 30, 59, 60, 61, 200, 479, 480, 1000]
    for warmup in (60, 1):
        kwargs = dict(initial_learning_rate=1e-4, decay_steps=420, alpha=0.1,
                      warmup_target=0.01, warmup_steps=warmup)
        ours = WarmupCosineDecay(**kwargs)
        reference = keras.optimizers.schedules.CosineDecay(**kwargs)
        np.testing.assert_allclose([float(ours(s)) for s in steps],
                                   [float(reference(s)) for s in steps], rtol=1e-6)
        again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(ours))
        assert isinstance(again, WarmupCosineDecay) and again.get_config() == ours.get_config()
    plain = WarmupCosineDecay(0.01, 100)
    np.testing.assert_allclose([float(plain(s)) for s in steps],
                               [float(keras.optimizers.schedules.CosineDecay(0.01, 100)(s))
                                for s in steps], rtol=1e-6)
