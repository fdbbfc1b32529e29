"""`keras-nonlocal predict --timeline` and `keras_nonlocal.timeline`."""

import csv
import json
import os

import keras
import numpy as np
import pytest

from helpers import run_cli
from test_features import decode_all
from test_features import expected_windows
from keras_nonlocal import timeline

FPS = 25


def window_scores(model, video, hop=8):
    frames = decode_all(video)
    windows = expected_windows(len(frames), hop)
    clips = np.stack([frames[indices] for _, _, indices in windows]).astype("float32")
    return windows, keras.ops.convert_to_numpy(model(clips))


@pytest.mark.parametrize("extension", [".json", ".csv"])
def test_timeline_through_the_cli(window_model, window_videos, tmp_path, extension):
    video = os.path.join(window_videos, "long", "long.mp4")
    output = str(tmp_path / f"timeline{extension}")
    done = run_cli("predict", window_model, video, "--timeline", "--top", "2", "--hop", "5",
                   "--output", output, check=True)
    assert "5 windows" in done.stdout  # 30 frames, span 7: starts 0, 5, ..., 20 (25 + 6 > 29)
    model = keras.saving.load_model(window_model, compile=False)
    windows, scores = window_scores(model, video, hop=5)
    if extension == ".json":
        entries = json.load(open(output))
        assert [(e["first_frame"], e["last_frame"]) for e in entries] == \
            [(a, b) for a, b, _ in windows]
        assert 0.05 < min(g["score"] for e in entries for g in e["top"]) < 0.95
        for entry, row in zip(entries, scores):
            assert entry["start"] == pytest.approx(entry["first_frame"] / FPS)
            assert entry["end"] == pytest.approx((entry["last_frame"] + 1) / FPS)
            best = np.argsort(-row)[:2]
            assert [g["class"] for g in entry["top"]] == [("red", "green", "blue")[i] for i in best]
            np.testing.assert_allclose([g["score"] for g in entry["top"]], row[best], atol=1e-5)
    else:
        rows = list(csv.DictReader(open(output)))
        assert len(rows) == 2 * len(windows)
        assert [int(r["rank"]) for r in rows[:2]] == [1, 2]
        assert float(rows[0]["score"]) == pytest.approx(scores[0].max(), abs=1e-5)
        assert float(rows[-2]["start"]) == pytest.approx(20 / FPS, abs=1e-3)
    picture = os.path.splitext(output)[0] + ".png"
    assert open(picture, "rb").read(8) == b"\x89PNG\r\n\x1a\n" and os.path.getsize(picture) > 5000


def test_default_output_next_to_the_video_and_errors(window_model, window_videos, tmp_path):
    import shutil

    video = str(tmp_path / "clip.mp4")
    shutil.copy(os.path.join(window_videos, "short.mp4"), video)
    run_cli("predict", window_model, video, "--timeline", check=True)
    entries = json.load(open(str(tmp_path / "clip_timeline.json")))
    assert len(entries) == 1 and (entries[0]["first_frame"], entries[0]["last_frame"]) == (0, 4)
    assert os.path.exists(tmp_path / "clip_timeline.png")
    done = run_cli("predict", window_model, video, video, "--timeline", "--output", "a.json")
    assert done.returncode == 2 and "--output names one file" in done.stderr
    done = run_cli("predict", window_model, video, "--hop", "3")
    assert done.returncode == 2 and "go with --timeline" in done.stderr
    with pytest.raises(ValueError, match="as .json or .csv"):
        timeline.write_timeline([], str(tmp_path / "t.txt"))


def test_three_crops_per_window(window_model, tmp_path):
    """`--crops 3` averages the scores of the window's three crops (it was
    ignored: the timeline always took the centre crop)."""
    import video_factory as vf

    video = vf.write_video(str(tmp_path / "wide.mp4"), 12, width=48, height=32)
    output = str(tmp_path / "wide.json")
    run_cli("predict", window_model, video, "--timeline", "--crops", "3", "--top", "3",
            "--output", output, check=True)
    model = keras.saving.load_model(window_model, compile=False)
    clip = decode_all(video)[[0, 2, 4, 6]].astype("float32")
    views = np.stack([clip[:, :, x:x + 32] for x in (0, 8, 16)])
    expected = keras.ops.convert_to_numpy(model(views)).mean(axis=0)
    [entry] = json.load(open(output))
    scores = {g["class"]: g["score"] for g in entry["top"]}
    np.testing.assert_allclose([scores[n] for n in ("red", "green", "blue")], expected,
                               atol=1e-5)
