"""Forward+backward time and peak memory of NonLocal3D vs a PyTorch reference.

What is timed: one forward and backward pass of a single non-local block
(gradients of sum(z * r) w.r.t. the input and every weight), median of
`--repeats` runs after one warm-up run. Ours runs on the Keras backend named
by KERAS_BACKEND (TensorFlow by default) inside a compiled function; on
TensorFlow that is a `tf.function` graph (set BENCH_XLA=1 for
`jit_compile=True`, what `model.fit` picks by default; on this 2-core CPU
the two are within 10% of each other at res4, XLA the slower), on JAX
`jax.jit`. The reference runs in eager PyTorch:
pytorchvideo 0.1.5's `NonLocal` for the modes it has ("softmax" =
embedded Gaussian, "dot_product"), and for "gaussian" and "concatenation"
(which pytorchvideo lacks) a plain PyTorch transcription of the paper's
Figure 2 (dense N x N map), written below.

Peak memory: every measurement runs in a fresh subprocess; the figure is
the process's peak resident memory minus its resident memory just before
the block is built (inputs already allocated), in GB.

Usage:
    KERAS_BACKEND=tensorflow python benchmarks/bench_nonlocal_layer.py [--large] [--device cpu|cuda]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import measure, median_time, peak_gb, print_table_header, report, rss_gb  # noqa: E402,E501

MODES = ["gaussian", "embedded_gaussian", "dot_product", "concatenation"]
SHAPES = {
    # (batch, T, H, W, C), subsampled 1x2x2 as the paper does
    "res3": ((8, 4, 28, 28, 512), True),
    "res4": ((8, 4, 14, 14, 1024), True),
    # the large input: N = 100,352 positions, no subsampling
    "large": ((1, 32, 56, 56, 256), False),
}


# ----------------------------------------------------------------- ours


def run_ours(mode, shape, subsample, repeats, device):
    import keras
    import numpy as np

    from keras_nonlocal import NonLocal3D

    backend = keras.backend.backend()
    rng = np.random.default_rng(0)
    x_np = rng.normal(size=shape).astype("float32")
    r_np = rng.normal(size=shape).astype("float32")
    base = rss_gb()
    layer = NonLocal3D(mode=mode, pool_size=(1, 2, 2) if subsample else None, kernel_initializer="glorot_uniform")
    layer.build(shape)
    trainable = list(layer.trainable_variables)
    non_trainable = list(layer.non_trainable_variables)

    if backend == "tensorflow":
        import tensorflow as tf

        x, r = tf.constant(x_np), tf.constant(r_np)

        @tf.function(jit_compile=os.environ.get("BENCH_XLA", "0") == "1")
        def step(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(layer(x, training=True) * r)
            return tape.gradient(loss, [x] + trainable)

        def run():
            return [g.numpy() for g in step(x)]

    elif backend == "jax":
        import jax

        tv = [v.value for v in trainable]
        ntv = [v.value for v in non_trainable]
        x, r = jax.device_put(x_np), jax.device_put(r_np)

        def loss_fn(x, tv):
            out, _ = layer.stateless_call(tv, ntv, x, training=True)
            return (out * r).sum()

        step = jax.jit(jax.grad(loss_fn, argnums=(0, 1)))

        def run():
            return jax.block_until_ready(step(x, tv))

    else:
        raise SystemExit(f"backend {backend} not benchmarked")
    return _time(run, repeats, base)


# ------------------------------------------------------------ reference


def _paper_reference_block(torch, nn, channels, inner, mode, pool):
    """The paper's Figure 2 in plain PyTorch, for the modes pytorchvideo lacks."""

    class PaperNonLocal(nn.Module):
        def __init__(self):
            super().__init__()
            self.theta = nn.Conv3d(channels, inner, 1)
            self.phi = nn.Conv3d(channels, inner, 1)
            self.g = nn.Conv3d(channels, inner, 1)
            self.w = nn.Conv3d(2 * inner, 1, 1, bias=False) if mode == "concatenation" else None
            self.out = nn.Conv3d(inner, channels, 1)
            self.bn = nn.BatchNorm3d(channels)
            self.pool = nn.MaxPool3d(pool, pool) if pool else None

        def forward(self, x):
            n, c, t, h, w = x.shape
            src = self.pool(x) if self.pool is not None else x
            g = self.g(src).flatten(2)  # n, d, M
            if mode == "gaussian":
                q = x.flatten(2)
                k = src.flatten(2)
                f = torch.softmax(torch.einsum("ncq,nck->nqk", q, k) / c**0.5, -1)
            else:
                q = self.theta(x).flatten(2)
                k = self.phi(src).flatten(2)
                wq, wk = self.w.weight[0, :inner, 0, 0, 0], self.w.weight[0, inner:, 0, 0, 0]
                a = torch.einsum("d,ndq->nq", wq, q)
                b = torch.einsum("d,ndk->nk", wk, k)
                f = torch.relu(a[:, :, None] + b[:, None, :]) / k.shape[-1]
            y = torch.einsum("nqk,ndk->ndq", f, g).reshape(n, -1, t, h, w)
            return self.bn(self.out(y)) + x

    return PaperNonLocal()


def run_reference(mode, shape, subsample, repeats, device):
    import numpy as np
    import torch
    import torch.nn as nn

    rng = np.random.default_rng(0)
    b, t, h, w, c = shape
    x = torch.from_numpy(rng.normal(size=(b, c, t, h, w)).astype("float32")).to(device)
    r = torch.from_numpy(rng.normal(size=(b, c, t, h, w)).astype("float32")).to(device)
    x.requires_grad_(True)
    base = rss_gb()
    pool = (1, 2, 2) if subsample else None
    if mode in ("embedded_gaussian", "dot_product"):
        from pytorchvideo.layers.nonlocal_net import create_nonlocal

        block = create_nonlocal(
            dim_in=c, dim_inner=c // 2, pool_size=pool or (1, 1, 1),
            instantiation="softmax" if mode == "embedded_gaussian" else "dot_product",
        )
    else:
        block = _paper_reference_block(torch, nn, c, c // 2, mode, pool)
    block = block.to(device).train()

    def run():
        block.zero_grad(set_to_none=True)
        x.grad = None
        (block(x) * r).sum().backward()
        if device == "cuda":
            torch.cuda.synchronize()

    return _time(run, repeats, base)


def _time(run, repeats, base):
    seconds = median_time(run, repeats)
    return {"seconds": seconds, "peak_gb": peak_gb() - base}


# -------------------------------------------------------------- driver


def _worker(args):
    shape, subsample = SHAPES[args.shape]
    fn = run_ours if args.worker == "ours" else run_reference
    report(fn(args.mode, shape, subsample, args.repeats, args.device))


def _measure(impl, mode, shape_name, repeats, device):
    return measure(__file__, "--worker", impl, "--mode", mode, "--shape", shape_name,
                   "--repeats", repeats, "--device", device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", choices=["ours", "reference"])
    parser.add_argument("--mode", choices=MODES)
    parser.add_argument("--shape", choices=sorted(SHAPES))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--large", action="store_true",
                        help="also run the (1, 32, 56, 56, 256) input (minutes per mode)")
    parser.add_argument("--modes", default=",".join(MODES))
    args = parser.parse_args()
    if args.worker:
        return _worker(args)

    import keras

    backend = keras.backend.backend()
    print_table_header(
        f"NonLocal3D forward+backward, ours on Keras/{backend} vs PyTorch reference, "
        f"device {args.device}, median of {args.repeats}",
        f"{'shape':<6} {'mode':<18} {'ours s':>8} {'ref s':>8} {'ref/ours':>9} "
        f"{'ours GB':>8} {'ref GB':>8}  reference")
    names = ["res3", "res4"] + (["large"] if args.large else [])
    for name in names:
        shape, subsample = SHAPES[name]
        for mode in args.modes.split(","):
            ref_name = ("pytorchvideo NonLocal" if mode in ("embedded_gaussian", "dot_product")
                        else "PyTorch, paper Fig. 2")
            repeats = 1 if name == "large" else args.repeats
            ours = _measure("ours", mode, name, repeats, args.device)
            if name == "large" and args.device == "cpu":
                n = shape[1] * shape[2] * shape[3]
                ref = {"error": f"not run: its {n}x{n} float32 map alone is "
                                f"{4 * n * n / 1e9:.0f} GB"}
            else:
                ref = _measure("reference", mode, name, repeats, args.device)
            fmt = lambda d, k: f"{d[k]:.3f}" if k in d else "-"
            ratio = (f"{ref['seconds'] / ours['seconds']:.2f}x"
                     if "seconds" in ours and "seconds" in ref else "-")
            print(f"{name:<6} {mode:<18} {fmt(ours, 'seconds'):>8} {fmt(ref, 'seconds'):>8} "
                  f"{ratio:>9} {fmt(ours, 'peak_gb'):>8} {fmt(ref, 'peak_gb'):>8}  {ref_name}",
                  flush=True)
            for label, d in (("ours", ours), ("reference", ref)):
                if "error" in d:
                    print(f"       {label}: {d['error']}", flush=True)


if __name__ == "__main__":
    main()
