"""SyncBatchNormalization: global-batch statistics over replicas, in two passes."""

import subprocess
import sys

import keras
import numpy as np
import pytest

from helpers import backend_env

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="synchronized BN needs tf.distribute")

# Two logical CPUs must exist before TensorFlow starts: a subprocess.
SCRIPT = """
import sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from keras_nonlocal.layers import SyncBatchNormalization

seed, kind = int(sys.argv[1]), sys.argv[2]
rng = np.random.default_rng(seed)
# A channel whose variance is tiny against its mean, and an ordinary one.
x = np.stack([1000.0 + 0.01 * rng.normal(size=(8, 5)), rng.normal(size=(8, 5))], -1)
x = x.astype("float32")
mask = rng.random((8, 5)) > 0.3
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    if kind.startswith("ours"):
        layer = SyncBatchNormalization(momentum=0.0, epsilon=1e-12)
    else:
        layer = keras.layers.BatchNormalization(momentum=0.0, epsilon=1e-12, synchronized=True)
    layer.build(x.shape)
data = tf.data.Dataset.from_tensors((x, mask))
batch = next(iter(strategy.experimental_distribute_dataset(data)))
if kind == "ours_masked":
    step = lambda t, m: layer(t, training=True, mask=m)
else:
    step = lambda t, m: layer(t, training=True)
strategy.run(tf.function(step), args=batch)
np.save(sys.argv[3], np.stack([layer.moving_mean.numpy(), layer.moving_variance.numpy()]))
"""


def _moments_over_two_replicas(seed, kind, tmp_path):
    out = str(tmp_path / f"{kind}.npy")
    env = backend_env("tensorflow")
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(seed), kind, out], env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(out)


def test_global_batch_moments_in_two_passes(rng, tmp_path):
    """With momentum 0 the moving statistics are the batch statistics: they
    equal NumPy's float64 moments of the whole global batch, also for a
    channel (mean 1000, std 0.01) where Keras' E[x^2] - E[x]^2 loses them."""
    seed = int(rng.integers(2**31))
    x_rng = np.random.default_rng(seed)
    x = np.stack([1000.0 + 0.01 * x_rng.normal(size=(8, 5)), x_rng.normal(size=(8, 5))], -1)
    x = x.astype("float32").astype("float64")
    mean, var = x.mean(axis=(0, 1)), x.var(axis=(0, 1))

    ours = _moments_over_two_replicas(seed, "ours", tmp_path)
    np.testing.assert_allclose(ours[0], mean, rtol=1e-6)
    np.testing.assert_allclose(ours[1], var, rtol=1e-3)

    keras_sync = _moments_over_two_replicas(seed, "keras", tmp_path)
    assert abs(keras_sync[1][0] - var[0]) > 0.5 * var[0]  # why this layer exists


def _masked_moments(seed):
    x_rng = np.random.default_rng(seed)
    x = np.stack([1000.0 + 0.01 * x_rng.normal(size=(8, 5)), x_rng.normal(size=(8, 5))], -1)
    x = x.astype("float32").astype("float64")
    mask = x_rng.random((8, 5)) > 0.3
    kept = x[mask]  # (n, 2): the masked positions of both channels
    return x, mask, kept.mean(axis=0), kept.var(axis=0)


def test_masked_moments_over_two_replicas(rng, tmp_path):
    """The mask is honoured across replicas (it was dropped: the fallback took
    the moments of every position)."""
    seed = int(rng.integers(2**31))
    _, _, mean, var = _masked_moments(seed)
    ours = _moments_over_two_replicas(seed, "ours_masked", tmp_path)
    np.testing.assert_allclose(ours[0], mean, rtol=1e-6)
    np.testing.assert_allclose(ours[1], var, rtol=1e-3)


def test_masked_moments_on_one_replica(rng):
    from keras_nonlocal.layers import SyncBatchNormalization

    x, mask, mean, var = _masked_moments(int(rng.integers(2**31)))
    layer = SyncBatchNormalization(momentum=0.0, epsilon=1e-12)
    layer(x.astype("float32"), training=True, mask=mask)
    np.testing.assert_allclose(np.asarray(layer.moving_mean), mean, rtol=1e-6)
    np.testing.assert_allclose(np.asarray(layer.moving_variance), var, rtol=1e-3)


def test_serialises_and_runs_like_batch_normalization_without_a_strategy(rng):
    from keras_nonlocal.layers import SyncBatchNormalization

    layer = SyncBatchNormalization(momentum=0.9, epsilon=1e-5)
    restored = SyncBatchNormalization.from_config(layer.get_config())
    assert restored.get_config() == layer.get_config() and restored.momentum == 0.9
    x = rng.normal(size=(4, 3, 6)).astype("float32")
    reference = keras.layers.BatchNormalization(momentum=0.9, epsilon=1e-5)
    np.testing.assert_allclose(np.asarray(layer(x, training=True)),
                               np.asarray(reference(x, training=True)), atol=1e-5)
