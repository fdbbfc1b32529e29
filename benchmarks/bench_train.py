"""Training throughput of NL-I3D R50 (8x224x224) on this CPU with real decoded
clips, and the fraction of step time spent waiting for input.

Clips come from `--videos` H.264 files made by bench_data.make_videos through
`data.video_dataset` (8x8 sampling, 224 crops); the model is
`zoo.nl_i3d_r50(sampling="8x8")`, 400 classes, compiled by the function
`keras-nonlocal train` uses (`training.train.compile_model`: the recipes'
SGD, and on TensorFlow on a CPU-only machine a tf.function graph without XLA,
see `training.train.jit_compile`). Each step: `next(iterator)` (time waiting
for input; the pipeline prefetches in the background) then `train_on_batch`.
Median over `--steps` steps after 2 warm-up steps; peak memory per clip is
the process's peak resident memory minus its memory before the model was
built, divided by the batch.

Usage: KERAS_BACKEND=tensorflow python benchmarks/bench_train.py [--batch 2] [--steps 6]
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _common import peak_gb, rss_gb  # noqa: E402
from bench_data import make_videos  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--videos", type=int, default=8)
    args = parser.parse_args()
    import keras

    from keras_nonlocal import Clip, data, training, zoo

    with tempfile.TemporaryDirectory() as folder:
        make_videos(folder, args.videos)
        videos = data.read_videos(folder)
        dataset, _ = data.video_dataset(videos, Clip(num_frames=8, frame_stride=8),
                                        batch_size=args.batch, seed=0, repeat=True,
                                        drop_remainder=True)
        base = rss_gb()
        model = zoo.nl_i3d_r50(sampling="8x8", classes=400, input_shape=(8, 224, 224, 3))
        recipe = training.load_recipe(None, [f"batch_size={args.batch}", "steps=1000"])
        from keras_nonlocal.training.train import compile_model

        compile_model(model, recipe)
        iterator = iter(dataset)
        waits, steps = [], []
        for i in range(args.steps + 2):
            start = time.perf_counter()
            clips, labels = next(iterator)
            waited = time.perf_counter() - start
            model.train_on_batch(clips, labels)
            total = time.perf_counter() - start
            if i >= 2:
                waits.append(waited)
                steps.append(total)
    step = float(np.median(steps))
    wait = float(np.median(waits))
    macs = zoo.summary("nl_i3d_r50", 8, 224, print_fn=None, sampling="8x8")["total"]["macs"]
    print(f"NL-I3D R50 8x224x224, batch {args.batch}, Keras/{keras.backend.backend()} on "
          f"{os.cpu_count()} CPU cores, real decoded clips")
    print(f"step {step:.2f} s (median of {args.steps}), {args.batch / step:.2f} clips/s, "
          f"waiting for input {wait:.3f} s = {100 * wait / step:.1f}% of the step; "
          f"{3 * macs * args.batch / step / 1e9:.1f} GMAC/s (3 x {macs / 1e9:.1f} GMAC per clip); "
          f"peak memory {(peak_gb() - base) / args.batch:.2f} GB per clip "
          f"(steps {min(steps):.2f}-{max(steps):.2f} s)")


if __name__ == "__main__":
    main()
