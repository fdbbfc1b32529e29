"""Non-local blocks (Wang et al., CVPR 2018) for 1D, 2D and 3D inputs."""

import keras
from keras import ops

from keras_nonlocal.layers import pairwise
from keras_nonlocal.layers.fused_batch_norm import FusedBatchNormalization
from keras_nonlocal.layers.sync_batch_norm import SyncBatchNormalization

MODES = ("gaussian", "embedded_gaussian", "dot_product", "concatenation")
SCOPES = ("spacetime", "space", "time")
SUBSAMPLE_POSITIONS = ("before", "after")
IMPLEMENTATIONS = ("auto", "dense", "chunked", "fused")
DEFAULT_MAX_ATTENTION_BYTES = 256 * 1024 * 1024


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
            `"concatenation"` (`f = ReLU(w^T [theta_i, phi_j])`, `C = N`).
        inner_channels: channels of theta, phi and g. Defaults to half the
            input channels (the paper's bottleneck).
        subsample: pooling of the keys and values ("subsampling trick").
            `False`/`None`: none. `True`: 2x max-pool on the spatial axes
            (the paper's setting; 1x2x2 for 3D inputs). An int `s`: an `s`
            max-pool on the spatial axes. A tuple: the pool size of every
            position axis. Pooling is a max-pool with stride = pool size and
            no padding.
        subsample_position: `"before"` (default) pools the input before the
            phi and g projections, as the original release, PySlowFast and
            pytorchvideo do; `"after"` pools their outputs, as the paper text,
            mmaction2 and most PyTorch ports do. Both exist so that weights
            from either family reproduce their outputs.
        scale: logit scale of the softmax modes. `True` (default) multiplies
            the logits by `1/sqrt(d)` (d = inner_channels, or the input
            channels for `"gaussian"`), as the original release
            (`USE_SCALE`) and pytorchvideo do; it keeps the softmax from
            saturating when channels are many. `False` gives the paper's
            Eq. (2)/(3) literally. A float sets the factor.
        scope: NonLocal3D only: `"spacetime"` (default, j over all
            positions), `"space"` (j in the same frame) or `"time"` (j at the
            same spatial position), the paper's Table 2d.
        use_bn: BatchNormalization after W_z with gamma initialised to zero,
            so a new block is the identity. When `False`, W_z is initialised
            to zero instead, with the same effect.
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
        implementation: how the softmax modes are computed. `"auto"`
            (default) picks the fused attention on JAX GPUs in half
            precision (cuDNN flash attention, the fastest path there at any
            size), else `"dense"` when the attention map fits
            `max_attention_bytes`, else the fused attention where it is
            memory-bounded (PyTorch) and `"chunked"` otherwise. `"dense"` always builds the `N x N` map; `"chunked"`
            processes queries in blocks with a recomputing backward pass
            (memory `O(N d)`); `"fused"` uses `keras.ops.dot_product_attention`,
            with flash attention as `keras.config.is_flash_attention_enabled()`
            says (`keras.config.disable_flash_attention()` keeps `"auto"`
            off the fused path on JAX, where only flash is memory-bounded).
            `"dot_product"` is computed exactly as `theta (phi^T g) / N`
            (`O(N d^2)`, no map) unless the map fits `max_attention_bytes`
            and takes fewer multiplications (`Nk < d` roughly: the NL-I3D
            res4 shape), or `implementation="dense"`, or the attention is
            returned. `"concatenation"`
            builds it where `"auto"` would for the softmax modes (it fits
            `max_attention_bytes`; 1.3x to 1.5x faster than the sort at the
            NL-I3D res3 / res4 shapes, measured on TensorFlow on a CPU) and
            otherwise sorts the `phi` terms (exact, `O(N log N)`, no map).
        max_attention_bytes: the largest float32 attention map (or block of
            it) the layer may hold at once. Defaults to 256 MiB.
        synchronized_bn: batch statistics over all replicas of a
            tf.distribute strategy (TensorFlow backend) instead of per replica,
            with `SyncBatchNormalization`.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor of shape `(batch, *positions, channels)`.
        training: whether BatchNormalization runs in training mode.
        return_attention_scores: if `True`, also return the normalised pairwise
            weights `f(x_i, x_j) / C(x)` in float32 (the softmax for the
            Gaussian modes, `f / N` for the others). Their shape is
            `(batch, N, N')` with `N` the number of positions and `N'` the
            number of (subsampled) key positions, flattened in row-major
            order; for NonLocal3D with `scope="space"` it is
            `(batch, T, H*W, H'*W')` and with `scope="time"`
            `(batch, H*W, T, T')`. Building it costs `O(N N')` memory.
        return_attention: the same, under this package's earlier name.

    Returns:
        A tensor of the input's shape, or `(output, attention)`.
    """

    def __init__(
        self,
        rank,
        mode="embedded_gaussian",
        inner_channels=None,
        subsample=True,
        subsample_position="before",
        scale=True,
        scope=None,
        use_bn=True,
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
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.rank = rank
        self.mode = _check_choice("mode", mode, MODES)
        if inner_channels is not None and (
            not isinstance(inner_channels, int) or inner_channels <= 0
        ):
            raise ValueError(
                "`inner_channels` must be a positive integer or None. "
                f"Received: inner_channels={inner_channels}"
            )
        self.inner_channels = inner_channels
        if rank == 3:
            self.scope = _check_choice(
                "scope", "spacetime" if scope is None else scope, SCOPES
            )
        elif scope is not None:
            raise ValueError(
                "`scope` is only meaningful for NonLocal3D (space, time or "
                f"spacetime); a {rank}D input has one kind of position. "
                f"Received: scope={scope!r}"
            )
        else:
            self.scope = None
        self.subsample = subsample
        self.pool_size = _pool_size(subsample, rank, self.scope)
        self.subsample_position = _check_choice(
            "subsample_position", subsample_position, SUBSAMPLE_POSITIONS
        )
        if not isinstance(scale, (bool, int, float)) or (
            not isinstance(scale, bool) and scale <= 0
        ):
            raise ValueError(
                "`scale` must be True, False or a positive number. "
                f"Received: scale={scale}"
            )
        self.scale = scale
        _check_scope_pool(self.scope, self.pool_size)
        self.use_bn = bool(use_bn)
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
        self.implementation = _check_choice(
            "implementation", implementation, IMPLEMENTATIONS
        )
        if max_attention_bytes is not None and max_attention_bytes <= 0:
            raise ValueError(
                "`max_attention_bytes` must be positive. "
                f"Received: max_attention_bytes={max_attention_bytes}"
            )
        self.max_attention_bytes = max_attention_bytes
        self.synchronized_bn = bool(synchronized_bn)
        self.supports_masking = False

    # ------------------------------------------------------------------ build

    def _check_input_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if len(input_shape) != self.rank + 2:
            raise ValueError(
                f"{self.__class__.__name__} expects inputs of rank "
                f"{self.rank + 2} {_layout(self.rank)}. "
                f"Received: input_shape={input_shape}"
            )
        if input_shape[-1] is None:
            raise ValueError(
                f"{self.__class__.__name__} needs a known channel dimension "
                f"(the last axis). Received: input_shape={input_shape}"
            )
        if self.pool_size is not None:
            for axis, (size, pool) in enumerate(
                zip(input_shape[1:-1], self.pool_size)
            ):
                if size is not None and pool > size:
                    raise ValueError(
                        f"The subsampling pool size {self.pool_size} is "
                        f"larger than position axis {axis + 1} of the input. "
                        f"Received: input_shape={input_shape}, "
                        f"subsample={self.subsample!r}"
                    )
        return input_shape

    def build(self, input_shape):
        input_shape = self._check_input_shape(input_shape)
        channels = input_shape[-1]
        inner = self.inner_channels or max(1, channels // 2)
        self._inner = inner
        initializers = iter(_independent_initializers(self.kernel_initializer, 5))

        def dense(units, name, in_depth, **overrides):
            options = dict(
                use_bias=self.use_bias,
                kernel_initializer=next(initializers),
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

        if self.mode != "gaussian":
            self.theta = dense(inner, "theta", channels)
            self.phi = dense(inner, "phi", channels)
        self.g = dense(inner, "g", channels)
        if self.mode == "concatenation":
            # w_f of Eq. (5), applied to [theta_i, phi_j]; no bias.
            self.concat_project = dense(1, "concat_project", 2 * inner, use_bias=False)
        out_options = dict(use_bias=self.use_bias and self.output_bias)
        if not self.use_bn:
            out_options["kernel_initializer"] = "zeros"
        self.out = dense(channels, "out", inner, **out_options)
        if self.use_bn:
            bn = SyncBatchNormalization if self.synchronized_bn else FusedBatchNormalization
            self.bn = bn(
                axis=-1,
                momentum=self.bn_momentum,
                epsilon=self.bn_epsilon,
                gamma_initializer="zeros",
                name="bn",
                dtype=self.dtype_policy,
            )
            self.bn.build(input_shape)
        self.built = True

    # ------------------------------------------------------------------- call

    def call(self, inputs, training=None, return_attention_scores=False,
             return_attention=False):
        return_attention = bool(return_attention_scores or return_attention)
        x = inputs
        keys_source = x
        if self.pool_size is not None and self.subsample_position == "before":
            keys_source = self._pool(x)
        if self.mode == "gaussian":
            q, k = x, keys_source
        else:
            q = _project(self.theta, x)
            k = _project(self.phi, keys_source)
        v = _project(self.g, keys_source)
        if self.pool_size is not None and self.subsample_position == "after":
            v = self._pool(v)
            k = self._pool(k)

        q_flat, k_flat, v_flat = (self._to_sequences(t) for t in (q, k, v))
        y_flat, attention = self._pairwise(q_flat, k_flat, v_flat, return_attention)
        y = self._from_sequences(y_flat, ops.shape(v), ops.shape(x))
        z = _project(self.out, y)
        if self.use_bn:
            z = self.bn(z, training=training)
        if self.residual:
            z = z + x
        if return_attention:
            return z, self._attention_layout(attention, ops.shape(x), ops.shape(v))
        return z

    def _pool(self, x):
        return ops.max_pool(
            x, self.pool_size, strides=self.pool_size, padding="valid"
        )

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
        if self.scope == "space":
            return ops.reshape(y, (-1,) + tuple(x_shape[1:-1]) + (d,))
        if self.scope == "time":
            y = ops.reshape(y, (-1, x_shape[2], x_shape[3], x_shape[1], d))
            return ops.transpose(y, (0, 3, 1, 2, 4))
        return ops.reshape(y, (-1,) + tuple(x_shape[1:-1]) + (d,))

    def _attention_layout(self, attention, x_shape, v_shape):
        if self.scope == "space":
            return ops.reshape(
                attention, (-1, x_shape[1], x_shape[2] * x_shape[3], v_shape[2] * v_shape[3])
            )
        if self.scope == "time":
            return ops.reshape(
                attention, (-1, x_shape[2] * x_shape[3], x_shape[1], v_shape[1])
            )
        return attention

    def _logit_scale(self, depth):
        if self.scale is True:
            return pairwise.default_scale(depth)
        if self.scale is False:
            return 1.0
        return float(self.scale)

    def _budget(self):
        return self.max_attention_bytes or DEFAULT_MAX_ATTENTION_BYTES

    def _pairwise(self, q, k, v, return_attention):
        """Computes y (B', Nq, dv) and, if asked, the normalised map."""
        implementation = self.implementation
        if return_attention:
            implementation = "dense"
        if self.mode == "dot_product":
            if implementation == "dense" or (
                    implementation == "auto" and self._map_fits(q, k)
                    and _dense_is_cheaper(q.shape, k.shape, v.shape)):
                return pairwise.dense_dot_product(q, k, v)
            return pairwise.linear_dot_product(q, k, v), None
        if self.mode == "concatenation":
            inner = self._inner
            w = self.concat_project.kernel
            a = ops.matmul(q, ops.cast(w[:inner], q.dtype))[..., 0]
            b = ops.matmul(k, ops.cast(w[inner:], k.dtype))[..., 0]
            if implementation == "dense" or (
                    implementation == "auto" and self._map_fits(q, k)):
                return pairwise.dense_concatenation(a, b, v)
            return pairwise.sorted_concatenation(a, b, v), None

        scale = self._logit_scale(q.shape[-1])
        if implementation == "auto":
            implementation = self._choose_softmax_implementation(q, k, v)
        if implementation == "dense":
            return pairwise.dense_softmax_attention(q, k, v, scale)
        if implementation == "fused":
            if q.shape[-1] != v.shape[-1]:
                raise ValueError(
                    "implementation='fused' needs the key and value depths "
                    "to match; with mode='gaussian' the keys are the input "
                    f"({q.shape[-1]} channels) and the values g "
                    f"({v.shape[-1]}). Received: implementation='fused'"
                )
            flash = keras.config.is_flash_attention_enabled()
            return pairwise.fused_softmax_attention(q, k, v, scale, flash), None
        batch, nk = _static(k.shape[0]), _static(k.shape[1])
        chunk = pairwise.softmax_chunk_size(nk or 4096, batch or 1, self._budget())
        return pairwise.chunked_softmax_attention(q, k, v, scale, chunk), None

    def _choose_softmax_implementation(self, q, k, v):
        fused = q.shape[-1] == v.shape[-1] and _fused_available(q.dtype)
        if fused and _on_jax_gpu():
            return "fused"  # flash attention: the fastest path there, whatever the size
        if self._map_fits(q, k):
            return "dense"
        return "fused" if fused else "chunked"

    def _map_fits(self, q, k):
        """Whether the float32 `(B, Nq, Nk)` map fits `max_attention_bytes`
        (static shapes only)."""
        batch, nq, nk = (_static(d) for d in (q.shape[0], q.shape[1], k.shape[1]))
        if batch is None or nq is None or nk is None:
            return False
        return 4 * batch * nq * nk <= self._budget()

    # ------------------------------------------------------------ shapes etc.

    def compute_output_shape(self, input_shape):
        return tuple(self._check_input_shape(input_shape))

    def compute_output_spec(self, inputs, training=None, return_attention_scores=False,
                            return_attention=False):
        return_attention = bool(return_attention_scores or return_attention)
        shape = self.compute_output_shape(inputs.shape)
        output = keras.KerasTensor(shape, dtype=self.compute_dtype)
        if not return_attention:
            return output
        return output, keras.KerasTensor(
            self._attention_shape(shape), dtype="float32"
        )

    def _attention_shape(self, shape):
        positions = shape[1:-1]
        pooled = positions
        if self.pool_size is not None:
            pooled = tuple(
                None if p is None else p // s for p, s in zip(positions, self.pool_size)
            )
        if self.scope == "space":
            return (shape[0], positions[0], _prod(positions[1:]), _prod(pooled[1:]))
        if self.scope == "time":
            return (shape[0], _prod(positions[1:]), positions[0], pooled[0])
        return (shape[0], _prod(positions), _prod(pooled))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "mode": self.mode,
                "inner_channels": self.inner_channels,
                "subsample": self.subsample,
                "subsample_position": self.subsample_position,
                "scale": self.scale,
                "use_bn": self.use_bn,
                "residual": self.residual,
                "use_bias": self.use_bias,
                "output_bias": self.output_bias,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
                "bias_regularizer": keras.regularizers.serialize(
                    self.bias_regularizer
                ),
                "kernel_constraint": keras.constraints.serialize(
                    self.kernel_constraint
                ),
                "bias_constraint": keras.constraints.serialize(
                    self.bias_constraint
                ),
                "bn_momentum": self.bn_momentum,
                "bn_epsilon": self.bn_epsilon,
                "implementation": self.implementation,
                "max_attention_bytes": self.max_attention_bytes,
                "synchronized_bn": self.synchronized_bn,
            }
        )
        if self.rank == 3:
            config["scope"] = self.scope
        return config


@keras.saving.register_keras_serializable(package="keras_nonlocal")
class NonLocal1D(NonLocalBase):
    """Non-local block for sequences, input `(batch, length, channels)`.

    The arguments are `NonLocalBase`'s (without `rank`); `subsample=True` max-pools the
    keys and values by 2 along the sequence.

    Example:

    >>> x = keras.random.normal((2, 64, 32))
    >>> NonLocal1D(mode="dot_product")(x).shape
    (2, 64, 32)
    """

    def __init__(
        self,
        mode="embedded_gaussian",
        inner_channels=None,
        subsample=True,
        subsample_position="before",
        scale=True,
        use_bn=True,
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
        **kwargs,
    ):
        super().__init__(
            1,
            mode=mode,
            inner_channels=inner_channels,
            subsample=subsample,
            subsample_position=subsample_position,
            scale=scale,
            use_bn=use_bn,
            residual=residual,
            use_bias=use_bias,
            output_bias=output_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            bn_momentum=bn_momentum,
            bn_epsilon=bn_epsilon,
            implementation=implementation,
            max_attention_bytes=max_attention_bytes,
            synchronized_bn=synchronized_bn,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="keras_nonlocal")
class NonLocal2D(NonLocalBase):
    """Non-local block for images, input `(batch, height, width, channels)`.

    The arguments are `NonLocalBase`'s (without `rank`); `subsample=True` max-pools the
    keys and values by 2x2.

    Example:

    >>> x = keras.random.normal((2, 14, 14, 64))
    >>> y, attention = NonLocal2D()(x, return_attention=True)
    >>> y.shape, attention.shape
    ((2, 14, 14, 64), (2, 196, 49))
    """

    def __init__(
        self,
        mode="embedded_gaussian",
        inner_channels=None,
        subsample=True,
        subsample_position="before",
        scale=True,
        use_bn=True,
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
        **kwargs,
    ):
        super().__init__(
            2,
            mode=mode,
            inner_channels=inner_channels,
            subsample=subsample,
            subsample_position=subsample_position,
            scale=scale,
            use_bn=use_bn,
            residual=residual,
            use_bias=use_bias,
            output_bias=output_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            bn_momentum=bn_momentum,
            bn_epsilon=bn_epsilon,
            implementation=implementation,
            max_attention_bytes=max_attention_bytes,
            synchronized_bn=synchronized_bn,
            **kwargs,
        )


@keras.saving.register_keras_serializable(package="keras_nonlocal")
class NonLocal3D(NonLocalBase):
    """Non-local block for videos, input `(batch, time, height, width, channels)`.

    The arguments are `NonLocalBase`'s (without `rank`). `subsample=True` max-pools the
    keys and values 1x2x2 (space only), as the paper does. `scope` selects
    the positions j each position i looks at (Table 2d of the paper).

    Example:

    >>> x = keras.random.normal((1, 4, 14, 14, 64))
    >>> NonLocal3D(mode="embedded_gaussian", scope="space")(x).shape
    (1, 4, 14, 14, 64)
    """

    def __init__(
        self,
        mode="embedded_gaussian",
        scope="spacetime",
        inner_channels=None,
        subsample=True,
        subsample_position="before",
        scale=True,
        use_bn=True,
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
        **kwargs,
    ):
        super().__init__(
            3,
            mode=mode,
            scope=scope,
            inner_channels=inner_channels,
            subsample=subsample,
            subsample_position=subsample_position,
            scale=scale,
            use_bn=use_bn,
            residual=residual,
            use_bias=use_bias,
            output_bias=output_bias,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            bias_constraint=bias_constraint,
            bn_momentum=bn_momentum,
            bn_epsilon=bn_epsilon,
            implementation=implementation,
            max_attention_bytes=max_attention_bytes,
            synchronized_bn=synchronized_bn,
            **kwargs,
        )


# ---------------------------------------------------------------- helpers


def _check_choice(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {', '.join(map(repr, choices))}. "
            f"Received: {name}={value!r}"
        )
    return value


def _pool_size(subsample, rank, scope):
    if subsample is None or subsample is False or subsample == 0:
        return None
    if subsample is True:
        if scope == "time":
            raise ValueError(
                "`subsample=True` pools space, which scope='time' does not "
                "allow (j must be at the same spatial position). Pass "
                "subsample=False or a temporal pool such as (2, 1, 1). "
                "Received: subsample=True, scope='time'"
            )
        size = (2,) * rank if rank < 3 else (1, 2, 2)
    elif isinstance(subsample, int) and not isinstance(subsample, bool):
        if subsample < 1:
            raise ValueError(
                "`subsample` must be a bool, a positive int or a tuple of "
                f"positive ints. Received: subsample={subsample!r}"
            )
        size = (subsample,) * rank if rank < 3 else (1, subsample, subsample)
    elif isinstance(subsample, (tuple, list)):
        size = tuple(subsample)
        if len(size) != rank or not all(
            isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in size
        ):
            raise ValueError(
                f"`subsample` as a pool size must hold {rank} positive ints, "
                f"one per position axis. Received: subsample={subsample!r}"
            )
    else:
        raise ValueError(
            "`subsample` must be a bool, a positive int or a tuple of "
            f"positive ints. Received: subsample={subsample!r}"
        )
    if all(s == 1 for s in size):
        return None
    return size


def _check_scope_pool(scope, pool_size):
    if pool_size is None:
        return
    if scope == "space" and pool_size[0] != 1:
        raise ValueError(
            "scope='space' keeps j in the frame of i, so the subsampling may "
            "not pool time. Received: scope='space', "
            f"pool size {pool_size}"
        )
    if scope == "time" and any(s != 1 for s in pool_size[1:]):
        raise ValueError(
            "scope='time' keeps j at the spatial position of i, so the "
            "subsampling may not pool space. Received: scope='time', "
            f"pool size {pool_size}"
        )


def _layout(rank):
    return {
        1: "(batch, length, channels)",
        2: "(batch, height, width, channels)",
        3: "(batch, time, height, width, channels)",
    }[rank]


def _project(dense, t):
    """A Dense layer on the last axis, applied to the positions flattened.

    Same result as `dense(t)`; on TensorFlow, a rank-5 `matmul` and its
    gradient are several times slower than the rank-2 one (measured 7x at
    (8, 4, 14, 14, 1024) x (1024, 512), forward+backward).
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


def _dense_is_cheaper(q_shape, k_shape, v_shape):
    """Whether `(q k^T) v` takes fewer multiply-adds than `q (k^T v)`."""
    nq, nk, dq, dv = q_shape[1], k_shape[1], q_shape[-1], v_shape[-1]
    if None in (nq, nk, dq, dv):
        return False
    return nq * nk * (dq + dv) < (nq + nk) * dq * dv


def _static(dim):
    return dim if isinstance(dim, int) else None


def _prod(dims):
    total = 1
    for d in dims:
        if d is None:
            return None
        total *= d
    return total


def _on_jax_gpu():
    if keras.backend.backend() != "jax":
        return False
    import jax

    return jax.default_backend() == "gpu"


def _fused_available(dtype):
    """Whether keras.ops.dot_product_attention is memory-efficient here."""
    backend = keras.backend.backend()
    if backend == "torch":
        return True  # scaled_dot_product_attention (flash/mem-efficient, CPU too)
    if backend == "jax":
        import jax

        if keras.config.is_flash_attention_enabled() is False:
            return False  # without flash, JAX's fused op builds the whole map
        return jax.default_backend() == "gpu" and str(dtype) in (
            "float16",
            "bfloat16",
        )
    return False
