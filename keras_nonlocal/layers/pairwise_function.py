"""Pairwise functions of the non-local operation, one object per mode.

A `PairwiseFunction` says everything the block needs to know about one
choice of `f` and `C(x)` in Eq. (1) of the paper: which projections it
needs, its normalised map, how it attends (through the map, and without it
where it can), which kernel to run for a given call, and its cost. The
four modes of the paper are registered here under their names; another one
is a subclass and one `register_pairwise` call, after which
`NonLocal2D(mode=name)` builds, trains, saves and loads by name.

Shapes, as in `pairwise.py`: `theta` `(batch, N, d)`, `phi` `(batch, M, d)`,
`g` `(batch, M, d_g)`; `attend` returns `(batch, N, d_g)`, `attention` the
`(batch, N, M)` map (rows weight the values: `y = attention @ g`).

Example:

```python
class Cosine(keras_nonlocal.layers.PairwiseFunction):
    def attention(self, theta, phi):
        theta = keras.ops.normalize(theta, axis=-1)
        phi = keras.ops.normalize(phi, axis=-1)
        return keras.ops.softmax(keras.ops.einsum("bnd,bmd->bnm", theta, phi), axis=-1)

keras_nonlocal.layers.register_pairwise("cosine", Cosine)
keras_nonlocal.NonLocal2D(mode="cosine")
```
"""

import copy

import keras
from keras import ops

from keras_nonlocal.layers import implementation
from keras_nonlocal.layers import pairwise

PROJECTIONS = ("theta", "phi", "g")


class PairwiseFunction:
    """One pairwise function `f` with its normalisation `C(x)`.

    Subclass it and override `attention` (the normalised map); override
    `attend_without_map` as well where `y` has a way that never builds the
    map (the block then takes it when the map exceeds its memory budget).

    Class attributes:
        projections: which of `"theta"`, `"phi"`, `"g"` the block
            computes. Without `"theta"` (or `"phi"`) the queries (keys) are
            the block's input itself, as in the Gaussian mode.
        bounded_by_values: whether `y` is a convex combination of the values
            (a softmax): then the output projection may run in the layer's
            compute dtype; otherwise it runs in float32 (no bound on `y`).

    Each block holds its own copy of the function (`build` may give it
    weights of that block).
    """

    projections = PROJECTIONS
    bounded_by_values = False

    def build(self, layer, inner_channels):
        """Creates what the function needs on `layer` (weights, sub-layers),
        once the block knows its widths. Nothing by default."""

    def attention(self, theta, phi):
        """The normalised `(batch, N, M)` map `f(x_i, x_j) / C(x)`, float32."""
        raise NotImplementedError(
            f"{type(self).__name__} must define `attention(theta, phi)`.")

    def attend(self, theta, phi, g):
        """`y = attention @ g` through the map: `(batch, N, d_g)`."""
        return self.attend_with_map(theta, phi, g)[0]

    def attend_with_map(self, theta, phi, g):
        """`(y, attention)` through the map (y in `g`'s dtype)."""
        attention = self.attention(theta, phi)
        y = ops.einsum("bnm,bmv->bnv", ops.cast(attention, "float32"), ops.cast(g, "float32"))
        return ops.cast(y, g.dtype), attention

    def attend_without_map(self, theta, phi, g, max_bytes):
        """`y` without the `(batch, N, M)` map, or `None` when the function
        has no such way (the default). `max_bytes`: the block's budget for
        any temporary it builds."""
        return None

    def has_map_free_path(self):
        return type(self).attend_without_map is not PairwiseFunction.attend_without_map

    def plan(self, requested, q_shape, k_shape, v_shape, dtype, max_bytes):
        """The `implementation.Plan` of one call (`"dense"` or `"map_free"`):
        the map when it is asked for or fits `max_bytes`, else the map-free
        path where there is one."""
        if requested == "dense" or not self.has_map_free_path():
            return implementation.Plan("dense", "float32")
        if requested == "auto" and implementation.map_fits(q_shape, k_shape, max_bytes):
            return implementation.Plan("dense", "float32")
        return implementation.Plan("map_free", "float32")

    def compute(self, kernel, theta, phi, g, max_bytes):
        """`(y, attention or None)` with the `kernel` of the plan."""
        if kernel == "dense":
            return self.attend_with_map(theta, phi, g)
        return self.attend_without_map(theta, phi, g, max_bytes), None

    def pairwise_macs(self, queries, keys, keys_per_query, key_depth, value_depth):
        """Multiply-adds of `f` and of `f g`: `queries` queries each over
        `keys_per_query` of the `keys` keys (`keras_nonlocal.models.complexity`)."""
        return queries * keys_per_query * (key_depth + value_depth)


class _Softmax(PairwiseFunction):
    """`f = exp(s theta_i . phi_j)`, `C = sum_j f`: softmax attention."""

    bounded_by_values = True

    def build(self, layer, inner_channels):
        depth = inner_channels if "theta" in self.projections else layer.input_channels
        self.scale = layer.logit_scale(depth)

    def attention(self, theta, phi):
        return pairwise.softmax_attention_map(theta, phi, self.scale)

    def attend_with_map(self, theta, phi, g):
        return pairwise.dense_softmax_attention(theta, phi, g, self.scale)

    def attend_without_map(self, theta, phi, g, max_bytes):
        batch, nk = implementation.static_shape(phi)[:2]
        budget = max_bytes or implementation.DEFAULT_MAX_ATTENTION_BYTES
        chunk = pairwise.softmax_chunk_size(nk or 4096, batch or 1, budget)
        return pairwise.chunked_softmax_attention(theta, phi, g, self.scale, chunk)

    def plan(self, requested, q_shape, k_shape, v_shape, dtype, max_bytes):
        fused = q_shape[-1] == v_shape[-1] and implementation.fused_is_memory_bounded(dtype)
        if requested == "auto":
            if fused and implementation.on_jax_gpu():
                requested = "fused"  # flash attention: the fastest path there, whatever the size
            elif implementation.map_fits(q_shape, k_shape, max_bytes):
                requested = "dense"
            else:
                requested = "fused" if fused else "chunked"
        if requested == "fused" and q_shape[-1] != v_shape[-1]:
            raise ValueError(
                "implementation='fused' needs the key and value depths to match; with "
                f"mode='gaussian' the keys are the input ({q_shape[-1]} channels) and the values "
                f"g ({v_shape[-1]}). Received: implementation='fused'")
        dtype = keras.backend.standardize_dtype(dtype)
        half = requested == "fused" and implementation.on_jax_gpu() and dtype in \
            implementation.HALF
        return implementation.Plan(requested, dtype if half else "float32")

    def compute(self, kernel, theta, phi, g, max_bytes):
        if kernel == "fused":
            flash = keras.config.is_flash_attention_enabled()
            return pairwise.fused_softmax_attention(theta, phi, g, self.scale, flash), None
        if kernel == "chunked":
            return self.attend_without_map(theta, phi, g, max_bytes), None
        return self.attend_with_map(theta, phi, g)


class EmbeddedGaussian(_Softmax):
    """`f = exp(theta_i . phi_j)` (Eq. 3), softmax over j: the default."""


class Gaussian(_Softmax):
    """`f = exp(x_i . x_j)` (Eq. 2) on the block's input, softmax over j."""

    projections = ("g",)


class DotProduct(PairwiseFunction):
    """`f = theta_i . phi_j`, `C = M` (Eq. 4); map-free as `theta (phi^T g) / M`."""

    def attention(self, theta, phi):
        return pairwise.dot_product_attention_map(theta, phi)

    def attend_with_map(self, theta, phi, g):
        return pairwise.dense_dot_product(theta, phi, g)

    def attend_without_map(self, theta, phi, g, max_bytes):
        return pairwise.linear_dot_product(theta, phi, g)

    def plan(self, requested, q_shape, k_shape, v_shape, dtype, max_bytes):
        dense = requested == "dense" or (
            requested == "auto" and implementation.map_fits(q_shape, k_shape, max_bytes)
            and implementation.dense_is_cheaper(q_shape, k_shape, v_shape))
        return implementation.Plan("dense" if dense else "linear", "float32")


class Concatenation(PairwiseFunction):
    """`f = ReLU(w_f^T [theta_i, phi_j])`, `C = M` (Eq. 5); map-free through
    sorted suffix sums. `w_f` is the block's `concat_project` layer."""

    def build(self, layer, inner_channels):
        layer.concat_project = layer.projection(1, "concat_project", 2 * inner_channels,
                                                use_bias=False)
        self.project = layer.concat_project

    def _terms(self, theta, phi):
        """`a_i = w_theta . theta_i` and `b_j = w_phi . phi_j`: `(batch, N)`, `(batch, M)`."""
        inner = self.project.kernel.shape[0] // 2
        w = ops.cast(self.project.kernel, theta.dtype)
        return (ops.squeeze(ops.matmul(theta, w[:inner]), -1),
                ops.squeeze(ops.matmul(phi, w[inner:]), -1))

    def attention(self, theta, phi):
        return pairwise.concatenation_attention_map(*self._terms(theta, phi))

    def attend_with_map(self, theta, phi, g):
        return pairwise.dense_concatenation(*self._terms(theta, phi), g)

    def attend_without_map(self, theta, phi, g, max_bytes):
        return pairwise.sorted_concatenation(*self._terms(theta, phi), g)

    def plan(self, requested, q_shape, k_shape, v_shape, dtype, max_bytes):
        dense = requested == "dense" or (
            requested == "auto" and implementation.map_fits(q_shape, k_shape, max_bytes))
        return implementation.Plan("dense" if dense else "sorted", "float32")

    def pairwise_macs(self, queries, keys, keys_per_query, key_depth, value_depth):
        # w_f^T theta_i once per query and w_f^T phi_j once per key; f g per pair
        return (queries + keys) * key_depth + queries * keys_per_query * value_depth


_REGISTRY = {}


def register_pairwise(name, function):
    """Registers a pairwise function under `name` for the blocks' `mode`.

    Args:
        name: the `mode` string (saved in a block's config; register it
            again before loading a model that uses it).
        function: a `PairwiseFunction` subclass, or an instance of one (each
            block then gets a copy of it).

    Raises:
        ValueError: `name` is taken by another function or is not a string,
            or `function` is not a `PairwiseFunction`.
    """
    is_class = isinstance(function, type) and issubclass(function, PairwiseFunction)
    if not (is_class or isinstance(function, PairwiseFunction)):
        raise ValueError("`function` must be a PairwiseFunction subclass or instance. "
                         f"Received: function={function!r}")
    if not isinstance(name, str) or not name:
        raise ValueError(f"`name` must be a non-empty string. Received: name={name!r}")
    missing = set(function.projections) - set(PROJECTIONS)
    if "g" not in function.projections or missing:
        raise ValueError(f"`projections` must include 'g' and name only {PROJECTIONS}. "
                         f"Received: projections={function.projections!r}")
    previous = _REGISTRY.get(name)
    if previous is not None and previous is not function:
        raise ValueError(f"A pairwise function is already registered as {name!r}: "
                         f"{previous!r}. Received: name={name!r}")
    _REGISTRY[name] = function


def pairwise_names():
    """The registered `mode` names, the paper's four first."""
    return tuple(_REGISTRY)


def get_pairwise(name):
    """A new `PairwiseFunction` for `mode=name` (a block's own copy)."""
    if name not in _REGISTRY:
        raise ValueError(f"`mode` must be one of {pairwise_names()} (or a name given to "
                         f"`keras_nonlocal.layers.register_pairwise`). Received: mode={name!r}")
    function = _REGISTRY[name]
    return function() if isinstance(function, type) else copy.copy(function)


for _name, _function in (("gaussian", Gaussian), ("embedded_gaussian", EmbeddedGaussian),
                         ("dot_product", DotProduct), ("concatenation", Concatenation)):
    register_pairwise(_name, _function)
BUILTIN_MODES = pairwise_names()
