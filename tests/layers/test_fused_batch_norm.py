"""FusedBatchNormalization: Keras' BatchNormalization, TensorFlow's fused kernel
in training; checked against NumPy (the equations) and Keras' own layer."""

import keras
import numpy as np
import pytest

from keras_nonlocal.layers import FusedBatchNormalization

from helpers import to_numpy


def _numpy_train_step(x, gamma, beta, upstream, eps, momentum, mean0, var0):
    """y, dL/dx, dL/dgamma, dL/dbeta and the new moving statistics, from the
    batch-norm equations (biased batch variance, as Keras averages it)."""
    axes = tuple(range(x.ndim - 1))
    n = x.size // x.shape[-1]
    mean, var = x.mean(axes), x.var(axes)
    xhat = (x - mean) / np.sqrt(var + eps)
    y = gamma * xhat + beta
    dxhat = upstream * gamma
    dx = (dxhat - dxhat.mean(axes) - xhat * (dxhat * xhat).mean(axes)) / np.sqrt(var + eps)
    moving = (mean0 * momentum + mean * (1 - momentum), var0 * momentum + var * (1 - momentum))
    assert n > 1
    return y, dx, (upstream * xhat).sum(axes), upstream.sum(axes), moving


@pytest.mark.parametrize("shape", [(2, 3, 5, 4, 6), (7, 5)])
def test_training_step_matches_the_equations_and_keras(rng, shape):
    x = (rng.normal(size=shape) * 3 + 2).astype("float32")
    upstream = rng.normal(size=shape).astype("float32")
    layers = {}
    for name, cls in (("ours", FusedBatchNormalization),
                      ("keras", keras.layers.BatchNormalization)):
        layer = cls(momentum=0.9, epsilon=1e-5)
        layer.build(shape)
        layer.gamma.assign(rng.normal(size=shape[-1:]).astype("float32"))
        layer.beta.assign(rng.normal(size=shape[-1:]).astype("float32"))
        layer.moving_mean.assign(rng.normal(size=shape[-1:]).astype("float32"))
        layer.moving_variance.assign(rng.uniform(0.5, 2, size=shape[-1:]).astype("float32"))
        layers[name] = layer
    keras_layer = layers["keras"]
    keras_layer.set_weights(layers["ours"].get_weights())
    expected = _numpy_train_step(
        x.astype("float64"), *(to_numpy(w).astype("float64") for w in
                               (layers["ours"].gamma, layers["ours"].beta)),
        upstream, 1e-5, 0.9, to_numpy(layers["ours"].moving_mean),
        to_numpy(layers["ours"].moving_variance))
    for name, layer in layers.items():
        y, grads = _train_step(layer, x, upstream)
        np.testing.assert_allclose(y, expected[0], atol=1e-4, err_msg=name)
        for got, want in zip(grads, expected[1:4]):
            scale = np.abs(want).max()
            np.testing.assert_allclose(got / scale, want / scale, atol=1e-5, err_msg=name)
        np.testing.assert_allclose(to_numpy(layer.moving_mean), expected[4][0], rtol=1e-5,
                                   atol=1e-5, err_msg=name)
        np.testing.assert_allclose(to_numpy(layer.moving_variance), expected[4][1], rtol=1e-5,
                                   err_msg=name)


def _train_step(layer, x, upstream):
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(y * upstream)
        grads = tape.gradient(loss, [x, layer.gamma, layer.beta])
        return y.numpy(), [g.numpy() for g in grads]
    if keras.backend.backend() == "jax":
        import jax

        trainable = [v.value for v in layer.trainable_variables]
        others = [v.value for v in layer.non_trainable_variables]

        def loss(x, trainable):
            y, new = layer.stateless_call(trainable, others, x, training=True)
            return (y * upstream).sum(), (y, new)

        (_, (y, new)), (dx, (dgamma, dbeta)) = jax.value_and_grad(
            loss, argnums=(0, 1), has_aux=True)(x, trainable)
        for variable, value in zip(layer.non_trainable_variables, new):
            variable.assign(value)
        return np.asarray(y), [np.asarray(dx), np.asarray(dgamma), np.asarray(dbeta)]
    import torch

    x = torch.tensor(x, requires_grad=True)
    y = layer(x, training=True)
    (y * torch.tensor(upstream)).sum().backward()
    return (y.detach().cpu().numpy(),
            [t.grad.cpu().numpy() for t in (x, layer.gamma.value, layer.beta.value)])


def test_inference_and_a_mask_are_keras_unchanged(rng):
    x = rng.normal(size=(2, 3, 4, 5)).astype("float32")
    ours = FusedBatchNormalization()
    ours.build(x.shape)
    ours.moving_mean.assign(rng.normal(size=5).astype("float32"))
    theirs = keras.layers.BatchNormalization()
    theirs.build(x.shape)
    theirs.set_weights(ours.get_weights())
    np.testing.assert_allclose(to_numpy(ours(x)), to_numpy(theirs(x)), atol=1e-6)
    mask = rng.random((2, 3, 4)) > 0.5
    np.testing.assert_allclose(to_numpy(ours(x, training=True, mask=mask)),
                               to_numpy(theirs(x, training=True, mask=mask)), atol=1e-5)


def test_keras_file_round_trip(rng, tmp_path):
    inputs = keras.Input((3, 4, 5))
    model = keras.Model(inputs, FusedBatchNormalization(momentum=0.8, epsilon=1e-4)(inputs))
    path = str(tmp_path / "bn.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[-1], FusedBatchNormalization)
    assert loaded.layers[-1].get_config()["momentum"] == 0.8
    x = rng.normal(size=(2, 3, 4, 5)).astype("float32")
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), atol=1e-6)
