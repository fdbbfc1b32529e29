"""Forward and training-step time of NL-I3D R50 (8x224x224, batch 2) on CPU,
ours (Keras) next to pytorchvideo, same machine, same run.

Rows:
- `i3d_r50`: our `zoo.i3d_r50(sampling="8x8", publisher="pytorchvideo")` vs
  pytorchvideo's `i3d_r50` (the same architecture: equal parameter counts);
- `nl_i3d_r50`: our `zoo.nl_i3d_r50(sampling="8x8", publisher="pytorchvideo")` vs
  pytorchvideo's `i3d_r50` with pytorchvideo's own `NonLocal` blocks
  (`create_nonlocal`, softmax, 1x2x2 pool) inserted after the same residual
  blocks (res3 2, 4; res4 2, 4, 6), which pytorchvideo's hub does not do itself.

What is timed (median of --repeats after a warm-up): "forward" is one
inference pass (ours: `predict_on_batch`; theirs: eval mode, no_grad);
"train step" is forward + backward + SGD update on 400-class labels (ours:
a zoo model, `model.compile` with Keras' defaults, `train_on_batch`: on a
CPU-only machine Keras' `jit_compile="auto"` leaves XLA off, a tf.function
graph; theirs: train mode, cross-entropy, `optimizer.step()`). "GB / clip":
the process's peak resident memory minus its memory before the model was
built, divided by the batch (the training step is the peak on both sides). Each measurement runs in its
own subprocess. pytorchvideo's model module imports torchvision for a
detection head only; no CPU torchvision exists beside torch 2.13.0 here,
so that one import is shimmed (see tests/helpers.py).

Usage: KERAS_BACKEND=tensorflow python benchmarks/bench_zoo.py [--repeats 3]
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import measure, median, peak_gb, print_table_header, report, rss_gb, timings  # noqa: E402,E501

BATCH, FRAMES, SIZE, CLASSES = 2, 8, 224, 400
NL_AFTER = {"res3": [1, 3], "res4": [1, 3, 5]}  # 0-based blocks, as the zoo


def run_ours(model_name, repeats):
    import keras
    import numpy as np

    from keras_nonlocal import zoo

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(BATCH, FRAMES, SIZE, SIZE, 3)).astype("float32")
    y = rng.integers(0, CLASSES, size=(BATCH,))
    base = rss_gb()
    model = zoo.build(model_name, sampling="8x8", publisher="pytorchvideo",
                      input_shape=(FRAMES, SIZE, SIZE, 3))
    model.compile(keras.optimizers.SGD(0.01, momentum=0.9), "sparse_categorical_crossentropy")
    forward = timings(lambda: model.predict_on_batch(x), repeats)
    train = timings(lambda: model.train_on_batch(x, y), repeats)
    params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return {"forward": forward, "train": train, "params": params,
            "gb_per_clip": (peak_gb() - base) / BATCH}


def _pytorchvideo_model(with_nonlocal):
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
    from helpers import import_pytorchvideo_hub

    import torch.nn as nn
    from pytorchvideo.layers.nonlocal_net import create_nonlocal

    model = import_pytorchvideo_hub().i3d_r50(pretrained=False)
    if with_nonlocal:
        # blocks: stem, res2, pool2, res3, res4, res5, head
        for stage_index, stage_name in ((3, "res3"), (4, "res4")):
            res_stage = model.blocks[stage_index].res_blocks
            blocks = list(res_stage)
            for b in sorted(NL_AFTER[stage_name], reverse=True):
                dim = blocks[b].branch2.conv_c.out_channels
                blocks.insert(b + 1, create_nonlocal(
                    dim_in=dim, dim_inner=dim // 2, pool_size=(1, 2, 2), instantiation="softmax"))
            model.blocks[stage_index].res_blocks = nn.ModuleList(blocks)
    return model


def run_reference(model_name, repeats):
    import numpy as np
    import torch

    base = rss_gb()
    model = _pytorchvideo_model(with_nonlocal=model_name.startswith("nl_"))
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.uniform(-2, 2, size=(BATCH, 3, FRAMES, SIZE, SIZE)).astype("float32"))
    y = torch.from_numpy(rng.integers(0, CLASSES, size=(BATCH,)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()

    def forward():
        model.eval()
        with torch.no_grad():
            model(x)

    def train():
        model.train()
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(x), y).backward()
        optimizer.step()

    params = sum(p.numel() for p in model.parameters())
    return {"forward": timings(forward, repeats), "train": timings(train, repeats),
            "params": params, "gb_per_clip": (peak_gb() - base) / BATCH}


def _measure(impl, model_name, repeats):
    result = measure(__file__, "--worker", impl, "--model", model_name, "--repeats", repeats)
    if "error" in result:
        raise RuntimeError(f"{impl} {model_name}: {result['error']}")
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=["ours", "reference"])
    parser.add_argument("--model", default="nl_i3d_r50")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    if args.worker:
        fn = run_ours if args.worker == "ours" else run_reference
        report(fn(args.model, args.repeats))
        return

    import keras

    print_table_header(
        f"{BATCH}x{FRAMES}x{SIZE}x{SIZE} clips, CPU ({os.cpu_count()} cores), ours on "
        f"Keras/{keras.backend.backend()} vs pytorchvideo 0.1.5, median (min-max) of "
        f"{args.repeats}",
        f"{'model':<11} {'step':<8} {'ours s':>18} {'ref s':>18} {'ref/ours':>9} "
        f"{'GB/clip ours':>13} {'ref':>6}")
    for name in ("i3d_r50", "nl_i3d_r50"):
        ours = _measure("ours", name, args.repeats)
        ref = _measure("reference", name, args.repeats)
        print(f"{name:<11} params {ours['params'] / 1e6:.2f} M ours, {ref['params'] / 1e6:.2f} M ref")
        for step in ("forward", "train"):
            print(f"{'':<11} {step:<8} {_spread(ours[step]):>18} {_spread(ref[step]):>18} "
                  f"{median(ref[step]) / median(ours[step]):>8.2f}x "
                  f"{ours['gb_per_clip']:>13.2f} {ref['gb_per_clip']:>6.2f}", flush=True)


def _spread(times):
    return f"{median(times):.2f} ({times[0]:.2f}-{times[-1]:.2f})"


if __name__ == "__main__":
    main()
