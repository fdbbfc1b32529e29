"""Mixed precision: float16's range is never at stake, and Keras' own layer
harness passes, for every rank x mode (this file runs on every backend).

Before the fix the softmax modes computed their logits in the policy's
half-precision dtype and cast them to float32 afterwards: on inputs whose
logits pass float16's 65504, `mixed_float16` gave inf / NaN where float32's
output is finite. NonLocal3D did not run at all under `mixed_float16` on
TensorFlow's CPU (no float16 MaxPool3D kernel there).
"""

import keras
import numpy as np
import pytest
from keras.src import testing

from helpers import MODES, to_numpy
from keras_nonlocal import NonLocal1D, NonLocal2D, NonLocal3D

FLOAT16_MAX = 65504.0
# 128 channels, as the case: the logits of its inputs pass 65504 (checked)
RANKS = {1: (NonLocal1D, (2, 16, 128)), 2: (NonLocal2D, (1, 6, 6, 128)),
         3: (NonLocal3D, (1, 2, 6, 6, 128))}
# Kernels of the overflow tests: the 0.25, smaller where the output
# (cubic in the scale without a softmax) would not fit float16 at all.
KERNEL_STD = {"gaussian": 0.25, "embedded_gaussian": 0.25, "dot_product": 0.05,
              "concatenation": 0.05}
TOLERANCE = {"mixed_float16": 1e-2, "mixed_bfloat16": 5e-2}


def _pair(rank, mode, pool_size, policy, input_std, kernel_std, rng, **kwargs):
    """The float32 block and the `policy` block with the same random weights
    (BN at unit scale, so the non-local term reaches the output), their
    outputs on one input, and the logits a dense float32 pass computes."""
    cls, shape = RANKS[rank]
    reference = cls(mode=mode, pool_size=pool_size, **kwargs)
    reference.build(shape)
    for w in reference.weights:
        name = w.path.rsplit("/", 1)[-1]
        if name in ("gamma", "moving_variance"):
            value = np.ones(w.shape)
        elif name in ("beta", "moving_mean", "bias"):
            value = rng.normal(0, 0.1, w.shape)
        else:
            value = rng.normal(0, kernel_std, w.shape)
        w.assign(value.astype("float32"))
    mixed = cls(mode=mode, pool_size=pool_size, dtype=policy, **kwargs)
    mixed.build(shape)
    mixed.set_weights(reference.get_weights())
    x = (rng.normal(size=shape) * input_std).astype("float32")
    expected = to_numpy(reference(x))
    got = to_numpy(keras.ops.cast(mixed(x), "float32"))
    return expected, got, _largest_logit(reference, x, mode)


def _largest_logit(layer, x, mode):
    """max |q_i . k_j| before the scale: what a half-precision einsum would
    hold (the softmax sees it times the layer's 1/sqrt(d))."""
    if mode not in ("gaussian", "embedded_gaussian", "dot_product"):
        return 0.0
    flat = x.reshape(x.shape[0], -1, x.shape[-1]).astype(np.float64)
    if mode == "gaussian":
        q = k = flat
    else:
        q = flat @ to_numpy(layer.theta.kernel) + to_numpy(layer.theta.bias)
        k = flat @ to_numpy(layer.phi.kernel) + to_numpy(layer.phi.bias)
    return float(np.abs(np.einsum("bqd,bkd->bqk", q, k)).max())


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("pool_size", [None, 2])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_finite_wherever_float32_is_representable(rng, rank, mode, pool_size, policy):
    """The issue's case (kernels std 0.25), input std 25 so that the raw
    input's own logits (mode="gaussian") pass float16's range too."""
    expected, got, logit = _pair(rank, mode, pool_size, policy, 25.0, KERNEL_STD[mode], rng)
    if mode in ("gaussian", "embedded_gaussian"):
        assert logit > FLOAT16_MAX, "the input must overflow float16 logits to test anything"
    representable = np.abs(expected) < FLOAT16_MAX / 2
    assert representable.mean() > 0.5
    bad = ~np.isfinite(got[representable])
    assert not bad.any(), f"{bad.sum()} non-finite values of {bad.size} (float32: finite)"


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("pool_size", [None, 2])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("rank", [1, 2, 3])
def test_close_to_float32_where_no_softmax_saturates(rng, rank, mode, pool_size, policy):
    """Inputs of std 0.5: scaled logits of order 1. Without the residual, the
    output is the block's own term, so its error is measured alone."""
    expected, got, logit = _pair(rank, mode, pool_size, policy, 0.5, 0.05, rng, residual=False)
    assert logit / np.sqrt(128 if mode == "gaussian" else 64) < 5
    error = np.abs(got - expected).max() / np.abs(expected).max()
    assert error <= TOLERANCE[policy], error


@pytest.mark.parametrize("scope", ["space", "time"])
@pytest.mark.parametrize("mode", MODES)
def test_scopes_under_float16(rng, mode, scope):
    pool_size = (1, 2, 2) if scope == "space" else (2, 1, 1)
    expected, got, _ = _pair(3, mode, pool_size, "mixed_float16", 25.0, KERNEL_STD[mode], rng,
                             scope=scope)
    representable = np.abs(expected) < FLOAT16_MAX / 2
    assert np.isfinite(got[representable]).all()
    expected, got, _ = _pair(3, mode, pool_size, "mixed_float16", 0.5, 0.05, rng, scope=scope,
                             residual=False)
    assert np.abs(got - expected).max() <= 1e-2 * np.abs(expected).max()


class _Harness(testing.TestCase):
    def runTest(self):
        pass


# Trainable weights: theta, phi, g, W_z (kernel + bias) and BN's gamma, beta;
# "gaussian" has no theta / phi; "concatenation" adds w_f.
TRAINABLE = {"gaussian": 6, "embedded_gaussian": 10, "dot_product": 10, "concatenation": 11}
VARIANTS = [
    (1, {}), (2, {}), (3, {}),
    (3, dict(pool_size=None)),
    (3, dict(pool_position="after")),
    (3, dict(scope="space")),
    (3, dict(scope="time", pool_size=(2, 1, 1))),
    (2, dict(normalization=None)),
]


@pytest.mark.parametrize("rank,kwargs", VARIANTS)
@pytest.mark.parametrize("mode", MODES)
def test_keras_layer_harness(mode, rank, kwargs):
    """`keras.src.testing.TestCase.run_layer_test`: serialisation, symbolic
    and eager shapes, weight counts, a compiled training step and (except on
    PyTorch's CPU, which Keras skips) the mixed_float16 check."""
    cls, shape = RANKS[rank]
    shape = shape[:-1] + (8,)
    bn = kwargs.get("normalization", "batch_norm") is not None
    _Harness().run_layer_test(
        cls, init_kwargs=dict(mode=mode, **kwargs), input_shape=shape,
        expected_output_shape=shape,
        expected_num_trainable_weights=TRAINABLE[mode] - (0 if bn else 2),
        expected_num_non_trainable_weights=2 if bn else 0,
        expected_num_seed_generators=0, supports_masking=False)
