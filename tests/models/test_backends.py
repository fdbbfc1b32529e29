"""A zoo model computes the same values on every Keras backend: this
process's against each other backend's in a subprocess (`make test` runs this
file in its TensorFlow pass: TensorFlow against JAX and against PyTorch).

The weights and the clip are NumPy arrays written to a folder; this process
and one of another backend load them into the same model and compare logits
and the first training step's loss and update. The step runs with BN frozen:
with batch statistics over 2 clips (res5 holds 2 values per channel) a BN
output is ill-conditioned (0.006 apart at res4 became 0.66 at res5, TF vs
JAX); BN's training mode is checked against NumPy in test_fused_batch_norm.
"""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from helpers import to_numpy
from keras_nonlocal import keras_private
from keras_nonlocal import zoo

SCRIPT = r"""
import json, sys
import numpy as np
sys.path[:0] = [sys.argv[2], sys.argv[2] + "/.."]
from test_backends import forward_and_step
print("RESULT " + json.dumps(forward_and_step(sys.argv[1])))
"""


def forward_and_step(folder):
    """Logits, the first training step's loss and the classifier's update
    (BN frozen), of the model whose weights and clip are in `folder`."""
    model = zoo.nl_i3d_r50(classes=4, base_width=8, input_shape=(8, 32, 32, 3), dropout=0.0,
                           classifier_activation=None)
    weights = np.load(os.path.join(folder, "weights.npz"))
    model.set_weights([weights[f"w{i}"] for i in range(len(model.weights))])
    x, y = np.load(os.path.join(folder, "x.npy")), np.array([0, 3])
    logits = to_numpy(model(x, training=False))
    for layer in keras_private.all_layers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = False
    model.compile(keras.optimizers.SGD(0.01),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    before = to_numpy(model.get_layer("predictions").kernel).copy()
    loss = float(np.asarray(model.train_on_batch(x, y)))
    update = to_numpy(model.get_layer("predictions").kernel) - before
    return dict(logits=logits.tolist(), loss=loss, update=update.tolist())


OTHERS = [b for b in ("jax", "tensorflow", "torch") if b != keras.backend.backend()]


@pytest.mark.parametrize("other", OTHERS)
def test_the_same_values_on_another_backend(rng, tmp_path, other):
    model = zoo.nl_i3d_r50(classes=4, base_width=8, input_shape=(8, 32, 32, 3))
    arrays = {}
    for i, w in enumerate(model.weights):  # every weight random, the blocks not identities
        value = rng.uniform(0.5, 1.5, w.shape) if "variance" in w.path else rng.normal(
            0, 0.05 if "kernel" in w.path else 0.1, w.shape)
        arrays[f"w{i}"] = value.astype("float32")
    np.savez(tmp_path / "weights.npz", **arrays)
    np.save(tmp_path / "x.npy", rng.integers(0, 256, size=(2, 8, 32, 32, 3)).astype("float32"))
    ours = forward_and_step(str(tmp_path))
    done = subprocess.run([sys.executable, "-c", SCRIPT, str(tmp_path), os.path.dirname(__file__)],
                          env=dict(os.environ, KERAS_BACKEND=other, TF_CPP_MIN_LOG_LEVEL="3"),
                          capture_output=True, text=True, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, done.stderr[-3000:]
    theirs = json.loads(lines[-1][len("RESULT "):])
    for key in ("logits", "update"):
        a, b = np.asarray(ours[key]), np.asarray(theirs[key])
        np.testing.assert_allclose(a, b, atol=2e-4 * np.abs(b).max(), err_msg=f"{key} vs {other}")
    # the step's loss is the cross-entropy of the logits (dropout 0, BN frozen)
    logits = np.asarray(ours["logits"], np.float64)
    expected = np.mean(np.log(np.exp(logits).sum(-1)) - logits[[0, 1], [0, 3]])
    np.testing.assert_allclose(ours["loss"], expected, rtol=1e-4)
    np.testing.assert_allclose(ours["loss"], theirs["loss"], rtol=1e-4)
