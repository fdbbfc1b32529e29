"""`evaluate` over TFRecord shards written here with TensorFlow's own
`tf.train.SequenceExample` and `TFRecordWriter`, in the TF Model Garden
layout (JPEG frames, `clip/label/index`, `clip/media_id`) and DMVR's (PNG
frames here, `clip/label/text`, `video/filename`): each video is scored with
its own views, computed here from the decoded frames with the sampling
rules (tests/test_protocol.py checks those against the publishers')."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_nonlocal import data
from keras_nonlocal import training
from keras_nonlocal import zoo
from keras_nonlocal.data import sampling
from keras_nonlocal.protocol import protocol

CLASSES = ("a", "b", "c")
CLIP = dict(num_frames=4, frame_stride=2, crop_size=32, short_side_min=32, short_side_max=32,
            eval_short_side=32, eval_clips=2, eval_crops=3, class_names=CLASSES)
LENGTHS = (5, 12, 20)  # the first shorter than a clip (7 frames)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    return zoo.c2d_r14(classes=3, base_width=8, clip=CLIP)


@pytest.fixture(scope="module")
def videos():
    rng = np.random.default_rng(5)
    return [rng.integers(0, 256, (n, 32, 40, 3), dtype=np.uint8) for n in LENGTHS]


def _bytes(values):
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _write(path, videos, encode, context):
    """One SequenceExample per video: `context(i)` its context features."""
    with tf.io.TFRecordWriter(str(path)) as writer:
        for i, frames in enumerate(videos):
            example = tf.train.SequenceExample(
                context=tf.train.Features(feature=context(i)),
                feature_lists=tf.train.FeatureLists(feature_list={"image/encoded":
                    tf.train.FeatureList(feature=[_bytes([encode(f).numpy()]) for f in frames])}))
            writer.write(example.SerializeToString())
    return str(path)


def _expected(model, frames, rules, ratio=1.0):
    """A video's combined scores: its views cut here in NumPy."""
    total = len(frames)
    if ratio != 1.0:
        virtual = max(int(np.floor(total / ratio)), 1)
        indices = sampling.eval_clip_indices(virtual, 4, 2, 2, "loop", rules.clip_starts)
        indices = np.minimum(np.floor(indices * ratio).astype(int), total - 1)
    else:
        indices = sampling.eval_clip_indices(total, 4, 2, 2, "loop", rules.clip_starts)
    views = [frames[clip][:, :, x:x + 32] for clip in indices
             for x in sampling.crop_offsets(40, 32, 3, positions=rules.crop_positions)]
    scores = np.asarray(model.predict_on_batch(np.stack(views).astype("float32")))
    return scores.sum(0) if rules.combine == "sum" else scores.mean(0)


def _check(metrics, model, decoded, ids, rules, ratio=1.0):
    assert metrics["videos"] == len(ids) and metrics["protocol"] == rules.name
    for name, frames in zip(ids, decoded):
        got = dict(metrics["per_video"][name]["top"])
        expected = _expected(model, frames, rules, ratio)
        np.testing.assert_allclose([got[c] for c in CLASSES], expected, rtol=1e-4, atol=1e-6)


def test_model_garden_shards(model, videos, tmp_path):
    path = _write(tmp_path / "mg.tfrecord", videos, tf.io.encode_jpeg, lambda i: {
        "clip/label/index": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 3])),
        "clip/media_id": _bytes([f"video{i}".encode()])})
    metrics = training.evaluate(model, data.TFRecords(path))
    decoded = [np.stack([tf.io.decode_jpeg(tf.io.encode_jpeg(f)).numpy() for f in v])
               for v in videos]
    _check(metrics, model, decoded, ["video0", "video1", "video2"], protocol("keras_nonlocal"))
    assert [metrics["per_video"][f"video{i}"]["label"] for i in range(3)] == ["a", "b", "c"]


def test_dmvr_shards_with_png_frames_and_text_labels(model, videos, tmp_path):
    path = _write(tmp_path / "dmvr.tfrecord", videos, tf.io.encode_png, lambda i: {
        "clip/label/text": _bytes([CLASSES[(i + 1) % 3].encode()]),
        "video/filename": _bytes([f"clips/{i}.mp4".encode()])})
    metrics = training.evaluate(model, data.TFRecords(path), protocol="pyslowfast")
    _check(metrics, model, videos, [f"clips/{i}.mp4" for i in range(3)], protocol("pyslowfast"))
    assert metrics["per_video"]["clips/0.mp4"]["label"] == "b"


def test_records_without_ids_are_told_apart(model, videos, tmp_path):
    """Before, records without clip/media_id all counted as one video."""
    path = _write(tmp_path / "anon.tfrecord", videos, tf.io.encode_png, lambda i: {
        "clip/label/index": tf.train.Feature(int64_list=tf.train.Int64List(value=[0]))})
    metrics = training.evaluate(model, data.TFRecords(path))
    _check(metrics, model, videos, ["record 0", "record 1", "record 2"],
           protocol("keras_nonlocal"))


def test_a_missing_key_is_named(model, videos, tmp_path):
    path = _write(tmp_path / "nolabel.tfrecord", videos[:1], tf.io.encode_png,
                  lambda i: {"clip/media_id": _bytes([b"v"])})
    with pytest.raises(ValueError, match=r"no labels under 'clip/label/index' or "
                                         r"'clip/label/text'.*They have: context \['clip/media_id'\]"):
        training.evaluate(model, data.TFRecords(path))
    keys = data.RecordKeys(frames="frames/jpeg")
    with pytest.raises(ValueError, match=r"no frames under 'frames/jpeg'.*image/encoded"):
        training.evaluate(model, data.TFRecords(path, keys=keys))


def test_a_frame_rate_mismatch_is_refused_or_resampled(model, videos, tmp_path):
    """Shards at 10 fps (DMVR's), a clip whose stride assumes 30."""
    path = _write(tmp_path / "10fps.tfrecord", videos[2:], tf.io.encode_png, lambda i: {
        "clip/label/index": tf.train.Feature(int64_list=tf.train.Int64List(value=[1])),
        "clip/media_id": _bytes([b"v"]),
        "clip/frame_rate": tf.train.Feature(float_list=tf.train.FloatList(value=[10.0]))})
    with pytest.raises(ValueError, match="at 10 fps; the clip's stride 2 assumes 30 fps: refused"):
        training.evaluate(model, data.TFRecords(path, frame_rate=30))
    printed = []
    metrics = training.evaluate(model, data.TFRecords(path, frame_rate=30, resample=True),
                                print_fn=printed.append)
    assert any("resampled" in line for line in printed), printed
    _check(metrics, model, videos[2:], ["v"], protocol("keras_nonlocal"), ratio=1 / 3)
    same = training.evaluate(model, data.TFRecords(path, frame_rate=10))  # agreed: as they are
    _check(same, model, videos[2:], ["v"], protocol("keras_nonlocal"))


def test_predict_on_shards_without_labels(model, videos, tmp_path):
    """`predict` (and `keras-nonlocal predict shard.tfrecord`) needs no labels:
    each record's top classes from its own views."""
    path = _write(tmp_path / "unlabelled.tfrecord", videos, tf.io.encode_png,
                  lambda i: {"clip/media_id": _bytes([f"v{i}".encode()])})
    results = training.predict(model, data.TFRecords(path), top=3)
    assert sorted(results) == ["v0", "v1", "v2"]
    for i, frames in enumerate(videos):
        expected = _expected(model, frames, protocol("keras_nonlocal"))
        got = dict(results[f"v{i}"])
        np.testing.assert_allclose([got[c] for c in CLASSES], expected, rtol=1e-4, atol=1e-6)


def test_the_cli_on_shards(model, videos, tmp_path):
    import json

    from helpers import run_cli

    checkpoint = str(tmp_path / "m.keras")
    model.save(checkpoint)
    path = _write(tmp_path / "val-00000-of-00001.tfrecord", videos, tf.io.encode_png, lambda i: {
        "clip/label/index": tf.train.Feature(int64_list=tf.train.Int64List(value=[i % 3])),
        "clip/media_id": _bytes([f"v{i}".encode()]),
        "clip/frame_rate": tf.train.Feature(float_list=tf.train.FloatList(value=[10.0]))})
    pattern = str(tmp_path / "val-*.tfrecord")
    run = run_cli
    refused = run("evaluate", checkpoint, pattern, "--frame-rate", "30")
    assert refused.returncode != 0 and "refused" in refused.stderr
    done = run("evaluate", checkpoint, pattern, "--frame-rate", "30", "--resample",
               "--output", str(tmp_path / "eval.json"))
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resampled" in done.stdout and "protocol keras_nonlocal (" in done.stdout
    metrics = json.load(open(tmp_path / "eval.json"))
    assert sorted(metrics["per_video"]) == ["v0", "v1", "v2"]
    predicted = run("predict", checkpoint, path)
    assert predicted.returncode == 0, predicted.stderr[-3000:]
    assert sorted(line.split(":")[0] for line in predicted.stdout.strip().splitlines()
                  if line.startswith("v")) == ["v0", "v1", "v2"]
