"""The pairwise-function seam: a mode defined here, outside the package,
registered once, then used by name like the paper's four (against NumPy,
through its map-free path, saved and loaded); the built-in modes through
the same registry."""

import numpy as np
import pytest

import keras
from keras import ops

from helpers import MODES
from helpers import layer_gradients
from helpers import randomize_weights
from helpers import reference_weights
from helpers import to_numpy
from keras_nonlocal import NonLocal1D
from keras_nonlocal import NonLocal2D
from keras_nonlocal.layers import PairwiseFunction
from keras_nonlocal.layers import get_pairwise
from keras_nonlocal.layers import implementation
from keras_nonlocal.layers import pairwise_names
from keras_nonlocal.layers import register_pairwise


def _positive_features(x):
    return ops.elu(ops.cast(x, "float32")) + 1.0


class LinearElu(PairwiseFunction):
    """Linear attention (Katharopoulos et al., 2020): `f = e(theta_i) . e(phi_j)`
    with `e = elu + 1 > 0`, `C = sum_j f`. Map-free as
    `e(theta) (e(phi)^T g) / (e(theta) . sum_j e(phi_j))`."""

    def attention(self, theta, phi):
        f = ops.einsum("bnd,bmd->bnm", _positive_features(theta), _positive_features(phi))
        return f / ops.sum(f, axis=-1, keepdims=True)

    def attend_without_map(self, theta, phi, g, max_bytes):
        q, k = _positive_features(theta), _positive_features(phi)
        context = ops.einsum("bmd,bmv->bdv", k, ops.cast(g, "float32"))
        norm = ops.einsum("bnd,bd->bn", q, ops.sum(k, axis=1))
        return ops.cast(ops.einsum("bnd,bdv->bnv", q, context) / norm[..., None], g.dtype)


register_pairwise("test_linear_elu", LinearElu)  # as a user's module would, on import


def _elu1(x):
    return np.where(x > 0, x + 1.0, np.exp(np.minimum(x, 0)))


def linear_elu_reference(x, w):
    """z = W_z y + b_z + x, y_i = sum_j f_ij g_j / sum_j f_ij (float64; no BN, no pool)."""
    flat = x.reshape(x.shape[0], -1, x.shape[-1]).astype(np.float64)
    theta, phi, g = (flat @ w[f"{n}_w"] + w[f"{n}_b"] for n in ("theta", "phi", "g"))
    f = np.einsum("bnd,bmd->bnm", _elu1(theta), _elu1(phi))
    attention = f / f.sum(-1, keepdims=True)
    y = attention @ g
    z = y @ w["out_w"] + w["out_b"] + flat
    return z.reshape(x.shape), attention


def _layer(rng, shape, **kwargs):
    layer = NonLocal2D(mode="test_linear_elu", pool_size=None, normalization=None, **kwargs)
    layer.build(shape)
    randomize_weights(layer, rng)
    return layer


@pytest.mark.parametrize("implementation_, budget, kernel", [
    ("dense", None, "dense"), ("auto", None, "dense"), ("auto", 1024, "map_free"),
    ("chunked", None, "map_free")])
def test_a_registered_function_matches_numpy_on_each_path(rng, implementation_, budget, kernel):
    x = rng.normal(size=(2, 6, 5, 8)).astype("float32")
    layer = _layer(rng, x.shape, implementation=implementation_, max_attention_bytes=budget)
    plan = implementation.choose(layer.pairwise_function, implementation_, (2, 30, 4),
                                 (2, 30, 4), (2, 30, 4), "float32", budget)
    assert plan.kernel == kernel
    z_ref, attention_ref = linear_elu_reference(x, reference_weights(layer))
    np.testing.assert_allclose(to_numpy(layer(x)), z_ref, atol=2e-5, rtol=2e-4)
    _, attention = layer(x, return_attention_scores=True)
    np.testing.assert_allclose(to_numpy(attention), attention_ref, atol=1e-6, rtol=2e-4)


def test_the_map_free_path_has_the_gradients_of_the_map(rng):
    x = rng.normal(size=(2, 12, 8)).astype("float32")
    upstream = rng.normal(size=x.shape).astype("float32")
    grads = {}
    for name in ("dense", "chunked"):
        layer = NonLocal1D(mode="test_linear_elu", pool_size=None, normalization=None,
                           implementation=name)
        layer.build(x.shape)
        randomize_weights(layer, np.random.default_rng(7))
        grads[name] = layer_gradients(layer, x, upstream)
    for a, b in zip(grads["dense"], grads["chunked"]):
        np.testing.assert_allclose(a, b, atol=1e-5 * (np.abs(a).max() + 1e-6), rtol=1e-4)


def test_saved_and_loaded_by_name(rng, tmp_path):
    x = rng.normal(size=(2, 6, 6, 8)).astype("float32")
    inputs = keras.Input((6, 6, 8))
    block = NonLocal2D(mode="test_linear_elu", name="nl")
    model = keras.Model(inputs, block(inputs))
    randomize_weights(block, rng)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.get_layer("nl").mode == "test_linear_elu"
    assert isinstance(loaded.get_layer("nl").pairwise_function, LinearElu)
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(model(x)), atol=1e-6)


def test_the_four_modes_are_registered_functions(rng):
    assert pairwise_names()[:4] == MODES and "test_linear_elu" in pairwise_names()
    x = rng.normal(size=(2, 5, 4, 8)).astype("float32")
    for mode in MODES:
        function = get_pairwise(mode)
        assert isinstance(function, PairwiseFunction)
        layer = NonLocal2D(mode=mode, pool_size=None)
        layer.build(x.shape)
        assert type(layer.pairwise_function) is type(function)
        assert layer.pairwise_function is not get_pairwise(mode)  # each block its own
        # `attention(theta, phi)` is the map the block returns
        randomize_weights(layer, rng)
        flat = x.reshape(2, 20, 8)
        theta = layer.theta(flat) if "theta" in function.projections else flat
        phi = layer.phi(flat) if "phi" in function.projections else flat
        _, attention = layer(x, return_attention_scores=True)
        np.testing.assert_allclose(to_numpy(layer.pairwise_function.attention(theta, phi)),
                                   to_numpy(attention), atol=1e-6, rtol=1e-5)


def test_a_function_without_a_map_free_path_always_builds_the_map(rng):
    class Plain(PairwiseFunction):
        def attention(self, theta, phi):
            return ops.softmax(ops.einsum("bnd,bmd->bnm", theta, phi), axis=-1)

    assert implementation.choose(Plain(), "chunked", (1, 9, 2), (1, 9, 2), (1, 9, 2),
                                 "float32", 4).kernel == "dense"


def test_bad_registrations_and_unknown_modes_are_named():
    with pytest.raises(ValueError, match="Received: mode='no_such_mode'"):
        NonLocal2D(mode="no_such_mode")
    with pytest.raises(ValueError, match="PairwiseFunction subclass or instance"):
        register_pairwise("bad", lambda theta, phi: theta)
    with pytest.raises(ValueError, match="already registered as 'dot_product'"):
        register_pairwise("dot_product", LinearElu)

    class OnlyTheta(PairwiseFunction):
        projections = ("theta",)

    with pytest.raises(ValueError, match="must include 'g'"):
        register_pairwise("only_theta", OnlyTheta)
    register_pairwise("test_linear_elu", LinearElu)  # the same again: no error
