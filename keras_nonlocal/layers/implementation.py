"""Which exact kernel computes a non-local block's pairwise term, and in which dtype.

A policy, separate from the layer: `choose()` asks the mode's
`PairwiseFunction.plan` (layers/pairwise_function.py), which looks at the
`implementation` the user asked for, the static shapes, the dtype, the
memory budget and the backend, and returns a `Plan`. Every kernel is exact
(`pairwise.py`); they differ in time and memory. The measurements behind
each rule are in benchmarks/RESULTS.md ("Why `implementation="auto"` picks
what it picks"); `tests/layers/test_implementation_choice.py` pins them.

Precision: everything from the projections on (logits, softmax, the `1/N`
sums and products) is computed in float32, whatever the layer's dtype, so
float16's range (65504) is never at stake; the one exception is the fused
kernel on a JAX GPU, whose flash attention takes half-precision inputs and
accumulates the logits and the softmax in float32 itself.
"""

import collections

import keras

IMPLEMENTATIONS = ("auto", "dense", "chunked", "fused")
DEFAULT_MAX_ATTENTION_BYTES = 256 * 1024 * 1024
HALF = ("float16", "bfloat16")

Plan = collections.namedtuple("Plan", ["kernel", "dtype"])
Plan.__doc__ = """`kernel`: `"dense"` (the `N x N'` map), `"chunked"` (query
blocks, recomputing backward), `"fused"` (`keras.ops.dot_product_attention`),
`"linear"` (dot product as `theta (phi^T g) / N`), `"sorted"` (concatenation
by sorted suffix sums) or `"map_free"` (a registered function's own path).
`dtype`: what q, k and v are cast to."""


def choose(mode, requested, q_shape, k_shape, v_shape, dtype, max_bytes=None,
           return_attention=False):
    """The `Plan` of one call.

    Args:
        mode: the pairwise function: a registered name or a
            `PairwiseFunction` (its `plan` holds the mode's own rules).
        requested: the layer's `implementation` (`IMPLEMENTATIONS`).
        q_shape, k_shape, v_shape: `(B, Nq, dq)`, `(B, Nk, dq)`, `(B, Nk, dv)`,
            static where known (None otherwise).
        dtype: the projections' dtype (the layer's compute dtype).
        max_bytes: the largest float32 map (or block of it) to hold at once.
        return_attention: the map is wanted: always `"dense"`.
    """
    if return_attention:
        return Plan("dense", "float32")
    if isinstance(mode, str):
        from keras_nonlocal.layers.pairwise_function import get_pairwise

        mode = get_pairwise(mode)
    budget = max_bytes or DEFAULT_MAX_ATTENTION_BYTES
    return mode.plan(requested, q_shape, k_shape, v_shape, dtype, budget)


def static_shape(t):
    """`t.shape` with None for every dimension not known as an int."""
    return tuple(d if isinstance(d, int) else None for d in t.shape)


def map_fits(q_shape, k_shape, max_bytes):
    """Whether the float32 `(B, Nq, Nk)` map fits `max_bytes` (static shapes only)."""
    dims = (q_shape[0], q_shape[1], k_shape[1])
    if any(not isinstance(d, int) for d in dims):
        return False
    batch, nq, nk = dims
    return 4 * batch * nq * nk <= max_bytes


def dense_is_cheaper(q_shape, k_shape, v_shape):
    """Whether `(q k^T) v` takes fewer multiply-adds than `q (k^T v)`."""
    nq, nk, dq, dv = q_shape[1], k_shape[1], q_shape[-1], v_shape[-1]
    if any(not isinstance(d, int) for d in (nq, nk, dq, dv)):
        return False
    return nq * nk * (dq + dv) < (nq + nk) * dq * dv


def on_jax_gpu():
    if keras.backend.backend() != "jax":
        return False
    import jax

    return jax.default_backend() == "gpu"


def fused_is_memory_bounded(dtype):
    """Whether `keras.ops.dot_product_attention` runs without the whole map here.

    PyTorch: `scaled_dot_product_attention` (memory-efficient kernels, on the
    CPU too). JAX: only its flash attention (a GPU, half precision, and
    `keras.config.is_flash_attention_enabled()` not False). TensorFlow: never.
    """
    backend = keras.backend.backend()
    if backend == "torch":
        return True
    if backend == "jax":
        if keras.config.is_flash_attention_enabled() is False:
            return False
        return on_jax_gpu() and keras.backend.standardize_dtype(dtype) in HALF
    return False


def pool_dtype(dtype, rank):
    """The dtype a max-pool of the block's input runs in: TensorFlow has no
    half-precision MaxPool3D kernel on the CPU, so rank-3 inputs are pooled
    in float32 there (exact: a max commutes with widening)."""
    dtype = keras.backend.standardize_dtype(dtype)
    if keras.backend.backend() == "tensorflow" and rank == 3 and dtype in HALF:
        return "float32"
    return dtype
