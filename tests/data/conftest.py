"""Real video files for the data tests, written once per session with PyAV."""

import os

import pytest

import video_factory as vf


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory):
    """Two classes of small real videos of several containers and lengths.

    Frame i of every video shows index i (see video_factory)."""
    root = tmp_path_factory.mktemp("videos")
    layout = {
        "walk/a.mp4": 100, "walk/b.webm": 80, "walk/c.avi": 70,
        "run/d.mkv": 90, "run/e.mp4": 120, "run/f.mov": 64,
    }
    for name, frames in layout.items():
        path = root / name
        os.makedirs(path.parent, exist_ok=True)
        vf.write_video(str(path), frames, width=64, height=48)
    return str(root)


@pytest.fixture(scope="session")
def bad_video_dir(tmp_path_factory, video_dir):
    """Good videos plus every kind of bad input, in class folders."""
    root = tmp_path_factory.mktemp("bad_videos")
    os.makedirs(root / "good")
    os.makedirs(root / "bad")
    good = vf.write_video(str(root / "good" / "ok.mp4"), 80)
    vf.write_video(str(root / "good" / "ok2.webm"), 70)
    vf.write_video(str(root / "good" / "short.mp4"), 5)  # fewer frames than a clip
    vf.write_odd_size_video(str(root / "good" / "odd.mp4"))
    vf.write_gray_video(str(root / "good" / "gray.mkv"))
    vf.write_10bit_video(str(root / "good" / "tenbit.mp4"))
    bad = {
        "corrupt.mp4": lambda p: vf.write_corrupt_bytes(p, good),
        "truncated.mp4": lambda p: vf.write_truncated(p, good),
        "empty.mp4": vf.write_zero_length,
        "text.mp4": vf.write_not_a_video,
        "audio.mkv": vf.write_audio_only,
        "image.avi": vf.write_still_image,  # a PNG renamed
    }
    written = {}
    for name, write in bad.items():
        written[name] = write(str(root / "bad" / name))
    return str(root), written
