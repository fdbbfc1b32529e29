"""An independent NumPy (float64) reference of the non-local block.

Written from the paper's equations, not from the layer's code:
Eq. (1) y_i = 1/C(x) sum_j f(x_i, x_j) g(x_j) over all allowed pairs, with
Eq. (2)-(5) for f and C, then Eq. (6) z = BN(W_z y) + x. The scope of j
is a mask over all (i, j) pairs (the layer reshapes instead), pooling is a
crop-and-reshape max (the layer uses a pooling op).
"""

import math

import numpy as np


def max_pool(x, pool):
    """Valid max-pool with stride = pool over the position axes of (B, *P, C)."""
    if pool is None:
        return x
    positions = x.shape[1:-1]
    kept = [n // s * s for n, s in zip(positions, pool)]
    x = x[(slice(None),) + tuple(slice(0, k) for k in kept)]
    shape = [x.shape[0]]
    for k, s in zip(kept, pool):
        shape += [k // s, s]
    shape.append(x.shape[-1])
    x = x.reshape(shape)
    axes = tuple(2 + 2 * a for a in range(len(pool)))
    return x.max(axis=axes)


def _coords(positions):
    """Integer coordinates of every position, row-major: (N, rank)."""
    grids = np.meshgrid(*[np.arange(n) for n in positions], indexing="ij")
    return np.stack([g.reshape(-1) for g in grids], axis=-1)


def allowed_pairs(positions, pooled, scope):
    """Boolean (N, N') mask of the pairs (i, j) that Eq. (1) sums over."""
    n, n_pooled = int(np.prod(positions)), int(np.prod(pooled))
    if scope in (None, "spacetime"):
        return np.ones((n, n_pooled), bool)
    ci, cj = _coords(positions), _coords(pooled)
    if scope == "space":  # same frame (time is never pooled in this scope)
        return ci[:, None, 0] == cj[None, :, 0]
    if scope == "time":  # same pixel (space is never pooled in this scope)
        return np.all(ci[:, None, 1:] == cj[None, :, 1:], axis=-1)
    raise ValueError(scope)


def nonlocal_reference(x, w, mode, pool=None, position="before", scale=True,
                       scope=None, normalization="batch_norm", residual=True,
                       bn_epsilon=1e-5):
    """The block's output and its normalised pairwise weights, in float64.

    Args:
        x: (B, *positions, C) input.
        w: dict of arrays: theta/phi/g/out kernels and biases (`theta_w`,
            `theta_b`, ...), `concat_w` (2d,) for concatenation, and
            `gamma`, `beta`, `mean`, `var` for the BN, `scale` and `bias`
            for `normalization="affine"`.
    Returns:
        z (B, *positions, C) and the weights as a (B, N, N') array that is
        zero outside the scope.
    """
    x = np.asarray(x, np.float64)
    w = {k: np.asarray(v, np.float64) for k, v in w.items()}
    lin = lambda t, name: t @ w[name + "_w"] + w[name + "_b"]
    keys_src = max_pool(x, pool) if position == "before" else x
    if mode == "gaussian":
        q, k = x, keys_src
    else:
        q, k = lin(x, "theta"), lin(keys_src, "phi")
    g = lin(keys_src, "g")
    if position == "after":
        k, g = max_pool(k, pool), max_pool(g, pool)
    batch, positions = x.shape[0], x.shape[1:-1]
    pooled = g.shape[1:-1]
    q = q.reshape(batch, -1, q.shape[-1])
    k = k.reshape(batch, -1, k.shape[-1])
    g = g.reshape(batch, -1, g.shape[-1])
    mask = allowed_pairs(positions, pooled, scope)

    weights = np.zeros((batch, q.shape[1], k.shape[1]))
    for b in range(batch):
        if mode in ("gaussian", "embedded_gaussian"):
            s = q[b] @ k[b].T
            if scale is True:
                s = s / math.sqrt(q.shape[-1])
            elif scale is not False:
                s = s * scale
            s = np.where(mask, s, -np.inf)
            f = np.exp(s - s.max(axis=1, keepdims=True))  # Eq. (2)/(3)
            weights[b] = f / f.sum(axis=1, keepdims=True)  # C = sum_j f
        else:
            if mode == "dot_product":
                f = q[b] @ k[b].T  # Eq. (4)
            else:  # Eq. (5): ReLU(w^T [theta_i, phi_j])
                d = q.shape[-1]
                f = np.maximum(
                    (q[b] @ w["concat_w"][:d])[:, None]
                    + (k[b] @ w["concat_w"][d:])[None, :],
                    0.0,
                )
            f = np.where(mask, f, 0.0)
            weights[b] = f / mask.sum(axis=1, keepdims=True)  # C = N
    y = weights @ g
    y = y.reshape((batch,) + tuple(positions) + (g.shape[-1],))
    z = lin(y, "out")
    if normalization == "batch_norm":
        z = (z - w["mean"]) / np.sqrt(w["var"] + bn_epsilon) * w["gamma"] + w["beta"]
    elif normalization == "affine":
        z = z * w["scale"] + w["bias"]
    if residual:
        z = z + x
    return z, weights


def weights_in_layer_layout(weights, positions, pooled, scope):
    """Cuts the masked (B, N, N') reference map to the layer's layout."""
    if scope == "space":
        t, hw, hw_p = positions[0], int(np.prod(positions[1:])), int(np.prod(pooled[1:]))
        return np.stack(
            [weights[:, i * hw:(i + 1) * hw, i * hw_p:(i + 1) * hw_p] for i in range(t)],
            axis=1,
        )
    if scope == "time":
        t, t_p = positions[0], pooled[0]
        hw = int(np.prod(positions[1:]))
        w = weights.reshape(weights.shape[0], t, hw, t_p, hw)
        idx = np.arange(hw)
        return np.transpose(w[:, :, idx, :, idx], (1, 0, 2, 3))
    return weights
