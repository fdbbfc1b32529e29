"""Tiny videos and tiny-model recipe overrides for the training tests."""

import os
import signal
import subprocess
import sys
import time

import pytest

import video_factory as vf


@pytest.fixture(scope="session")
def tiny_videos(tmp_path_factory):
    """Two classes told apart by colour range (frame indices 0.. vs 500..)."""
    root = tmp_path_factory.mktemp("tiny_videos")
    for label, start in (("dark", 0), ("bright", 600)):
        os.makedirs(root / label)
        for i in range(4):
            vf.write_video(str(root / label / f"{i}.mp4"), 24, width=40, height=32,
                           start_index=start + 5 * i)
    return str(root)


def tiny_overrides(videos, output_dir, **extra):
    """A 0.5 M-parameter NL-C2D on 4 x 32 x 32 clips: seconds per run."""
    settings = dict(
        model="nl_c2d_r50", weights="", base_width=8, dropout=0.0, train_data=videos,
        num_frames=4, frame_stride=2, crop_size=32, short_side_min=32, short_side_max=36,
        batch_size=4, steps=8, checkpoint_every=2, base_lr=0.8, lr_schedule="step",
        output_dir=output_dir, seed=3, strategy="default", deterministic=True,
    )
    settings.update(extra)
    return [f"{k}={v}" for k, v in settings.items() if v is not None]  # None: the recipe's


# A clip unlike every zoo default (32x2 / 8x8, crop 224, test 256, 10 x 3 views).
CLIP = dict(num_frames=4, frame_stride=4, crop_size=64, short_side_min=64, short_side_max=72,
            eval_short_side=64, eval_clips=2, eval_crops=1)


@pytest.fixture(scope="session")
def trained_checkpoint(tiny_videos, tmp_path_factory):
    """A checkpoint of the tiny recipe with `CLIP`, trained through the CLI
    (shared by the evaluation and clip-record tests)."""
    from keras_nonlocal import training

    out = str(tmp_path_factory.mktemp("clip_run"))
    done = subprocess.run(
        [sys.executable, "-m", "keras_nonlocal.cli", "train", "finetune_own_videos",
         *tiny_overrides(tiny_videos, out, steps=2, checkpoint_every=2, **CLIP)],
        env=dict(os.environ, KERAS_BACKEND="tensorflow"), capture_output=True, text=True,
        timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return training.checkpoints(os.path.join(out, "checkpoints"))[0][1]


def train_killed_at(args, env, output_dir, step, timeout):
    """Runs `keras-nonlocal train *args` and kill -9s its whole process group
    as soon as the checkpoint of `step` exists in `output_dir` (or after
    `timeout` s); returns the steps of the checkpoints left behind."""
    from keras_nonlocal import training

    proc = subprocess.Popen([sys.executable, "-m", "keras_nonlocal.cli", "train", *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    target = os.path.join(output_dir, "checkpoints", f"ckpt-{step:08d}.keras")
    deadline = time.time() + timeout
    while time.time() < deadline and not os.path.exists(target) and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return [s for s, _ in training.checkpoints(os.path.join(output_dir, "checkpoints"))]
