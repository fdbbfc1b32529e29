"""Training throughput of NL-I3D R50 (8x224x224) on this CPU with real decoded
clips, and the fraction of step time spent waiting for input.

Clips come from `--videos` H.264 files made by bench_data.make_videos through
`data.video_dataset` (8x8 sampling, 224 crops); the model is
`zoo.nl_i3d_r50(sampling="8x8")`, 400 classes, SGD as in the recipes. Each
step: `next(iterator)` (time waiting for input; the pipeline prefetches in the
background) then `train_on_batch` (compiled; XLA as `fit` picks by default).
Median over `--steps` steps after 2 warm-up steps.

Usage: KERAS_BACKEND=tensorflow python benchmarks/bench_train.py [--batch 2] [--steps 6]
"""

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
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
          f"{3 * macs * args.batch / step / 1e9:.1f} GMAC/s (3 x {macs / 1e9:.1f} GMAC per clip)")


if __name__ == "__main__":
    main()
