"""Non-local blocks (Wang et al., CVPR 2018) for 1D, 2D and 3D inputs."""

import inspect

import keras
from keras import ops

from keras_nonlocal.layers import implementation
from keras_nonlocal.layers.affine import Affine
from keras_nonlocal.layers.fused_batch_norm import FusedBatchNormalization
from keras_nonlocal.layers.pairwise import default_scale
from keras_nonlocal.layers.pairwise_function import BUILTIN_MODES
from keras_nonlocal.layers.pairwise_function import get_pairwise
from keras_nonlocal.layers.pooling import max_pool_3d
from keras_nonlocal.layers.sync_batch_norm import SyncBatchNormalization
from keras_nonlocal.settings import apply_renames
from keras_nonlocal.settings import check_choice

MODES = BUILTIN_MODES  # the paper's four; `register_pairwise` adds others
SCOPES = ("spacetime", "space", "time")
POOL_POSITIONS = ("before", "after")
# Renamed arguments, accepted with a warning for this release (old configs too).
RENAMED_ARGUMENTS = {"subsample": "pool_size", "subsample_position": "pool_position",
                     "use_bn": "normalization"}
NORMALIZATIONS = ("batch_norm", "affine", None)
IMPLEMENTATIONS = implementation.IMPLEMENTATIONS


class NonLocalBase(keras.layers.Layer):
    """Rank-generic non-local block: `z = BN(W_z y) + x`, Eq. (1) and (6).

    Use `NonLocal1D`, `NonLocal2D` or `NonLocal3D`; this class holds their
    shared implementation. Inputs are channels_last.

    Args:
        rank: number of position axes (1, 2 or 3).
        mode: pairwise function, one of `"embedded_gaussian"` (default,
            `f = exp(theta_i . phi_j)`, softmax over j), `"gaussian"`
            (`f = exp(x_i . x_j)` on the raw input, softmax over j),
            `"dot_product"` (`f = theta_i . phi_j`, `C = N`) or
            `"concatenation"` (`f = ReLU(w^T [theta_i, phi_j])`, `C = N`), or
            the name of a `PairwiseFunction` given to
            `keras_nonlocal.layers.register_pairwise`.
        inner_channels: channels of theta, phi and g. Defaults to half the
            input channels (the paper's bottleneck).
        pool_size: the max-pool of the keys and values (the paper's
            "subsampling trick"), stride = pool size, no padding. An int `s`
            (default 2, the paper's setting): `s` on each spatial axis (1 x s
            x s for 3D inputs, time not pooled). A tuple: the pool of every
            position axis. `None`: no pooling. (Formerly `subsample`, whose
            `True` is 2 and `False` None.)
        pool_position: `"before"` (default) pools the input before the
            phi and g projections, as the original release, PySlowFast and
            pytorchvideo do; `"after"` pools their outputs, as the paper text,
            mmaction2 and most PyTorch ports do. Both exist so that weights
            from either family reproduce their outputs. (Formerly
            `subsample_position`.)
        scale: logit scale of the softmax modes. `True` (default) multiplies
            the logits by `1/sqrt(d)` (d = inner_channels, or the input
            channels for `"gaussian"`), as the original release
            (`USE_SCALE`) and pytorchvideo do; it keeps the softmax from
            saturating when channels are many. `False` gives the paper's
            Eq. (2)/(3) literally. A float sets the factor.
        scope: NonLocal3D only: `"spacetime"` (default, j over all
            positions), `"space"` (j in the same frame) or `"time"` (j at the
            same spatial position), the paper's Table 2d.
        frames_per_group: NonLocal3D with scope `"spacetime"` only: attend
            within consecutive groups of this many frames (frames 0..g-1,
            g..2g-1, ...; the time axis must divide), as the res3 blocks of
            the release's long-clip and LFB networks do (groups of 4, to
            bound the memory of long clips). `None` (default): one group.
        normalization: what follows W_z, initialised so that a new block is
            the identity: `"batch_norm"` (default; gamma starts at zero),
            `"affine"` (`Affine`, a batch norm with frozen statistics, as the
            LFB networks have; its scale starts at zero) or `None` (nothing;
            W_z starts at zero, as the release's long-clip networks have).
            (Formerly `use_bn`: `True` is `"batch_norm"`, `False` None.)
        residual: add the input to the output (Eq. 6). Default `True`.
        use_bias: biases on the theta, phi, g and W_z projections.
        output_bias: a bias on W_z (when `use_bias`). `True` as the original
            release, PySlowFast and pytorchvideo; mmaction2 (mmcv) has none
            when BN follows W_z, so its checkpoints need `False`.
        kernel_initializer: initializer of the projection kernels. Defaults
            to `RandomNormal(stddev=0.01)`, as in the original release.
            Each projection (theta, phi, g, W_z and concatenation's w_f) gets
            its own copy of the initializer, so they start independent; an
            initializer with a fixed `seed` gives each copy its own seed
            (`seed`, `seed + 1`, ...), so the layer stays reproducible.
        bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: as in `keras.layers.Dense`.
        bn_momentum, bn_epsilon: of the BatchNormalization (0.9 and 1e-5, the
            PyTorch/Caffe2 defaults expressed the Keras way).
        implementation: `"auto"` (default), `"dense"` (the `N x N'` map),
            `"chunked"` (queries in blocks with a recomputing backward pass,
            memory `O(N d)`) or `"fused"` (`keras.ops.dot_product_attention`,
            flash attention as `keras.config.is_flash_attention_enabled()`
            says). `"auto"` takes the fastest exact path that fits
            `max_attention_bytes` (`keras_nonlocal.layers.implementation`
            holds the rules). `"dot_product"` without the map is
            `theta (phi^T g) / N` and `"concatenation"` sorts the `phi`
            terms (`O(N log N)`); both build the map only when it fits and
            is cheaper, or when asked (`"dense"`, or the attention returned).
        max_attention_bytes: the largest float32 attention map (or block of
            it) the layer may hold at once. Defaults to 256 MiB.
        synchronized_bn: batch statistics over all replicas of a
            tf.distribute strategy (TensorFlow backend) instead of per replica,
            with `SyncBatchNormalization`.
        fused_bn: TensorFlow's fused batch-norm kernel in training
            (`FusedBatchNormalization`: the same function, faster on a CPU)
            instead of `keras.layers.BatchNormalization`; the zoo's networks
            ask for it, a block of your own does not unless told. Other
            backends run Keras' layer either way.
        **kwargs: base layer arguments (`name`, `dtype`, ...). Under a mixed
            precision policy (`"mixed_float16"`, `"mixed_bfloat16"`) the
            projections run in half precision and everything between them
            (logits, softmax, the `1/N` sums and products) in float32; so
            does `W_z` for `"dot_product"` and `"concatenation"`, whose `y`
            no softmax bounds.

    Call arguments:
        inputs: tensor of shape `(batch, *positions, channels)`.
        training: whether BatchNormalization runs in training mode.
        return_attention_scores: if `True`, also return the normalised pairwise
            weights `f(x_i, x_j) / C(x)` in float32 (the softmax for the
            Gaussian modes, `f / N` for the others). Their shape is
            `(batch, N, N')` with `N` the number of positions and `N'` the
            number of (subsampled) key positions, flattened in row-major
            order; for NonLocal3D with `scope="space"` it is
            `(batch, T, H*W, H'*W')`, with `scope="time"`
            `(batch, H*W, T, T')` and with `frames_per_group=g`
            `(batch, T/g, g*H*W, g*H'*W')`. Building it costs `O(N N')`
            memory.

    Returns:
        A tensor of the input's shape, or `(output, attention)`.
    """

    def __init__(
        self,
        rank,
        mode="embedded_gaussian",
        inner_channels=None,
        pool_size=2,
        pool_position="before",
        scale=True,
        scope=None,
        frames_per_group=None,
        normalization="batch_norm",
        residual=True,
        use_bias=True,
        output_bias=True,
        kernel_initializer=None,
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        bn_momentum=0.9,
        bn_epsilon=1e-5,
        implementation="auto",
        max_attention_bytes=None,
        synchronized_bn=False,
        fused_bn=False,
        **kwargs,
    ):
        renamed = _renamed_arguments(kwargs, pool_size, pool_position, normalization)
        super().__init__(**kwargs)
        pool_size, pool_position, normalization = renamed
        self.rank = rank
        self.pairwise_function = get_pairwise(mode)
        self.mode = mode
        self.inner_channels = _positive("inner_channels", inner_channels, int)
        if rank != 3 and scope is not None:
            raise ValueError(
                "`scope` is only meaningful for NonLocal3D (space, time or spacetime); a "
                f"{rank}D input has one kind of position. Received: scope={scope!r}")
        self.scope = check_choice("scope", scope or "spacetime", SCOPES) if rank == 3 else None
        self.frames_per_group = _positive("frames_per_group", frames_per_group, int)
        if frames_per_group is not None and self.scope != "spacetime":
            raise ValueError(
                "`frames_per_group` groups the frames of a NonLocal3D with scope='spacetime'. "
                f"Received: frames_per_group={frames_per_group!r}, scope={self.scope!r}")
        self.pool_size = _pool_size(pool_size, rank, self.scope)
        self.pool_position = check_choice("pool_position", pool_position, POOL_POSITIONS)
        self.scale = scale if isinstance(scale, bool) else _positive("scale", scale, float)
        self.normalization = check_choice("normalization", normalization, NORMALIZATIONS)
        self.residual = bool(residual)
        self.use_bias = bool(use_bias)
        self.output_bias = bool(output_bias)
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.RandomNormal(stddev=0.01)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        self.implementation = check_choice("implementation", implementation, IMPLEMENTATIONS)
        self.max_attention_bytes = _positive("max_attention_bytes", max_attention_bytes, int)
        self.synchronized_bn = bool(synchronized_bn)
        self.fused_bn = bool(fused_bn)
        self.input_spec = keras.InputSpec(ndim=rank + 2)

    # ------------------------------------------------------- sizes of the block

    def inner_width(self, channels):
        """Channels of theta, phi and g for an input of `channels`."""
        return self.inner_channels or max(1, channels // 2)

    def key_grid(self, positions):
        """The grid of key positions for query positions `positions` (None
        where unknown): the subsampling pool applied."""
        if self.pool_size is None:
            return tuple(positions)
        return tuple(None if p is None else p // s for p, s in zip(positions, self.pool_size))

    def keys_per_query(self, positions):
        """How many keys one query looks at (the scope's share of the key grid)."""
        grid = self.key_grid(positions)
        if self.scope == "space":
            return _prod(grid[1:])
        if self.scope == "time":
            return grid[0]
        return _prod(grid)

    # ------------------------------------------------------------------ build

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        channels = input_shape[-1]
        if channels is None:
            raise ValueError(f"{self.__class__.__name__} needs a known channel dimension (the "
                             f"last axis). Received: input_shape={input_shape}")
        _check_pool_fits(self.pool_size, input_shape)
        _check_groups_fit(self.frames_per_group, input_shape)
        self.input_spec = keras.InputSpec(ndim=self.rank + 2, axes={-1: channels})
        inner = self.inner_width(channels)
        self.input_channels = channels
        self._initializers = iter(_independent_initializers(self.kernel_initializer, 5))
        projections = self.pairwise_function.projections
        for name in ("theta", "phi", "g"):
            if name in projections:
                setattr(self, name, self.projection(inner, name, channels))
        self.pairwise_function.build(self, inner)
        out_options = dict(use_bias=self.use_bias and self.output_bias)
        if self.normalization is None:
            out_options["kernel_initializer"] = "zeros"
        if not self.pairwise_function.bounded_by_values and \
                self.dtype_policy.variable_dtype == "float32":
            # No softmax bounds y by the values g here: W_z takes it in float32.
            out_options["dtype"] = "float32"
        self.out = self.projection(channels, "out", inner, **out_options)
        self.bn = self._normalization_layer()
        if self.bn is not None:
            self.bn.build(input_shape)

    def _normalization_layer(self):
        """The layer after W_z (`normalization`), starting at zero, or None."""
        if self.normalization == "affine":
            return Affine(scale_initializer="zeros", name="bn", dtype=self.dtype_policy)
        if self.normalization is None:
            return None
        bn = (SyncBatchNormalization if self.synchronized_bn else
              FusedBatchNormalization if self.fused_bn else keras.layers.BatchNormalization)
        return bn(axis=-1, momentum=self.bn_momentum, epsilon=self.bn_epsilon,
                  gamma_initializer="zeros", name="bn", dtype=self.dtype_policy)

    def projection(self, units, name, in_depth, **overrides):
        """A built `keras.layers.Dense` of the block (theta, phi, g, W_z, or a
        pairwise function's own), with the block's initializers, regularizers
        and constraints; `overrides` replace any of them."""
        options = dict(
            use_bias=self.use_bias,
            kernel_initializer=next(self._initializers),
            bias_initializer=_clone(self.bias_initializer),
            kernel_regularizer=self.kernel_regularizer,
            bias_regularizer=self.bias_regularizer,
            kernel_constraint=self.kernel_constraint,
            bias_constraint=self.bias_constraint,
            dtype=self.dtype_policy,
        )
        options.update(overrides)
        layer = keras.layers.Dense(units, name=name, **options)
        layer.build((None, in_depth))
        return layer

    # ------------------------------------------------------------------- call

    def call(self, inputs, training=None, return_attention_scores=False):
        if self.frames_per_group is None:
            return self._block(inputs, training, return_attention_scores)
        shape = ops.shape(inputs)  # (B, T, H, W, C) -> (B * T / g, g, H, W, C)
        grouped = ops.reshape(inputs, (-1, self.frames_per_group) + tuple(shape[2:]))
        out = self._block(grouped, training, return_attention_scores)
        z, attention = out if return_attention_scores else (out, None)
        z = ops.reshape(z, shape)
        if not return_attention_scores:
            return z
        groups = shape[1] // self.frames_per_group
        return z, ops.reshape(attention, (-1, groups) + tuple(ops.shape(attention)[1:]))

    def _block(self, x, training, return_attention_scores):
        """The block on `x` (for grouped frames, each group a batch row)."""
        keys_source = x
        if self.pool_size is not None and self.pool_position == "before":
            keys_source = self._pool(x)
        projections = self.pairwise_function.projections
        q = _project(self.theta, x) if "theta" in projections else x
        k = _project(self.phi, keys_source) if "phi" in projections else keys_source
        v = _project(self.g, keys_source)
        if self.pool_size is not None and self.pool_position == "after":
            k, v = self._pool(k), self._pool(v)

        q_flat, k_flat, v_flat = (self._to_sequences(t) for t in (q, k, v))
        shapes = (implementation.static_shape(t) for t in (q_flat, k_flat, v_flat))
        plan = implementation.choose(
            self.pairwise_function, self.implementation, *shapes, self.compute_dtype,
            self.max_attention_bytes, return_attention_scores)
        q_flat, k_flat, v_flat = (ops.cast(t, plan.dtype) for t in (q_flat, k_flat, v_flat))
        y_flat, attention = self._compute_attention(plan, q_flat, k_flat, v_flat)
        y_flat = ops.cast(y_flat, self.out.compute_dtype)
        y = self._from_sequences(y_flat, ops.shape(v), ops.shape(x))
        z = ops.cast(_project(self.out, y), self.compute_dtype)
        if self.normalization is not None:
            z = self.bn(z, training=training)  # Keras drops `training` for an Affine
        if self.residual:
            z = z + x
        if return_attention_scores:
            return z, self._attention_layout(attention, ops.shape(x), ops.shape(v))
        return z

    def _pool(self, x):
        x_pool = ops.cast(x, implementation.pool_dtype(x.dtype, self.rank))
        if self.rank == 3:  # as 2D pools: exportable to LiteRT (layers/pooling.py)
            pooled = max_pool_3d(x_pool, self.pool_size, self.pool_size)
        else:
            pooled = ops.max_pool(x_pool, self.pool_size, strides=self.pool_size, padding="valid")
        return ops.cast(pooled, x.dtype)

    def _compute_attention(self, plan, q, k, v):
        """`y` `(B', Nq, dv)` and the normalised map (None unless the plan
        builds it), from the flattened queries, keys and values. Override it
        to change how the block attends (as
        `keras.layers.MultiHeadAttention._compute_attention`)."""
        return self.pairwise_function.compute(plan.kernel, q, k, v, self.max_attention_bytes)

    def _to_sequences(self, t):
        """(B, *positions, d) -> (B', n, d) according to the scope."""
        shape = ops.shape(t)
        if self.scope == "space":  # (B, T, H, W, d) -> (B*T, H*W, d)
            return ops.reshape(t, (-1, shape[2] * shape[3], shape[-1]))
        if self.scope == "time":  # (B, T, H, W, d) -> (B*H*W, T, d)
            t = ops.transpose(t, (0, 2, 3, 1, 4))
            return ops.reshape(t, (-1, shape[1], shape[-1]))
        return ops.reshape(t, (shape[0], -1, shape[-1]))

    def _from_sequences(self, y, v_shape, x_shape):
        """Inverse of `_to_sequences` for the query positions."""
        d = v_shape[-1]
        if self.scope == "time":
            y = ops.reshape(y, (-1, x_shape[2], x_shape[3], x_shape[1], d))
            return ops.transpose(y, (0, 3, 1, 2, 4))
        return ops.reshape(y, (-1,) + tuple(x_shape[1:-1]) + (d,))

    def _attention_layout(self, attention, x_shape, v_shape):
        if self.scope == "space":
            return ops.reshape(
                attention, (-1, x_shape[1], x_shape[2] * x_shape[3], v_shape[2] * v_shape[3]))
        if self.scope == "time":
            return ops.reshape(attention, (-1, x_shape[2] * x_shape[3], x_shape[1], v_shape[1]))
        return attention

    def logit_scale(self, depth):
        """The factor of the softmax modes' logits for keys of `depth` channels."""
        if self.scale is True:
            return default_scale(depth)
        if self.scale is False:
            return 1.0
        return float(self.scale)

    # ------------------------------------------------------------ shapes etc.

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(self, inputs, training=None, return_attention_scores=False):
        shape = tuple(inputs.shape)
        output = keras.KerasTensor(shape, dtype=self.compute_dtype)
        if not return_attention_scores:
            return output
        return output, keras.KerasTensor(self._attention_shape(shape), dtype="float32")

    def _attention_shape(self, shape):
        if self.frames_per_group is not None:
            group = (self.frames_per_group,) + tuple(shape[2:-1])
            groups = None if shape[1] is None else shape[1] // self.frames_per_group
            return (shape[0], groups, _prod(group), _prod(self.key_grid(group)))
        positions, keys = shape[1:-1], self.key_grid(shape[1:-1])
        if self.scope == "space":
            return (shape[0], positions[0], _prod(positions[1:]), _prod(keys[1:]))
        if self.scope == "time":
            return (shape[0], _prod(positions[1:]), positions[0], keys[0])
        return (shape[0], _prod(positions), _prod(keys))

    def get_config(self):
        config = super().get_config()
        config.update(
            mode=self.mode,
            inner_channels=self.inner_channels,
            pool_size=self.pool_size,
            pool_position=self.pool_position,
            scale=self.scale,
            normalization=self.normalization,
            residual=self.residual,
            use_bias=self.use_bias,
            output_bias=self.output_bias,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
            kernel_regularizer=keras.regularizers.serialize(self.kernel_regularizer),
            bias_regularizer=keras.regularizers.serialize(self.bias_regularizer),
            kernel_constraint=keras.constraints.serialize(self.kernel_constraint),
            bias_constraint=keras.constraints.serialize(self.bias_constraint),
            bn_momentum=self.bn_momentum,
            bn_epsilon=self.bn_epsilon,
            implementation=self.implementation,
            max_attention_bytes=self.max_attention_bytes,
            synchronized_bn=self.synchronized_bn,
            fused_bn=self.fused_bn,
        )
        if self.rank == 3:
            config.update(scope=self.scope, frames_per_group=self.frames_per_group)
        return config


@keras.saving.register_keras_serializable(package="keras_nonlocal")
class NonLocal1D(NonLocalBase):
    """Non-local block for sequences, input `(batch, length, channels)`.

    The arguments are `NonLocalBase`'s (without `rank`); the default `pool_size=2` max-pools
    the keys and values by 2 along the sequence.

    Example:

    >>> x = keras.random.normal((2, 64, 32))
    >>> NonLocal1D(mode="dot_product")(x).shape
    (2, 64, 32)
    """

    def __init__(self, mode="embedded_gaussian", **kwargs):
        super().__init__(1, mode=mode, **kwargs)


@keras.saving.register_keras_serializable(package="keras_nonlocal")
class NonLocal2D(NonLocalBase):
    """Non-local block for images, input `(batch, height, width, channels)`.

    The arguments are `NonLocalBase`'s (without `rank`); the default `pool_size=2` max-pools
    the keys and values by 2x2.

    Example:

    >>> x = keras.random.normal((2, 14, 14, 64))
    >>> y, attention = NonLocal2D()(x, return_attention_scores=True)
    >>> y.shape, attention.shape
    ((2, 14, 14, 64), (2, 196, 49))
    """

    def __init__(self, mode="embedded_gaussian", **kwargs):
        super().__init__(2, mode=mode, **kwargs)


@keras.saving.register_keras_serializable(package="keras_nonlocal")
class NonLocal3D(NonLocalBase):
    """Non-local block for videos, input `(batch, time, height, width, channels)`.

    The arguments are `NonLocalBase`'s (without `rank`). The default `pool_size=2`
    max-pools the keys and values 1x2x2 (space only), as the paper does. `scope` selects
    the positions j each position i looks at (Table 2d of the paper).

    Example:

    >>> x = keras.random.normal((1, 4, 14, 14, 64))
    >>> NonLocal3D(mode="embedded_gaussian", scope="space")(x).shape
    (1, 4, 14, 14, 64)
    """

    def __init__(self, mode="embedded_gaussian", scope="spacetime", **kwargs):
        super().__init__(3, mode=mode, scope=scope, **kwargs)


def _signature(rank):
    """`NonLocalBase`'s arguments without `rank` (and `scope` below rank 3,
    `"spacetime"` by default at 3): what `help(NonLocal3D)` and
    `inspect.signature` show of the subclasses, which pass them on."""
    base = inspect.signature(NonLocalBase.__init__)
    parameters = []
    for name, parameter in base.parameters.items():
        if name == "rank" or (name in ("scope", "frames_per_group") and rank != 3):
            continue
        parameters.append(parameter.replace(default="spacetime") if name == "scope" else parameter)
    return base.replace(parameters=parameters)


for _rank, _layer in ((1, NonLocal1D), (2, NonLocal2D), (3, NonLocal3D)):
    _layer.__init__.__signature__ = _signature(_rank)


# ---------------------------------------------------------------- helpers


def _renamed_arguments(kwargs, pool_size, pool_position, normalization):
    """`(pool_size, pool_position, normalization)`, taken from the old names
    (`RENAMED_ARGUMENTS`) when `kwargs` holds them (popped, with a warning)."""
    old = {key: kwargs.pop(key) for key in RENAMED_ARGUMENTS if key in kwargs}
    new = apply_renames(old, "NonLocal block", RENAMED_ARGUMENTS)
    if "pool_size" in new:
        value = new["pool_size"]
        pool_size = 2 if value is True else None if value is False else value
    if "normalization" in new:
        normalization = "batch_norm" if new["normalization"] else None
    return pool_size, new.get("pool_position", pool_position), normalization


def _pool_size(pool_size, rank, scope):
    """The pool of the keys and values per position axis, or None."""
    if pool_size is None:
        return None
    if isinstance(pool_size, int) and not isinstance(pool_size, bool):
        spatial = _positive("pool_size", pool_size, int)
        size = (spatial,) * rank if rank < 3 else (1, spatial, spatial)
        if scope == "time" and spatial != 1:
            raise ValueError(
                f"`pool_size={pool_size}` pools space, which scope='time' does not allow (j must "
                "be at the same spatial position). Pass pool_size=None or a temporal pool such "
                f"as (2, 1, 1). Received: pool_size={pool_size!r}, scope='time'")
    elif isinstance(pool_size, (tuple, list)):
        size = _positive_tuple("pool_size", pool_size, rank)
    else:
        raise ValueError("`pool_size` must be None, a positive int or a tuple of positive "
                         f"ints. Received: pool_size={pool_size!r}")
    if scope == "space" and size[0] != 1:
        raise ValueError("scope='space' keeps j in the frame of i, so the pool may not cover "
                         f"time. Received: scope='space', pool_size={pool_size!r}")
    if scope == "time" and any(s != 1 for s in size[1:]):
        raise ValueError("scope='time' keeps j at the spatial position of i, so the pool may "
                         f"not cover space. Received: scope='time', pool_size={pool_size!r}")
    return None if all(s == 1 for s in size) else tuple(size)


def _positive_tuple(name, value, length):
    """`value` as a tuple when it holds `length` positive ints."""
    items = tuple(value)
    if len(items) != length or any(isinstance(v, bool) or not isinstance(v, int) or v <= 0
                                    for v in items):
        raise ValueError(f"`{name}` must be a tuple of {length} positive ints (one per "
                         f"position axis). Received: {name}={value!r}")
    return items


def _positive(name, value, kind):
    """`value` (None allowed) when it is a positive `kind` (a float may be an int)."""
    kinds = (int, float) if kind is float else (int,)
    if value is not None and (isinstance(value, bool) or not isinstance(value, kinds)
                              or value <= 0):
        raise ValueError(f"`{name}` must be a positive {kind.__name__}. Received: {name}={value!r}")
    return value


def _check_groups_fit(frames_per_group, input_shape):
    frames = input_shape[1]
    if frames_per_group is not None and frames is not None and frames % frames_per_group:
        raise ValueError(
            f"The {frames} frames of the input do not split into groups of "
            f"{frames_per_group}. Received: input_shape={input_shape}, "
            f"frames_per_group={frames_per_group}")


def _check_pool_fits(pool_size, input_shape):
    for axis, (size, pool) in enumerate(zip(input_shape[1:-1], pool_size or ())):
        if size is not None and pool > size:
            raise ValueError(
                f"The key pool {pool_size} is larger than position axis {axis + 1} of the "
                f"input. Received: input_shape={input_shape}, pool_size={pool_size}")


def _project(dense, t):
    """A Dense layer on the last axis, applied to the positions flattened.

    Same result as `dense(t)`; on TensorFlow, a rank-5 `matmul` and its
    gradient are several times slower than the rank-2 one (benchmarks/RESULTS.md).
    """
    shape = ops.shape(t)
    y = dense(ops.reshape(t, (-1, shape[-1])))
    return ops.reshape(y, tuple(shape[:-1]) + (dense.units,))


def _clone(initializer, seed_offset=0):
    """A new instance of `initializer`: Keras initializers hold their seed,
    so one instance shared by two kernels of one shape fills them equally."""
    config = initializer.get_config()
    if isinstance(config.get("seed"), int):
        config["seed"] += seed_offset
    return initializer.__class__.from_config(config)


def _independent_initializers(initializer, count):
    """`count` copies of `initializer` that draw independently of each other."""
    return [_clone(initializer, i) for i in range(count)]


def _prod(dims):
    total = 1
    for d in dims:
        if d is None:
            return None
        total *= d
    return total
