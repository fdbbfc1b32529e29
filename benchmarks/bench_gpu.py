"""GPU benchmark: NL-I3D and I3D ResNet-50 training steps in bfloat16, Keras
on JAX against the same network in PyTorch (eager and torch.compile), in one
run; and the non-local block alone at the res3 / res4 shapes (Keras' fused
attention path against PyTorch's scaled_dot_product_attention).

Made for the GPU machines this project can borrow (JAX with CUDA and PyTorch,
no TensorFlow): it needs only keras, keras_nonlocal (its zoo and layers; no
tf.data) and torch. Every measurement runs in a process of its own (JAX and
PyTorch would fight over GPU memory), at batch sizes that double until one
does not fit; the table shows the largest that fits, its step time, clips/s
and the model FLOPs utilisation against the GPU's bf16 dense peak (training
FLOPs = 3 x forward, forward = 2 x the multiply-accumulates our builders
count). The PyTorch network is benchmarks/torch_video_resnet.py, built as the
zoo builds ours (publisher "paper", sampling "8x8").

Usage (on the GPU machine):
  KERAS_BACKEND=jax python benchmarks/bench_gpu.py [--steps 10] [--peak-tflops 989]
On a CPU, `--tiny` runs every path at a toy size (what the tests do).
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import measure  # noqa: E402
from _common import report  # noqa: E402

# bf16 dense tensor-core peaks (NVIDIA data sheets, SXM parts, no sparsity).
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L4": 121.0}
MODELS = ("nl_i3d_r50", "i3d_r50")


def _size(tiny):
    return dict(frames=4, size=32, base=8, classes=4) if tiny else dict(
        frames=8, size=224, base=64, classes=400)


def _inputs(batch, shape, classes, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    clips = rng.integers(0, 256, (batch, shape["frames"], shape["size"], shape["size"], 3),
                         dtype=np.uint8)
    return clips, rng.integers(0, classes, batch).astype("int32")


def keras_step(name, batch, steps, tiny):
    import keras
    import numpy as np

    from keras_nonlocal import zoo

    shape = _size(tiny)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    model = zoo.build(name, sampling="8x8", classes=shape["classes"], dropout=0.0,
                      base_width=shape["base"],
                      input_shape=(shape["frames"], shape["size"], shape["size"], 3))
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy",
                  jit_compile=True)
    clips, labels = _inputs(batch, shape, shape["classes"])
    for _ in range(2):
        float(np.asarray(model.train_on_batch(clips, labels)))
    start = time.perf_counter()
    for _ in range(steps):
        loss = model.train_on_batch(clips, labels)
    float(np.asarray(loss))
    return (time.perf_counter() - start) / steps


def torch_step(name, batch, steps, tiny, compiled):
    import torch

    from torch_video_resnet import VideoResNet

    shape = _size(tiny)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model = VideoResNet(nonlocal_=name.startswith("nl_"), classes=shape["classes"],
                        base=shape["base"]).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    run = torch.compile(model) if compiled else model
    clips, labels = _inputs(batch, shape, shape["classes"])
    x = torch.from_numpy(clips).to(device)
    y = torch.from_numpy(labels).long().to(device)
    mean = torch.tensor([103.939, 116.779, 123.68], device=device)[:, None, None, None]

    def step():
        inputs = (x.permute(0, 4, 1, 2, 3).float().flip(1) - mean)  # BGR, caffe, as ours
        with torch.autocast(device, dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(run(inputs), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        return loss

    return _torch_seconds(torch, step, steps)


def _torch_seconds(torch, step, steps):
    """Seconds per `step()` over `steps` runs after 2 warm-up runs, the GPU
    synchronised at both ends."""
    for _ in range(2):
        step()
    _sync(torch)
    start = time.perf_counter()
    for _ in range(steps):
        step()
    _sync(torch)
    return (time.perf_counter() - start) / steps


def _sync(torch):
    if torch.cuda.is_available():
        torch.cuda.synchronize()


LAYER_SHAPES = {"res3": (4, 28, 28, 512), "res4": (4, 14, 14, 1024)}


def keras_layer(stage, batch, steps, tiny):
    import jax
    import keras
    import numpy as np

    from keras_nonlocal import NonLocal3D

    shape = (2, 4, 4, 32) if tiny else LAYER_SHAPES[stage]
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    layer = NonLocal3D(mode="embedded_gaussian")
    x = np.random.default_rng(0).normal(size=(batch,) + shape).astype("float32")
    layer.build(x.shape)
    weights = [v.value for v in layer.trainable_variables]
    others = [v.value for v in layer.non_trainable_variables]

    def loss(weights, x):
        y, _ = layer.stateless_call(weights, others, x, training=True)
        return keras.ops.mean(keras.ops.cast(y, "float32") ** 2)

    grad = jax.jit(jax.grad(loss, argnums=(0, 1)))
    x = jax.numpy.asarray(x, "bfloat16")
    for _ in range(2):
        jax.block_until_ready(grad(weights, x))
    start = time.perf_counter()
    for _ in range(steps):
        out = grad(weights, x)
    jax.block_until_ready(out)
    return (time.perf_counter() - start) / steps


def torch_layer(stage, batch, steps, tiny):
    import torch

    from torch_video_resnet import NonLocal

    t, h, w, c = (2, 4, 4, 32) if tiny else LAYER_SHAPES[stage]
    device = "cuda" if torch.cuda.is_available() else "cpu"
    block = NonLocal(c).to(device)
    x = torch.randn(batch, c, t, h, w, device=device, requires_grad=True)

    def step():
        with torch.autocast(device, dtype=torch.bfloat16):
            loss = block(x).float().pow(2).mean()
        loss.backward()

    return _torch_seconds(torch, step, steps)


def worker(args):
    kind, name, batch, steps, tiny = args[0], args[1], int(args[2]), int(args[3]), args[4] == "1"
    try:
        if kind == "keras":
            seconds = keras_step(name, batch, steps, tiny)
        elif kind in ("torch", "torch.compile"):
            seconds = torch_step(name, batch, steps, tiny, kind == "torch.compile")
        elif kind == "keras_layer":
            seconds = keras_layer(name, batch, steps, tiny)
        else:
            seconds = torch_layer(name, batch, steps, tiny)
    except Exception as error:  # noqa: BLE001 -- out of memory ends the batch search
        report({"error": f"{type(error).__name__}: {str(error)[:200]}"})
        return
    report({"seconds": seconds, "device": _device_name()})


def _device_name():
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    try:
        import jax

        return jax.devices()[0].device_kind
    except ImportError:
        return "cpu"


def _largest(kind, name, batches, steps, tiny):
    """The largest batch that fits (doubling), with its step time."""
    best = None
    for batch in batches:
        result = measure(__file__, "--worker", kind, name, batch, steps, int(tiny))
        if "error" in result:
            if best is None:
                best = dict(result, batch=batch)
            break
        best = dict(result, batch=batch)
    return best


def _macs(name, tiny):
    from keras_nonlocal import zoo

    shape = _size(tiny)
    return zoo.summary(name, shape["frames"], shape["size"], print_fn=None, sampling="8x8",
                       classes=shape["classes"], base_width=shape["base"])["total"]["macs"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", nargs=5, help=argparse.SUPPRESS)
    parser.add_argument("--tiny", action="store_true", help="toy sizes, for a CPU")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batches", type=int, nargs="+", default=[4, 8, 16, 32, 64, 128])
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--stages", nargs="+", default=list(LAYER_SHAPES), choices=LAYER_SHAPES)
    parser.add_argument("--peak-tflops", type=float, help="the GPU's bf16 dense peak")
    parser.add_argument("--json", help="also write the results here")
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker)
    kinds = ["keras", "torch"] + ([] if args.no_compile else ["torch.compile"])
    rows, layer_rows = [], []
    for name in args.models:
        macs = _macs(name, args.tiny)
        for kind in kinds:
            result = _largest(kind, name, args.batches, args.steps, args.tiny)
            rows.append(dict(result, model=name, framework=kind, macs=macs))
    for stage in args.stages:
        for kind in ("keras_layer", "torch_layer"):
            result = measure(__file__, "--worker", kind, stage, 1 if args.tiny else 8,
                             args.steps, int(args.tiny))
            layer_rows.append(dict(result, stage=stage, framework=kind))
    device = next((r["device"] for r in rows if "device" in r), "?")
    peak = args.peak_tflops or next((v for k, v in PEAK_TFLOPS.items() if k in device), None)
    print(f"device: {device}; bf16 peak {peak or '?'} TFLOP/s; clips "
          f"{_size(args.tiny)['frames']}x{_size(args.tiny)['size']}, steps {args.steps}")
    header = (f"{'model':<11} {'framework':<14} {'batch':>5} {'step s':>8} {'clips/s':>8} "
              f"{'MFU %':>6} {'vs best torch':>13}")
    print(header)
    print("-" * len(header))
    for name in args.models:
        mine = [r for r in rows if r["model"] == name]
        torch_best = max((r["batch"] / r["seconds"] for r in mine
                          if r["framework"].startswith("torch") and "seconds" in r), default=None)
        for r in mine:
            if "seconds" not in r:
                print(f"{name:<11} {r['framework']:<14} {'-':>5} {r['error'][:60]}")
                continue
            rate = r["batch"] / r["seconds"]
            mfu = 6 * r["macs"] * rate / (peak * 1e12) * 100 if peak else float("nan")
            ratio = f"{rate / torch_best:.2f}x" if torch_best else "-"
            print(f"{name:<11} {r['framework']:<14} {r['batch']:>5} {r['seconds']:>8.4f} "
                  f"{rate:>8.1f} {mfu:>6.1f} {ratio:>13}")
    print("\nnon-local block alone (embedded Gaussian, bf16, forward + backward, batch "
          f"{1 if args.tiny else 8})")
    for stage in args.stages:
        pair = {r["framework"]: r for r in layer_rows if r["stage"] == stage}
        ours, theirs = pair["keras_layer"], pair["torch_layer"]
        if "seconds" in ours and "seconds" in theirs:
            print(f"{stage}: keras {ours['seconds'] * 1e3:.2f} ms, torch SDPA "
                  f"{theirs['seconds'] * 1e3:.2f} ms, {theirs['seconds'] / ours['seconds']:.2f}x")
        else:
            print(f"{stage}: {ours.get('error') or theirs.get('error')}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": device, "peak_tflops": peak, "models": rows,
                       "layer": layer_rows}, f, indent=1)


if __name__ == "__main__":
    main()
