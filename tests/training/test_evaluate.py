"""Metrics on known scores, per-video averaging, evaluate/predict/export CLIs."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_nonlocal import export
from keras_nonlocal import training
from helpers import run_cli


def test_topk_and_per_class_accuracy_by_hand():
    scores = np.array([[0.1, 0.6, 0.2, 0.1],    # label 1: top-1 hit
                       [0.5, 0.1, 0.3, 0.1],    # label 2: 2nd -> top-5 only
                       [0.1, 0.2, 0.3, 0.4],    # label 0: 4th
                       [0.7, 0.1, 0.1, 0.1]])   # label 0: top-1 hit
    labels = np.array([1, 2, 0, 0])
    m = training.classification_metrics(scores, labels, ["a", "b", "c", "d"])
    assert m["top1"] == pytest.approx(0.5)
    assert m["top5"] == pytest.approx(1.0)  # 4 classes: top-5 = top-4
    assert m["per_class_accuracy"] == {"a": 0.5, "b": 1.0, "c": 0.0}
    assert m["confusion_matrix"][0] == [1, 0, 0, 1] and m["confusion_matrix"][2][0] == 1


def test_map_by_hand():
    scores = np.array([[0.9, 0.1], [0.8, 0.7], [0.1, 0.6]])
    targets = np.array([[1, 0], [0, 1], [1, 1]])
    # class 0: ranking v0 (pos), v1 (neg), v2 (pos): AP = (1/1 + 2/3) / 2 = 0.8333
    # class 1: ranking v1 (pos), v2 (pos), v0: AP = (1 + 1) / 2 = 1
    assert training.mean_average_precision(scores, targets) == pytest.approx((0.8333333 + 1) / 2)


def test_multi_view_average_is_per_video():
    scores = np.array([[1.0, 0.0], [0.0, 1.0], [0.2, 0.8], [0.6, 0.4], [0.5, 0.5]])
    ids = np.array([7, 7, 3, 3, 3])
    video_ids, averaged = training.combine_views(scores, ids)
    np.testing.assert_array_equal(video_ids, [3, 7])
    np.testing.assert_allclose(averaged, [[1.3 / 3, 1.7 / 3], [0.5, 0.5]])
    _, _, labels = training.combine_views(scores, ids, labels=[1, 1, 0, 0, 0])
    np.testing.assert_array_equal(labels, [0, 1])


def test_labels_per_video_in_one_pass(rng):
    """Each video's label from its views, for 20,000 videos in shuffled view
    order (one `np.unique`, where the old lookup compared every id with every
    view), against a dict built view by view."""
    ids = rng.permutation(np.repeat(np.arange(20000), 3))
    truth = rng.integers(0, 400, 20000)
    scores = rng.random((len(ids), 4))
    video_ids, _, labels = training.combine_views(scores, ids, truth[ids])
    expected = {}
    for i in ids:
        expected.setdefault(int(i), truth[i])
    np.testing.assert_array_equal(labels, [expected[int(i)] for i in video_ids])
    multi_hot = np.eye(5)[truth[ids] % 5]
    _, _, rows = training.combine_views(scores, ids, multi_hot)
    np.testing.assert_array_equal(rows, np.eye(5)[truth % 5])
    with pytest.raises(ValueError, match="Views of one video carry different labels"):
        training.combine_views(scores[:3], [0, 0, 1], [2, 3, 1])


@pytest.fixture
def trained(trained_checkpoint):
    return os.path.dirname(os.path.dirname(trained_checkpoint)), trained_checkpoint


def test_evaluate_cli_multi_view(tiny_videos, trained):
    out, checkpoint = trained
    done = run_cli("evaluate", checkpoint, tiny_videos, "--clips", "2", "--crops", "3",
                   "--short-side", "32")
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.load(open(os.path.splitext(checkpoint)[0] + "_eval.json"))
    assert results["videos"] == 8 and results["views_per_video"] == 6
    assert results["top5"] == 1.0  # 2 classes; exact top-1: test_clip_record.py
    assert sum(map(sum, results["confusion_matrix"])) == 8
    assert set(results["per_class_accuracy"]) <= {"bright", "dark"}
    assert os.path.exists(os.path.splitext(checkpoint)[0] + "_eval_confusion.png")


def test_predict_cli(tiny_videos, trained):
    _, checkpoint = trained
    video = os.path.join(tiny_videos, "dark", "0.mp4")
    done = run_cli("predict", checkpoint, video, "/no/such.mp4", "--clips", "1", "--crops", "1",
                   "--short-side", "32")
    assert done.returncode == 0, done.stderr[-3000:]
    lines = dict(line.split(": ", 1) for line in done.stdout.strip().splitlines())
    assert set(name for name in ("dark", "bright") if name in lines[video]) == {"dark", "bright"}
    assert lines["/no/such.mp4"].startswith("unreadable")


def test_export_round_trip(trained, tmp_path, rng):
    _, checkpoint = trained
    model = keras.saving.load_model(checkpoint, compile=False)
    path = str(tmp_path / "saved")
    export.export(model, path)
    served = tf.saved_model.load(path)
    clips = rng.integers(0, 256, size=(2, 4, 32, 32, 3)).astype("uint8")
    expected = model(clips.astype("float32"), training=False)
    np.testing.assert_allclose(served.serve(tf.constant(clips)).numpy(),
                               keras.ops.convert_to_numpy(expected), atol=1e-6)
    with pytest.raises((TypeError, ValueError)):
        served.serve(tf.constant(clips.astype("float32")))  # the signature takes uint8


def test_evaluate_cli_protocols_and_denominators(tiny_videos, trained_checkpoint, tmp_path):
    """`--protocol` changes the rules, is printed and recorded; an unreadable
    video in the list is left out of `top1` and counted wrong in `listed`."""
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42 not a video")
    listing = tmp_path / "val.csv"
    lines = [f"{os.path.join(tiny_videos, c, v)},{c}" for c in sorted(os.listdir(tiny_videos))
             for v in sorted(os.listdir(os.path.join(tiny_videos, c)))]
    listing.write_text("\n".join(lines + [f"{bad},dark"]) + "\n")
    results = {}
    for name in ("release", "pyslowfast"):
        output = str(tmp_path / f"{name}.json")
        done = run_cli("evaluate", trained_checkpoint, str(listing), "--clips", "2", "--crops", "3",
                       "--short-side", "32", "--protocol", name, "--output", output)
        assert done.returncode == 0, done.stderr[-3000:]
        assert f"protocol {name} (" in done.stdout
        results[name] = json.load(open(output))
        assert results[name]["protocol"] == name and results[name]["clip"]["protocol"] == name
    release = results["release"]
    assert release["videos"] == len(lines) and release["listed"]["videos"] == len(lines) + 1
    assert release["skipped_videos"] == [str(bad)] and release["reported"] == "listed"
    assert release["listed"]["top1"] == pytest.approx(release["top1"] * len(lines)
                                                      / (len(lines) + 1))
    assert results["pyslowfast"]["reported"] == "readable"
