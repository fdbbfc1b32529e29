"""A short tour of the non-local layers that does real work and prints it.

`keras-nonlocal tour`: every pairwise mode on an NL-I3D res4-sized input
(the automatically chosen path against the dense N x N path, and a timed
training step), then one block on an input whose attention map would not
fit a small budget, trained through the memory-bounded path.
"""

import resource
import time

import keras
import numpy as np

from keras_nonlocal.layers import NonLocal3D
from keras_nonlocal.layers.nonlocal_block import MODES


# The path `implementation="auto"` takes for each mode once the map exceeds
# `max_attention_bytes` (part 1 sets a 1 MiB budget to force it).
FAST_PATHS = {
    "gaussian": "query blocks",
    "embedded_gaussian": "query blocks",
    "dot_product": "theta (phi^T g) / N",
    "concatenation": "sorted suffix sums",
}


def _peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _model(shape, **layer_kwargs):
    inputs = keras.Input(shape)
    x = NonLocal3D(name="nonlocal", **layer_kwargs)(inputs)
    outputs = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling3D()(x))
    model = keras.Model(inputs, outputs)
    model.compile(
        keras.optimizers.SGD(0.01),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def _timed_steps(model, x, y, steps):
    model.train_on_batch(x, y)  # compile / trace
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(x, y)
    return (time.perf_counter() - start) / steps, float(np.asarray(loss))


def run(quick=False, seed=0):
    """Runs the tour; returns the rows it printed (a list of dicts)."""
    rng = np.random.default_rng(seed)
    keras.utils.set_random_seed(seed)
    print(f"keras {keras.__version__}, backend {keras.backend.backend()}")
    shape = (4, 14, 14, 128) if quick else (4, 14, 14, 512)
    batch = 2
    x = rng.normal(size=(batch,) + shape).astype("float32")
    y = rng.integers(0, 4, size=(batch,))
    print(
        f"\n1. NonLocal3D on {(batch,) + shape} (NL-I3D res4-like), 1x2x2 "
        "subsampling: the automatically chosen path vs the dense N x N path"
    )
    header = (f"{'mode':<18} {'fast path':<24} {'identity at init':>16} "
              f"{'max |fast - dense|':>19} {'train step':>11}")
    print(header)
    print("-" * len(header))
    rows = []
    for mode in MODES:
        fresh = NonLocal3D(mode=mode)
        identity = bool(np.array_equal(keras.ops.convert_to_numpy(fresh(x)), x))
        auto = NonLocal3D(mode=mode, kernel_initializer="glorot_uniform",
                          max_attention_bytes=1 << 20)
        auto.build(x.shape)
        for w in auto.weights:  # a trained-looking block, not an identity
            if "moving_variance" not in w.path:
                w.assign(rng.normal(0, 0.1, w.shape).astype("float32"))
        dense = NonLocal3D(mode=mode, implementation="dense")
        dense.build(x.shape)
        dense.set_weights(auto.get_weights())
        diff = float(np.abs(keras.ops.convert_to_numpy(auto(x) - dense(x))).max())
        seconds, _ = _timed_steps(_model(shape, mode=mode), x, y, 2 if quick else 3)
        rows.append(dict(mode=mode, identity=identity, max_diff=diff, step_s=seconds))
        print(f"{mode:<18} {FAST_PATHS[mode]:<24} {str(identity):>16} "
              f"{diff:>19.2e} {seconds * 1e3:>9.0f}ms")

    big = (4, 28, 28, 64) if quick else (8, 56, 56, 64)
    n = big[0] * big[1] * big[2]
    budget = (4 << 20) if quick else (64 << 20)
    print(
        f"\n2. embedded Gaussian, no subsampling, input {(1,) + big}: N = {n:,} "
        f"positions, a dense float32 map would be {4 * n * n / 2**30:.2f} GiB; "
        f"with max_attention_bytes={budget >> 20} MiB the layer trains through "
        "query blocks with a recomputing backward pass"
    )
    xb = rng.normal(size=(1,) + big).astype("float32")
    yb = rng.integers(0, 4, size=(1,))
    before = _peak_rss_gb()
    model = _model(big, pool_size=None, max_attention_bytes=budget)
    seconds, loss = _timed_steps(model, xb, yb, 1)
    print(
        f"train step {seconds:.1f}s, loss {loss:.3f}, process peak memory "
        f"{_peak_rss_gb():.2f} GB (was {before:.2f} GB before this step)"
    )
    rows.append(dict(mode="embedded_gaussian", positions=n, step_s=seconds,
                     peak_rss_gb=_peak_rss_gb()))
    return rows
