"""The layers against the NumPy reference of Eq. (1)-(6), on every path."""

import numpy as np
import pytest

from helpers import layer_gradients, randomize_weights, reference_weights, to_numpy
from keras_nonlocal import NonLocal1D, NonLocal2D, NonLocal3D
from nonlocal_reference import nonlocal_reference, weights_in_layer_layout

MODES = ["gaussian", "embedded_gaussian", "dot_product", "concatenation"]
# (scope, subsample pool used when subsampling is on)
SCOPES = [("spacetime", (1, 2, 2)), ("space", (1, 2, 2)), ("time", (2, 1, 1))]
SUBSAMPLE = ["off", "before", "after"]
# fast paths are run with a budget small enough to force several chunks
PATHS = [("auto", 2048), ("chunked", 2048), ("dense", None)]
ATOL, RTOL = 2e-5, 2e-4  # float32 against a float64 reference


def _build(cls, shape, rng, **kwargs):
    layer = cls(**kwargs)
    layer.build(shape)
    randomize_weights(layer, rng)
    return layer


def _check(layer, x, mode, pool, position, scope):
    w = reference_weights(layer)
    z_ref, att_ref = nonlocal_reference(
        x, w, mode, pool=pool, position=position, scope=scope, scale=layer.scale
    )
    z, att = layer(x, return_attention_scores=True)
    np.testing.assert_allclose(to_numpy(z), z_ref, atol=ATOL, rtol=RTOL)
    positions = x.shape[1:-1]
    pooled = positions if pool is None else tuple(p // s for p, s in zip(positions, pool))
    att_ref = weights_in_layer_layout(att_ref, positions, pooled, scope)
    np.testing.assert_allclose(to_numpy(att), att_ref, atol=ATOL, rtol=RTOL)
    return z_ref


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scope,pool", SCOPES)
@pytest.mark.parametrize("subsample", SUBSAMPLE)
def test_nonlocal3d_matches_reference(rng, mode, scope, pool, subsample):
    x = rng.normal(size=(2, 4, 6, 5, 6)).astype("float32")  # odd W: pooling floors
    pool = None if subsample == "off" else pool
    kwargs = dict(
        mode=mode,
        scope=scope,
        pool_size=pool,
        pool_position="after" if subsample == "after" else "before",
    )
    layer = _build(NonLocal3D, x.shape, rng, **kwargs)
    z_ref = _check(layer, x, mode, pool, kwargs["pool_position"], scope)
    # The output without attention goes through the fast paths.
    for implementation, budget in PATHS:
        other = NonLocal3D(
            implementation=implementation, max_attention_bytes=budget, **kwargs
        )
        other.build(x.shape)
        other.set_weights(layer.get_weights())
        np.testing.assert_allclose(
            to_numpy(other(x)), z_ref, atol=ATOL, rtol=RTOL,
            err_msg=f"implementation={implementation}",
        )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("subsample", SUBSAMPLE)
@pytest.mark.parametrize("cls,shape,pool", [
    (NonLocal1D, (2, 13, 6), (2,)),
    (NonLocal2D, (2, 7, 6, 6), (2, 2)),
])
def test_nonlocal1d_2d_match_reference(rng, mode, subsample, cls, shape, pool):
    x = rng.normal(size=shape).astype("float32")
    pool = None if subsample == "off" else pool
    position = "after" if subsample == "after" else "before"
    layer = _build(cls, x.shape, rng, mode=mode, pool_size=pool,
                   pool_position=position)
    z_ref = _check(layer, x, mode, pool, position, None)
    fast = cls(mode=mode, pool_size=pool, pool_position=position,
               implementation="chunked", max_attention_bytes=256)
    fast.build(x.shape)
    fast.set_weights(layer.get_weights())
    np.testing.assert_allclose(to_numpy(fast(x)), z_ref, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("scale", [False, 0.7])
def test_scale_option(rng, scale):
    x = rng.normal(size=(1, 2, 4, 4, 8)).astype("float32")
    layer = _build(NonLocal3D, x.shape, rng, scale=scale)
    _check(layer, x, "embedded_gaussian", (1, 2, 2), "before", "spacetime")


def test_bn_off_and_no_residual(rng):
    x = rng.normal(size=(2, 9, 8)).astype("float32")
    layer = _build(NonLocal1D, x.shape, rng, normalization=None, residual=False,
                   pool_size=None)
    z_ref, _ = nonlocal_reference(x, reference_weights(layer), "embedded_gaussian",
                                  normalization=None, residual=False)
    np.testing.assert_allclose(to_numpy(layer(x)), z_ref, atol=ATOL, rtol=RTOL)


def _finite_difference(f, x, upstream, eps=1e-5):
    grad = np.zeros_like(x)
    flat = grad.reshape(-1)
    for index in range(x.size):
        step = np.zeros(x.size)
        step[index] = eps
        step = step.reshape(x.shape)
        flat[index] = (np.sum(f(x + step) * upstream) - np.sum(f(x - step) * upstream)) / (2 * eps)
    return grad


@pytest.mark.parametrize("mode", MODES)
def test_input_gradient_matches_finite_differences(rng, mode):
    """d/dx of the fast path against central differences of the reference."""
    x = rng.normal(size=(1, 2, 4, 4, 4)).astype("float32")
    layer = _build(NonLocal3D, x.shape, rng, mode=mode, implementation="chunked",
                   max_attention_bytes=64)
    upstream = rng.normal(size=x.shape).astype("float32")
    w = reference_weights(layer)
    reference = lambda x64: nonlocal_reference(x64, w, mode, pool=(1, 2, 2))[0]
    expected = _finite_difference(reference, x.astype(np.float64), upstream)
    (grad_x, *_) = layer_gradients(layer, x, upstream)
    np.testing.assert_allclose(grad_x, expected, atol=2e-4, rtol=2e-3)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("scope,pool", SCOPES)
def test_fast_path_gradients_match_dense_path(rng, mode, scope, pool):
    """All gradients (input and every weight) of the memory-bounded paths
    equal those of the dense N x N path."""
    x = rng.normal(size=(2, 4, 6, 6, 6)).astype("float32")
    kwargs = dict(mode=mode, scope=scope, pool_size=pool)
    dense = _build(NonLocal3D, x.shape, rng, implementation="dense", **kwargs)
    fast = NonLocal3D(implementation="chunked", max_attention_bytes=1024, **kwargs)
    fast.build(x.shape)
    fast.set_weights(dense.get_weights())
    upstream = rng.normal(size=x.shape).astype("float32")
    expected = layer_gradients(dense, x, upstream)
    actual = layer_gradients(fast, x, upstream)
    assert len(expected) == len(actual) == 1 + len(dense.trainable_variables)
    for a, e in zip(actual, expected):
        np.testing.assert_allclose(a, e, atol=5e-5, rtol=5e-4)
