"""The same tiny training recipe end to end on the TensorFlow and the JAX
backend: `keras-nonlocal train`, validation included, wall time of the
whole command, side by side in one run.

The recipe is the tests' tiny one (NL-C2D R50 at base width 8 with 5 blocks,
clips 4 x 32 x 32, batch 4, 24 steps, a checkpoint and a validation pass
every 6 steps) on 8 small H.264 videos of 4 classes.
JAX runs twice per repetition: "cold" with an empty compilation cache (the
first run on a machine), "warm" with the cache the cold run filled (a resumed
or repeated run). Medians over `--repeats` repetitions, with the spread.

Usage: python benchmarks/bench_backends.py [--repeats 3]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_data import make_videos  # noqa: E402

RECIPE = dict(model="nl_c2d_r50", weights="", base_width=8, dropout=0.0, num_frames=4,
              frame_stride=2, crop_size=32, short_side_min=32, short_side_max=36,
              eval_short_side=32, batch_size=4, steps=24, checkpoint_every=6, lr_at_batch_64=0.1,
              seed=3, strategy="default", deterministic="true")


def run(backend, videos, output, cache=None):
    env = dict(os.environ, KERAS_BACKEND=backend)
    if cache:
        env["JAX_COMPILATION_CACHE_DIR"] = cache
    args = [f"{k}={v}" for k, v in RECIPE.items()]
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "keras_nonlocal.cli", "train",
                           "finetune_own_videos", *args, f"train_data={videos}",
                           f"val_data={videos}", f"output_dir={output}"],
                          env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times = {"tensorflow": [], "jax, cold cache": [], "jax, warm cache": []}
    with tempfile.TemporaryDirectory() as folder:
        videos = os.path.join(folder, "videos")
        make_videos(videos, 8, frames=48, width=48, height=40)
        for r in range(args.repeats):
            cache = os.path.join(folder, f"jax_cache{r}")
            times["tensorflow"].append(run("tensorflow", videos, os.path.join(folder, f"tf{r}")))
            times["jax, cold cache"].append(run("jax", videos, os.path.join(folder, f"jc{r}"),
                                                cache))
            times["jax, warm cache"].append(run("jax", videos, os.path.join(folder, f"jw{r}"),
                                                cache))
    reference = float(np.median(times["tensorflow"]))
    print(f"keras-nonlocal train, tiny recipe (24 steps, 4 validations), {args.repeats} "
          f"repetitions, wall time of the command")
    header = f"{'backend':<18} {'median s':>9} {'min-max s':>13} {'vs TensorFlow':>14}"
    print(header)
    print("-" * len(header))
    for name, values in times.items():
        median = float(np.median(values))
        print(f"{name:<18} {median:>9.1f} {min(values):>6.1f}-{max(values):<6.1f} "
              f"{median / reference:>13.2f}x")


if __name__ == "__main__":
    main()
