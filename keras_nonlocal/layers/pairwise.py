"""Pairwise kernels of the non-local operation, Eq. (1) of the paper.

Every function here takes flattened, batched positions:

- `q`: queries, shape `(B, Nq, dq)` (theta(x_i), or x_i for "gaussian");
- `k`: keys, shape `(B, Nk, dq)` (phi(x_j), or x_j for "gaussian");
- `v`: values, shape `(B, Nk, dv)` (g(x_j));

and returns `y` of shape `(B, Nq, dv)`, where
`y_i = 1 / C(x) * sum_j f(q_i, k_j) v_j`.

Several exact ways of computing the same `y` exist; they differ in time and
memory. `dense_*` functions materialise the `Nq x Nk` map; the others never
do. All of them are written with `keras.ops` only and run on every backend.
"""

import math

import keras
from keras import ops

# ---------------------------------------------------------------------------
# Softmax modes ("gaussian", "embedded_gaussian"): f = exp(s_ij), C = sum_j f.
# ---------------------------------------------------------------------------


def softmax_attention_map(q, k, scale):
    """Returns the normalised map `softmax_j(scale * q_i . k_j)` in float32."""
    logits = ops.einsum("bqd,bkd->bqk", q, k)
    logits = ops.cast(logits, "float32") * scale
    return ops.softmax(logits, axis=-1)


def dense_softmax_attention(q, k, v, scale):
    """Softmax attention through the full `(B, Nq, Nk)` map.

    The logits and the softmax are computed in float32 whatever the input
    dtype. Returns `(y, attention)`.
    """
    attention = softmax_attention_map(q, k, scale)
    y = ops.einsum("bqk,bkv->bqv", ops.cast(attention, v.dtype), v)
    return y, attention


def fused_softmax_attention(q, k, v, scale, flash_attention=None):
    """Softmax attention through `keras.ops.dot_product_attention`.

    Uses the backend's fused kernel (cuDNN flash attention on JAX GPUs,
    `scaled_dot_product_attention` on PyTorch). Requires `dq == dv`.
    `flash_attention`: as the op's argument (None: when the backend can).
    """
    y = ops.dot_product_attention(
        q[:, :, None, :], k[:, :, None, :], v[:, :, None, :], scale=scale,
        flash_attention=flash_attention,
    )
    return y[:, :, 0, :]


def _chunk_queries(x, num_chunks, chunk):
    """(B, Nq, d) -> (num_chunks, B, chunk, d), zero padded at the end."""
    nq = ops.shape(x)[1]
    x = ops.pad(x, [[0, 0], [0, num_chunks * chunk - nq], [0, 0]])
    x = ops.reshape(x, (ops.shape(x)[0], num_chunks, chunk, ops.shape(x)[-1]))
    return ops.transpose(x, (1, 0, 2, 3))


def _unchunk_queries(x, nq):
    """(num_chunks, B, chunk, d) -> (B, Nq, d)."""
    x = ops.transpose(x, (1, 0, 2, 3))
    shape = ops.shape(x)
    x = ops.reshape(x, (shape[0], shape[1] * shape[2], shape[3]))
    return x[:, :nq]


def query_blocks(num_queries, chunk_size):
    """`(number of blocks, queries per block)` for `num_queries` queries (a
    Python int when known) in blocks of at most `chunk_size`. A block never
    holds more queries than there are: the queries are zero padded up to
    `blocks x size`, so a budget-sized block over a few queries (a
    `scope="time"` block, a small input) would allocate for nothing. When
    the count is only known at run time, blocks hold at most
    `MAX_DYNAMIC_BLOCK` queries."""
    chunk = max(1, int(chunk_size))
    if isinstance(num_queries, int):
        chunk = min(chunk, max(1, num_queries))
    else:
        chunk = min(chunk, MAX_DYNAMIC_BLOCK)
    return (num_queries + chunk - 1) // chunk, chunk


MAX_DYNAMIC_BLOCK = 8192


def chunked_softmax_attention(q, k, v, scale, chunk_size):
    """Memory-bounded exact softmax attention (forward and backward).

    Queries are processed `chunk_size` at a time, so at most a
    `(B, chunk_size, Nk)` block of the map exists at once. The gradient is
    computed the same way (the map is recomputed block by block from the
    saved log-sum-exp, as in FlashAttention), so training memory is
    `O(N d)` instead of `O(N^2)`. Computed in float32.

    Args:
        q, k, v: see the module docstring.
        scale: the factor applied to the logits.
        chunk_size: number of queries per block (a Python int).

    Returns:
        `y`, shape `(B, Nq, dv)`, in the dtype of `v`.
    """
    out_dtype = v.dtype
    q, k, v = (ops.cast(t, "float32") for t in (q, k, v))
    nq = ops.shape(q)[1]
    num_chunks, chunk = query_blocks(nq, chunk_size)

    @ops.custom_gradient
    def attend(q, k, v):
        # Nothing below is differentiated by the framework: without the stop,
        # TensorFlow's eager tape would record (and keep alive) every block.
        q, k, v = (ops.stop_gradient(t) for t in (q, k, v))
        q_chunks = _chunk_queries(q, num_chunks, chunk)

        def forward_block(q_block):
            probs, lse = _block_probs(q_block, k, scale)
            return ops.einsum("bck,bkv->bcv", probs, v), lse

        y_chunks, lse_chunks = ops.map(forward_block, q_chunks)
        y = _unchunk_queries(y_chunks, nq)

        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return _chunked_softmax_grads(q_chunks, k, v, y, lse_chunks, upstream, scale,
                                          (nq, num_chunks, chunk))

        return y, grad

    return ops.cast(attend(q, k, v), out_dtype)


def _block_probs(q_block, k, scale, lse_block=None):
    """A block of the softmax map and its rows' log-sum-exp (given, or computed)."""
    logits = ops.einsum("bcd,bkd->bck", q_block, k) * scale
    if lse_block is None:
        lse_block = ops.logsumexp(logits, axis=-1)
    return ops.exp(logits - lse_block[..., None]), lse_block


def _chunked_softmax_grads(q_chunks, k, v, y, lse_chunks, upstream, scale, blocks):
    """`(dq, dk, dv)` of `chunked_softmax_attention`, block by block;
    `blocks`: `(queries, number of blocks, queries per block)`."""
    nq, num_chunks, chunk = blocks
    dy = ops.cast(upstream, "float32")
    # D_i = sum_v dy_iv * y_iv (the softmax Jacobian's diagonal term).
    delta = ops.sum(dy * y, axis=-1, keepdims=True)
    xs = (q_chunks, _chunk_queries(dy, num_chunks, chunk), lse_chunks,
          _chunk_queries(delta, num_chunks, chunk)[..., 0])

    def accumulate(carry, x):
        dk, dv = carry
        q_block, dy_block, lse_block, delta_block = x
        probs, _ = _block_probs(q_block, k, scale, lse_block)
        dprobs = ops.einsum("bcv,bkv->bck", dy_block, v)
        dlogits = probs * (dprobs - delta_block[..., None]) * scale
        dv = dv + ops.einsum("bck,bcv->bkv", probs, dy_block)
        dk = dk + ops.einsum("bck,bcd->bkd", dlogits, q_block)
        return (dk, dv), ops.einsum("bck,bkd->bcd", dlogits, k)

    init = (ops.zeros_like(k), ops.zeros_like(v))
    if keras.backend.backend() != "tensorflow":
        # One pass: dk, dv accumulate in the carry, dq blocks stack.
        (dk, dv), dq_chunks = ops.scan(accumulate, init, xs)
    else:
        # ops.scan on TensorFlow needs outputs shaped like its carry, so dq
        # is carried as a buffer that each block writes into.
        def accumulate_into(i, carry):
            dq, dk, dv = carry
            (dk, dv), dq_block = accumulate((dk, dv), tuple(t[i] for t in xs))
            return ops.slice_update(dq, (i, 0, 0, 0), dq_block[None]), dk, dv

        dq_chunks, dk, dv = ops.fori_loop(0, num_chunks, accumulate_into,
                                          (ops.zeros_like(q_chunks),) + init)
    return _unchunk_queries(dq_chunks, nq), dk, dv


# ---------------------------------------------------------------------------
# "dot_product": f = q_i . k_j, C = Nk.
# ---------------------------------------------------------------------------


def dot_product_attention_map(q, k):
    """Returns the normalised map `(q_i . k_j) / Nk` in float32."""
    logits = ops.cast(ops.einsum("bqd,bkd->bqk", q, k), "float32")
    return logits / ops.cast(ops.shape(k)[1], "float32")


def dense_dot_product(q, k, v):
    """Dot-product pairwise function through the `(B, Nq, Nk)` map."""
    attention = dot_product_attention_map(q, k)
    y = ops.einsum("bqk,bkv->bqv", attention, ops.cast(v, "float32"))
    return ops.cast(y, v.dtype), attention


def linear_dot_product(q, k, v):
    """Dot-product pairwise function as `q (k^T v) / Nk`: `O(N d^2)` work.

    Exact (associativity of the matrix product); never builds the map.
    The reduction over key positions runs in float32.
    """
    out_dtype = v.dtype
    q, k, v = (ops.cast(t, "float32") for t in (q, k, v))
    context = ops.einsum("bkd,bkv->bdv", k, v)
    context = context / ops.cast(ops.shape(k)[1], "float32")
    return ops.cast(ops.einsum("bqd,bdv->bqv", q, context), out_dtype)


# ---------------------------------------------------------------------------
# "concatenation": f = ReLU(w^T [q_i, k_j]) = ReLU(a_i + b_j), C = Nk,
# with a_i = w_q . q_i and b_j = w_k . k_j.
# ---------------------------------------------------------------------------


def concatenation_attention_map(a, b):
    """Returns the normalised map `ReLU(a_i + b_j) / Nk` in float32.

    Args:
        a: `(B, Nq)` query terms. b: `(B, Nk)` key terms.
    """
    a = ops.cast(a, "float32")
    b = ops.cast(b, "float32")
    f = ops.relu(ops.expand_dims(a, 2) + ops.expand_dims(b, 1))  # no new-axis slices: LiteRT
    return f / ops.cast(ops.shape(b)[1], "float32")


def dense_concatenation(a, b, v):
    """Concatenation pairwise function through the `(B, Nq, Nk)` map."""
    attention = concatenation_attention_map(a, b)
    y = ops.einsum("bqk,bkv->bqv", attention, ops.cast(v, "float32"))
    return ops.cast(y, v.dtype), attention


def _suffix_sum(x):
    """Suffix sums along axis 1 with a trailing zero row: (B, N, d) -> (B, N+1, d)."""
    suffix = ops.flip(ops.cumsum(ops.flip(x, axis=1), axis=1), axis=1)
    zeros = ops.zeros_like(x[:, :1])
    return ops.concatenate([suffix, zeros], axis=1)


def _count_less_equal(sorted_b, t):
    """For each t_i, the number of entries of the sorted rows `sorted_b` <= t_i.

    A batched `searchsorted(side="right")` built from one joint argsort, so
    it works on every backend. Ties are irrelevant to the callers (they
    contribute ReLU(0) = 0).
    """
    nk = ops.shape(sorted_b)[1]
    merged = ops.concatenate([sorted_b, t], axis=1)
    order = ops.argsort(merged, axis=-1)
    is_key = ops.cast(order < nk, "int32")
    keys_so_far = ops.cumsum(is_key, axis=1)
    rank = ops.argsort(order, axis=-1)  # inverse permutation
    query_rank = rank[:, nk:]
    return ops.take_along_axis(keys_so_far, query_rank, axis=1)


def sorted_concatenation(a, b, v):
    """Concatenation pairwise function in `O(N log N + N d)`, exact.

    `sum_j ReLU(a_i + b_j) v_j = a_i * sum_{j: b_j > -a_i} v_j
    + sum_{j: b_j > -a_i} b_j v_j`. With the `b_j` sorted, both sums are
    suffix sums read at the position where `-a_i` falls, so neither the
    `Nq x Nk` map nor any `Nq x Nk x d` tensor is built. Gradients flow
    through the sort permutation, the cumulative sums and the gathers
    (ReLU's derivative is the indicator, constant almost everywhere).

    Args:
        a: `(B, Nq)` query terms. b: `(B, Nk)` key terms. v: `(B, Nk, dv)`.
    """
    out_dtype = v.dtype
    a = ops.cast(a, "float32")
    b = ops.cast(b, "float32")
    v = ops.cast(v, "float32")
    dv = ops.shape(v)[2]
    order = ops.stop_gradient(ops.argsort(b, axis=-1))
    sorted_b = ops.take_along_axis(b, order, axis=1)
    sorted_v = ops.take_along_axis(v, _expand_index(order, dv), axis=1)
    sum_v = _suffix_sum(sorted_v)
    sum_bv = _suffix_sum(sorted_b[..., None] * sorted_v)
    start = ops.stop_gradient(_count_less_equal(sorted_b, -a))
    start = _expand_index(start, dv)
    y = a[..., None] * ops.take_along_axis(sum_v, start, axis=1)
    y = y + ops.take_along_axis(sum_bv, start, axis=1)
    y = y / ops.cast(ops.shape(b)[1], "float32")
    return ops.cast(y, out_dtype)


def _expand_index(index, depth):
    """(B, N) integer index -> (B, N, depth), for take_along_axis on axis 1."""
    index = ops.cast(index, "int32")[..., None]
    return ops.broadcast_to(index, (ops.shape(index)[0], ops.shape(index)[1], depth))


def softmax_chunk_size(num_keys, batch, max_bytes):
    """Queries per block so that the live float32 blocks fit `max_bytes`.

    `max_bytes` bounds one `(batch, chunk, Nk)` float32 block. TensorFlow
    runs up to 10 iterations of a graph-mode loop at once (the default
    `parallel_iterations` of `tf.while_loop`/`tf.map_fn`, which
    `keras.ops` does not expose), so there the block is 10x smaller
    (benchmarks/RESULTS.md has the measurement).
    """
    parallel = 10 if keras.backend.backend() == "tensorflow" else 1
    per_query = 4 * max(1, int(num_keys)) * max(1, int(batch)) * parallel
    return max(1, int(max_bytes // per_query))


def default_scale(depth):
    """The 1/sqrt(depth) logit scale of the original release (USE_SCALE)."""
    return 1.0 / math.sqrt(float(depth))
