"""Basic behaviour of the layers: shapes, config, saving, training, errors."""

import os

import keras
import numpy as np
import pytest

from helpers import MODES, randomize_weights, reference_weights, to_numpy
from keras_nonlocal import NonLocal1D, NonLocal2D, NonLocal3D
from nonlocal_reference import nonlocal_reference, weights_in_layer_layout


@pytest.mark.parametrize("mode", MODES)
def test_new_block_is_identity(rng, mode):
    for cls, shape in [(NonLocal1D, (2, 10, 8)), (NonLocal2D, (2, 6, 6, 8)),
                       (NonLocal3D, (2, 3, 6, 6, 8))]:
        x = rng.normal(size=shape).astype("float32")
        np.testing.assert_array_equal(to_numpy(cls(mode=mode)(x)), x)
        np.testing.assert_array_equal(to_numpy(cls(mode=mode, normalization=None)(x)), x)


@pytest.mark.parametrize("mode", MODES)
def test_permuting_positions_permutes_output(rng, mode):
    x = rng.normal(size=(2, 4, 5, 3, 8)).astype("float32")
    layer = NonLocal3D(mode=mode, pool_size=None)
    layer.build(x.shape)
    randomize_weights(layer, rng)
    perm = rng.permutation(4 * 5 * 3)
    flat = x.reshape(2, -1, 8)
    x_perm = flat[:, perm].reshape(x.shape)
    y = to_numpy(layer(x)).reshape(2, -1, 8)
    y_perm = to_numpy(layer(x_perm)).reshape(2, -1, 8)
    np.testing.assert_allclose(y_perm, y[:, perm], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scope", ["space", "time"])
def test_scope_reaches_exactly_the_right_positions(rng, mode, scope):
    """Changing x at one position changes the outputs of its frame (space)
    or of its pixel track (time), and no others."""
    shape = (1, 4, 5, 6, 8)
    x = rng.normal(size=shape).astype("float32")
    layer = NonLocal3D(mode=mode, scope=scope, pool_size=None)
    layer.build(shape)
    randomize_weights(layer, rng)
    t, h, w = 2, 3, 1
    x2 = x.copy()
    x2[0, t, h, w] += rng.normal(size=8).astype("float32") * 3
    changed = np.abs(to_numpy(layer(x2)) - to_numpy(layer(x))).max(axis=-1)[0] > 1e-6
    expected = np.zeros((4, 5, 6), bool)
    if scope == "space":
        expected[t] = True
    else:
        expected[:, h, w] = True
    assert not np.any(changed & ~expected), "a change leaked out of the scope"
    if mode == "concatenation":
        # ReLU(a_i + b_j) may be 0 before and after for some i: those i are
        # legitimately unchanged; others in the scope must still be reached.
        assert changed[expected].sum() >= 2
    else:
        np.testing.assert_array_equal(changed, expected)


def _trained_layer(cls, shape, rng, **kwargs):
    layer = cls(**kwargs)
    layer.build(shape)
    randomize_weights(layer, rng)
    return layer


@pytest.mark.parametrize("mode", MODES)
def test_config_round_trip(rng, mode):
    layer = NonLocal3D(mode=mode, inner_channels=6, pool_size=(1, 2, 2),
                       pool_position="after", scale=0.5, scope="space",
                       kernel_regularizer="l2", bn_epsilon=1e-3, name="nl")
    config = layer.get_config()
    clone = NonLocal3D.from_config(config)
    assert clone.get_config() == config
    x = rng.normal(size=(2, 3, 4, 4, 12)).astype("float32")
    layer.build(x.shape)
    randomize_weights(layer, rng)
    clone.build(x.shape)
    clone.set_weights(layer.get_weights())
    np.testing.assert_allclose(to_numpy(clone(x)), to_numpy(layer(x)), atol=1e-6)


@pytest.mark.parametrize("cls,shape", [(NonLocal1D, (7, 6)), (NonLocal2D, (6, 5, 6)),
                                       (NonLocal3D, (3, 6, 5, 6))])
def test_keras_file_round_trip(tmp_path, rng, cls, shape):
    inputs = keras.Input(shape)
    outputs = cls(mode="concatenation", name="nl")(inputs)
    outputs = cls(mode="embedded_gaussian", name="nl2")(outputs)
    model = keras.Model(inputs, outputs)
    for layer in model.layers[1:]:
        randomize_weights(layer, rng)
    x = rng.normal(size=(2,) + shape).astype("float32")
    path = os.path.join(tmp_path, "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.get_layer("nl"), cls)
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(model(x)))


def test_variable_sizes_in_a_functional_model(rng):
    """One model, inputs of several sizes (odd ones: the 1x2x2 pool drops the
    last row), each against the NumPy reference."""
    inputs = keras.Input((None, None, None, 8))
    layer = NonLocal3D(name="nl")
    y, attention = layer(inputs, return_attention_scores=True)
    model = keras.Model(inputs, [y, attention])
    assert tuple(y.shape) == (None, None, None, None, 8)
    assert tuple(attention.shape) == (None, None, None)
    randomize_weights(layer, rng)
    for shape in [(1, 2, 4, 4, 8), (2, 5, 7, 6, 8)]:
        x = rng.normal(size=shape).astype("float32")
        out, att = model(x)
        z_ref, att_ref = nonlocal_reference(x, reference_weights(layer), "embedded_gaussian",
                                            pool=(1, 2, 2))
        np.testing.assert_allclose(to_numpy(out), z_ref, atol=2e-5, rtol=2e-4)
        positions = shape[1:-1]
        pooled = (shape[1], shape[2] // 2, shape[3] // 2)
        np.testing.assert_allclose(
            to_numpy(att), weights_in_layer_layout(att_ref, positions, pooled, None),
            atol=2e-5, rtol=2e-4)


def test_attention_per_scope_symbolic_and_computed(rng):
    """The symbolic shapes, and the maps computed, against the reference."""
    x = rng.normal(size=(2, 4, 6, 6, 8)).astype("float32")
    for scope, pool, shape in (("space", (1, 2, 2), (2, 4, 36, 9)),
                               ("time", (2, 1, 1), (2, 36, 4, 2))):
        layer = NonLocal3D(scope=scope, pool_size=pool)
        spec = layer.compute_output_spec(keras.KerasTensor(x.shape), return_attention_scores=True)
        assert spec[1].shape == shape
        layer.build(x.shape)
        randomize_weights(layer, rng)
        _, att = layer(x, return_attention_scores=True)
        _, att_ref = nonlocal_reference(x, reference_weights(layer), "embedded_gaussian",
                                        pool=pool, scope=scope)
        pooled = tuple(p // s for p, s in zip(x.shape[1:-1], pool))
        np.testing.assert_allclose(
            to_numpy(att), weights_in_layer_layout(att_ref, x.shape[1:-1], pooled, scope),
            atol=2e-5, rtol=2e-4)
    assert NonLocal2D().compute_output_shape((None, 9, 9, 4)) == (None, 9, 9, 4)


@pytest.mark.parametrize("mode", MODES)
def test_training_step_updates_every_weight(rng, mode):
    inputs = keras.Input((4, 6, 6, 8))
    h = NonLocal3D(mode=mode, name="nl", kernel_initializer="glorot_uniform")(inputs)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling3D()(h))
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = rng.normal(size=(8, 4, 6, 6, 8)).astype("float32")
    y = rng.integers(0, 3, size=(8,))
    layer = model.get_layer("nl")
    # The zero-initialised BN gamma (the block starts as the identity) is the
    # only weight with a gradient in the first step.
    gamma = to_numpy(layer.bn.gamma).copy()
    model.train_on_batch(x[:4], y[:4])
    assert np.abs(to_numpy(layer.bn.gamma) - gamma).max() > 1e-6, "the zero BN gamma did not move"
    # The gradient of every other weight is proportional to gamma; after one
    # step gamma is ~lr * its gradient and the next steps move them by ~lr**2,
    # under float32's resolution for some draws. Start them from gamma = 1.
    layer.bn.gamma.assign(np.ones(layer.bn.gamma.shape, "float32"))
    before = [to_numpy(w).copy() for w in layer.trainable_weights]
    model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    after = [to_numpy(w) for w in layer.trainable_weights]
    for w, a, b in zip(layer.trainable_weights, after, before):
        if w.path.endswith("bias"):
            # BN in training mode removes constant shifts, so the gradient of
            # the W_z bias (and of the g bias under softmax) is exactly 0.
            continue
        assert np.abs(a - b).max() > 1e-6, f"{w.path} did not change"
    moving_mean = model.get_layer("nl").bn.moving_mean
    assert np.any(to_numpy(moving_mean) != 0), "BN statistics not updated in training"


def test_bn_uses_batch_statistics_in_training_and_moving_ones_in_inference(rng):
    """z = BN(W_z y) + x: with the batch's moments in training, the moving
    ones in inference (both against NumPy)."""
    x = rng.normal(size=(4, 3, 4, 4, 8)).astype("float32")
    layer = NonLocal3D(residual=False)
    layer.build(x.shape)
    randomize_weights(layer, rng)
    w = reference_weights(layer)
    np.testing.assert_allclose(to_numpy(layer(x, training=False)),
                               nonlocal_reference(x, w, "embedded_gaussian", pool=(1, 2, 2),
                                                  residual=False)[0], atol=2e-5, rtol=2e-4)
    wz_y = nonlocal_reference(x, w, "embedded_gaussian", pool=(1, 2, 2), residual=False,
                              normalization=None)[0]  # W_z y, before the BN
    axes = (0, 1, 2, 3)
    expected = (wz_y - wz_y.mean(axes)) / np.sqrt(wz_y.var(axes) + 1e-5) * w["gamma"] + w["beta"]
    np.testing.assert_allclose(to_numpy(layer(x, training=True)), expected, atol=1e-4, rtol=1e-3)


def test_mixed_precision_normalises_in_float32(rng):
    x = rng.normal(size=(2, 3, 6, 6, 16)).astype("float32")
    ref = NonLocal3D(name="ref")
    ref.build(x.shape)
    randomize_weights(ref, rng)
    mixed = NonLocal3D(dtype="mixed_bfloat16")
    mixed.build(x.shape)
    mixed.set_weights(ref.get_weights())
    y, attention = mixed(x, return_attention_scores=True)
    assert keras.backend.standardize_dtype(y.dtype) == "bfloat16"
    assert keras.backend.standardize_dtype(attention.dtype) == "float32"
    np.testing.assert_allclose(to_numpy(attention).sum(-1), 1.0, atol=1e-5)
    expected = to_numpy(ref(x))
    np.testing.assert_allclose(to_numpy(keras.ops.cast(y, "float32")), expected,
                               atol=0.1, rtol=0.05)


@pytest.mark.parametrize("kwargs,match", [
    (dict(mode="softmax"), "Received: mode='softmax'"),
    (dict(scope="channel"), "Received: scope='channel'"),
    (dict(inner_channels=0), "Received: inner_channels=0"),
    (dict(inner_channels=-3), "Received: inner_channels=-3"),
    (dict(pool_size=(2, 2)), r"Received: pool_size=\(2, 2\)"),
    (dict(pool_size=(1, 2.0, 2)), r"Received: pool_size=\(1, 2.0, 2\)"),
    (dict(pool_size="yes"), "Received: pool_size='yes'"),
    (dict(pool_position="middle"), "Received: pool_position='middle'"),
    (dict(scope="space", pool_size=(2, 2, 2)), "Received: scope='space'"),
    (dict(pool_size=-2), "Received: pool_size=-2"),
    (dict(inner_channels=True), "Received: inner_channels=True"),
    (dict(max_attention_bytes=0), "Received: max_attention_bytes=0"),
    (dict(scope="time"), "Received: pool_size=2, scope='time'"),
    (dict(implementation="flash"), "Received: implementation='flash'"),
    (dict(scale=-1.0), "Received: scale=-1.0"),
])
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        NonLocal3D(**kwargs)


@pytest.mark.parametrize("old,new", [
    (dict(subsample=True), dict(pool_size=2)),
    (dict(subsample=False), dict(pool_size=None)),
    (dict(subsample=(2, 2, 2), subsample_position="after"),
     dict(pool_size=(2, 2, 2), pool_position="after")),
])
def test_the_old_argument_names_work_with_a_warning(rng, old, new):
    """`subsample` / `subsample_position` (renamed `pool_size` /
    `pool_position`): the same layer, a warning naming the new argument, and
    a config saved under the old names loads."""
    x = rng.normal(size=(2, 4, 6, 6, 8)).astype("float32")
    expected = NonLocal3D(**new, name="nl")
    expected.build(x.shape)
    randomize_weights(expected, rng)
    with pytest.warns(UserWarning, match="`subsample.*` is renamed `pool_"):
        layer = NonLocal3D(**old, name="nl")
    assert layer.get_config() == expected.get_config()
    config = {k: v for k, v in expected.get_config().items()
              if k not in ("pool_size", "pool_position")}
    with pytest.warns(UserWarning, match="is renamed"):
        loaded = NonLocal3D.from_config({**config, **old})
    loaded.build(x.shape)
    loaded.set_weights(expected.get_weights())
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(expected(x)))


def test_scope_on_1d_and_2d_is_an_error():
    with pytest.raises(ValueError, match="Received: scope='space'"):
        NonLocal2D(scope="space")
    with pytest.raises(ValueError, match="Received: scope='time'"):
        NonLocal1D(scope="time")


def test_bad_input_shapes():
    with pytest.raises(ValueError, match=r"expected ndim=5, found ndim=4"):
        NonLocal3D()(np.zeros((2, 8, 8, 4), "float32"))
    built = NonLocal2D()
    built(np.zeros((1, 4, 4, 6), "float32"))
    with pytest.raises(ValueError, match=r"expected axis -1 of input shape to have value 6"):
        built(np.zeros((1, 4, 4, 8), "float32"))
    with pytest.raises(ValueError, match="channel dimension.*Received: input_shape"):
        NonLocal2D().build((None, 8, 8, None))
    with pytest.raises(ValueError, match=r"larger than.*Received: input_shape=\(1, 4, 1, 8, 4\)"):
        NonLocal3D()(np.zeros((1, 4, 1, 8, 4), "float32"))
    with pytest.raises(ValueError, match=r"expected ndim=3, found ndim=2"):
        NonLocal1D()(np.zeros((4, 8), "float32"))


# ------------------------------------------------ normalization and frame groups


@pytest.mark.parametrize("normalization", ["affine", None])
def test_other_normalizations_against_the_reference(rng, normalization, tmp_path):
    """`"affine"` (a frozen BN: z * scale + bias) and `None` (W_z alone):
    identity at creation, the reference's function with random weights, the
    same in training and inference, and a `.keras` round trip."""
    x = rng.normal(size=(2, 4, 6, 6, 8)).astype("float32")
    layer = NonLocal3D(normalization=normalization, pool_size=(1, 2, 2))
    np.testing.assert_array_equal(to_numpy(layer(x)), x)
    randomize_weights(layer, rng)
    expected = nonlocal_reference(x, reference_weights(layer), "embedded_gaussian",
                                  pool=(1, 2, 2), normalization=normalization)[0]
    for training in (True, False):
        np.testing.assert_allclose(to_numpy(layer(x, training=training)), expected,
                                   atol=2e-5, rtol=2e-4)
    assert not layer.non_trainable_weights  # no statistics
    inputs = keras.Input(x.shape[1:])
    path = str(tmp_path / "block.keras")
    keras.Model(inputs, layer(inputs)).save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(to_numpy(loaded(x)), to_numpy(layer(x)))


def test_use_bn_is_normalization_with_a_warning():
    with pytest.warns(UserWarning, match="`use_bn` is renamed `normalization`"):
        assert NonLocal3D(use_bn=False).normalization is None
    with pytest.warns(UserWarning, match="`use_bn` is renamed `normalization`"):
        assert NonLocal3D(use_bn=True).normalization == "batch_norm"


def test_frame_groups_attend_within_their_frames(rng):
    """frames_per_group=4 on 8 frames: each group of 4 consecutive frames is
    its own non-local block (the reference on the frames sliced out), and
    a change confined to frames 4-7 leaves frames 0-3 untouched (groups
    taken along another axis, interleaved, or of another size fail both).
    Without groups the change reaches frames 0-3."""
    x = rng.normal(size=(2, 8, 4, 4, 8)).astype("float32")
    layer = NonLocal3D(frames_per_group=4, pool_size=(1, 2, 2))
    layer.build(x.shape)
    randomize_weights(layer, rng)
    w = reference_weights(layer)
    out, attention = layer(x, training=False, return_attention_scores=True)
    out = to_numpy(out)
    for start in (0, 4):
        part = x[:, start:start + 4]
        expected, weights = nonlocal_reference(part, w, "embedded_gaussian", pool=(1, 2, 2))
        np.testing.assert_allclose(out[:, start:start + 4], expected, atol=2e-5, rtol=2e-4)
        np.testing.assert_allclose(to_numpy(attention)[:, start // 4], weights, atol=1e-6)
    assert attention.shape == (2, 2, 4 * 16, 4 * 4)
    changed = x.copy()
    changed[:, 4:] = rng.normal(size=changed[:, 4:].shape)
    moved = to_numpy(layer(changed, training=False))
    np.testing.assert_array_equal(moved[:, :4], out[:, :4])
    assert np.abs(moved[:, 4:] - out[:, 4:]).max() > 1e-3
    whole = NonLocal3D(pool_size=(1, 2, 2))
    whole.build(x.shape)
    whole.set_weights(layer.get_weights())
    assert np.abs(to_numpy(whole(changed, training=False))[:, :4] - out[:, :4]).max() > 1e-3


def test_frame_groups_in_a_model_and_their_errors(tmp_path):
    inputs = keras.Input((8, 4, 4, 8))
    layer = NonLocal3D(frames_per_group=4)
    _, attention = layer(inputs, return_attention_scores=True)
    assert tuple(attention.shape) == (None, 2, 64, 16)
    assert NonLocal3D.from_config(layer.get_config()).frames_per_group == 4
    with pytest.raises(ValueError, match=r"do not split into groups of 3"):
        NonLocal3D(frames_per_group=3)(keras.Input((8, 4, 4, 8)))
    with pytest.raises(ValueError, match="Received: frames_per_group=4, scope='space'"):
        NonLocal3D(frames_per_group=4, scope="space")
    with pytest.raises(ValueError, match="Received: frames_per_group=0"):
        NonLocal3D(frames_per_group=0)
    with pytest.raises(ValueError, match="Received: frames_per_group=2, scope=None"):
        NonLocal2D(frames_per_group=2)
