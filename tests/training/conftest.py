"""Tiny videos and a trained tiny checkpoint for the training tests."""

import os

import pytest

import video_factory as vf
from helpers import CLIP
from helpers import run_cli
from helpers import tiny_overrides


@pytest.fixture(scope="session")
def tiny_videos(tmp_path_factory):
    """Two classes told apart by colour range (frame indices 0.. vs 500..),
    lossless (crf 0): lossy x264 encodes the same frames differently from run
    to run, and training results followed the pixels."""
    root = tmp_path_factory.mktemp("tiny_videos")
    for label, start in (("dark", 0), ("bright", 600)):
        os.makedirs(root / label)
        for i in range(4):
            vf.write_video(str(root / label / f"{i}.mp4"), 24, width=40, height=32,
                           start_index=start + 5 * i, crf=0)
    return str(root)


@pytest.fixture(scope="session")
def trained_checkpoint(tiny_videos, tmp_path_factory):
    """A checkpoint of the tiny recipe with `CLIP`, trained through the CLI
    (shared by the evaluation and clip-record tests)."""
    from keras_nonlocal import training

    out = str(tmp_path_factory.mktemp("clip_run"))
    run_cli("train", "finetune_own_videos",
            *tiny_overrides(tiny_videos, out, steps=2, checkpoint_every=2, **CLIP), check=True)
    return training.checkpoints(os.path.join(out, "checkpoints"))[0][1]
