"""`keras-nonlocal features` and `keras_nonlocal.features`: a model's clip
slid over whole videos, on real video files the tests write."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import av
import keras
import numpy as np
import pytest

import video_factory as vf
from helpers import WINDOW_CLIP
from helpers import WINDOW_VIDEOS
from helpers import assert_close_in_float32
from helpers import backend_env
from helpers import run_cli
from keras_nonlocal import features
from keras_nonlocal import zoo

SPAN = (WINDOW_CLIP["num_frames"] - 1) * WINDOW_CLIP["frame_stride"] + 1  # 7
FPS = 25


def decode_all(path):
    """Every frame of a video, decoded here with PyAV alone."""
    with av.open(path) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def expected_windows(frames, hop):
    """The issue's rule, written out: window k samples k * hop + i * stride."""
    n, t, s = frames, WINDOW_CLIP["num_frames"], WINDOW_CLIP["frame_stride"]
    if n < SPAN:
        return [(0, n - 1, [(i * s) % n for i in range(t)])]
    return [(k, k + SPAN - 1, [k + i * s for i in range(t)]) for k in range(0, n - SPAN + 1, hop)]


def reference_rows(model, path, windows):
    """The pooled features of each window's frames, decoded independently."""
    frames = decode_all(path)
    clips = np.stack([frames[indices] for _, _, indices in windows]).astype("float32")
    return keras.ops.convert_to_numpy(zoo.feature_model(model)(clips))


def check_output(out, name, model, video, hop):
    rows = np.load(os.path.join(out, os.path.splitext(name)[0] + ".npy"))
    record = json.load(open(os.path.join(out, os.path.splitext(name)[0] + ".json")))
    windows = expected_windows(WINDOW_VIDEOS[name], hop)
    assert rows.dtype == np.float32 and rows.shape == (len(windows), 256)
    assert record["fps"] == FPS
    assert [(w["first_frame"], w["last_frame"]) for w in record["windows"]] == \
        [(a, b) for a, b, _ in windows]
    for w in record["windows"]:
        assert w["start"] == pytest.approx(w["first_frame"] / FPS)
        assert w["end"] == pytest.approx((w["last_frame"] + 1) / FPS)
    expected = reference_rows(model, video, windows)
    np.testing.assert_allclose(rows, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
    return rows


@pytest.mark.parametrize("hop", [None, 3])
def test_windows_times_and_rows_through_the_cli(window_model, window_videos, tmp_path, hop):
    out = str(tmp_path / "features")
    args = ["features", window_model, window_videos, "--out", out, "--quiet", "--batch-size", "3"]
    if hop:
        args += ["--hop", str(hop)]
    done = run_cli(*args, check=True)
    assert f"features of {len(WINDOW_VIDEOS)} videos written" in done.stdout
    model = keras.saving.load_model(window_model, compile=False)
    counts = {}
    for name in WINDOW_VIDEOS:
        rows = check_output(out, name, model, os.path.join(window_videos, name), hop or 8)
        counts[name] = len(rows)
    # short (5 frames) and exact (7) give one window; 30 frames: starts 0, 8, 16
    # (24 + 6 > 29); 23 frames: 0, 8, 16 (16 + 6 = 22); hop 3: 0..23 and 0..15.
    assert counts == ({"short.mp4": 1, "exact.mp4": 1, "long/long.mp4": 3, "long/b_frames.avi": 3}
                      if hop is None else
                      {"short.mp4": 1, "exact.mp4": 1, "long/long.mp4": 8, "long/b_frames.avi": 6})


def test_three_crops_are_averaged_and_a_stage_is_taken(window_model, tmp_path, rng):
    """48 x 32 frames at side 32: three 32 x 32 crops (left, centre, right)."""
    video = vf.write_video(str(tmp_path / "wide.mp4"), 12, width=48, height=32)
    model = keras.saving.load_model(window_model, compile=False)
    [result] = list(features.extract_features(model, [video], crops=3))
    frames = decode_all(video)
    clip = frames[[0, 2, 4, 6]].astype("float32")
    views = np.stack([clip[:, :, x:x + 32] for x in (0, 8, 16)])
    expected = keras.ops.convert_to_numpy(zoo.feature_model(model)(views)).mean(axis=0)
    np.testing.assert_allclose(result.outputs[0], expected, rtol=1e-4, atol=1e-5)
    assert len(result.windows) == 1  # 12 frames: starts 0 (8 + 6 > 11)
    [maps] = list(features.extract_features(model, [video], layer="conv4_block1_out",
                                            pooling=None))
    reference = zoo.feature_model(model, "conv4_block1_out", pooling=None)(views[1:2])
    np.testing.assert_allclose(maps.outputs, keras.ops.convert_to_numpy(reference),
                               rtol=1e-4, atol=1e-5)


def test_resume_after_a_deleted_output_and_after_kill_9(window_model, window_videos, tmp_path):
    out = str(tmp_path / "features")
    run_cli("features", window_model, window_videos, "--out", out, "--quiet", check=True)
    first = {n: np.load(os.path.join(out, os.path.splitext(n)[0] + ".npy")) for n in WINDOW_VIDEOS}
    os.remove(os.path.join(out, "long", "long.npy"))
    done = run_cli("features", window_model, window_videos, "--out", out, "--quiet", check=True)
    assert "features of 1 videos written" in done.stdout and "3 kept" in done.stdout
    assert_close_in_float32(np.load(os.path.join(out, "long", "long.npy")),
                            first["long/long.mp4"])

    # kill -9 as soon as the first video is written, then run again
    many = tmp_path / "many"
    for i in range(24):
        os.makedirs(many, exist_ok=True)
        shutil.copy(os.path.join(window_videos, "long", "long.mp4"), many / f"{i:02d}.mp4")
    out = str(tmp_path / "killed")
    proc = subprocess.Popen(
        [sys.executable, "-m", "keras_nonlocal.cli", "features", window_model, str(many),
         "--out", out, "--quiet", "--batch-size", "1", "--decoders", "1"],
        env=backend_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None and not (
            os.path.isdir(out) and any(f.endswith(".npy") for f in os.listdir(out))):
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    kept = sorted(f for f in os.listdir(out) if f.endswith(".npy"))
    assert 1 <= len(kept) < 24, kept
    done = run_cli("features", window_model, str(many), "--out", out, "--quiet", check=True)
    assert f"{len(kept)} kept from an earlier run" in done.stdout
    assert sorted(f for f in os.listdir(out) if f.endswith(".npy")) == \
        [f"{i:02d}.npy" for i in range(24)]
    assert not [f for f in os.listdir(out) if "partial" in f]
    for i in range(24):
        assert_close_in_float32(np.load(os.path.join(out, f"{i:02d}.npy")),
                                first["long/long.mp4"])


def test_unreadable_videos_are_skipped_named_and_counted(window_model, window_videos, tmp_path):
    folder = tmp_path / "mixed"
    shutil.copytree(window_videos, folder)
    vf.write_not_a_video(str(folder / "text.mp4"))
    vf.write_truncated(str(folder / "cut.mp4"), os.path.join(window_videos, "long", "long.mp4"),
                       fraction=0.05)
    out = str(tmp_path / "out")
    done = run_cli("features", window_model, str(folder), "--out", out, "--quiet", check=True)
    assert "2 skipped" in done.stdout, done.stdout
    assert "text.mp4" in done.stdout and "cut.mp4" in done.stdout
    assert len([f for _, _, fs in os.walk(out) for f in fs if f.endswith(".npy")]) == \
        len(WINDOW_VIDEOS)
    only_bad = tmp_path / "bad"
    os.makedirs(only_bad)
    vf.write_not_a_video(str(only_bad / "text.mp4"))
    done = run_cli("features", window_model, str(only_bad), "--out", out, "--quiet")
    assert done.returncode == 2 and "No video could be read" in done.stderr


def test_the_progress_bar_and_a_clean_terminal(window_model, window_videos, tmp_path):
    env = backend_env()
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # as a user's shell has it (see test_cli.py)
    done = run_cli("features", window_model, window_videos, "--out", str(tmp_path / "out"),
                   env=env, check=True)
    assert f"{len(WINDOW_VIDEOS)}/{len(WINDOW_VIDEOS)}" in done.stdout  # videos done / total
    assert "windows: 8" in done.stdout and "windows/s" in done.stdout  # 1 + 1 + 3 + 3
    assert "I0000" not in done.stderr and "oneDNN" not in done.stderr
    quiet = run_cli("features", window_model, window_videos, "--out", str(tmp_path / "q"),
                    "--quiet", check=True)
    assert "windows/s" not in quiet.stdout


def test_a_list_file_and_single_files(window_model, window_videos, tmp_path):
    listing = tmp_path / "videos.txt"
    listing.write_text("path,label\nshort.mp4,0\nlong/long.mp4,1\n")
    out = str(tmp_path / "out")
    run_cli("features", window_model, str(listing), "--root", window_videos, "--out", out,
            "--quiet", check=True)
    assert sorted(os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out)
                  for f in fs) == ["long/long.json", "long/long.npy", "short.json", "short.npy"]


def peak_rss_mb(args):
    """Peak resident memory of `keras-nonlocal *args` in its own process."""
    code = ("import resource, sys; from keras_nonlocal.cli import main; code = main(sys.argv[1:]); "
            "print('PEAK', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)")
    done = subprocess.run([sys.executable, "-c", code, *args], env=backend_env(),
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    return int(done.stdout.split("PEAK")[-1]) / 1024


def test_memory_does_not_grow_with_the_video(window_model, tmp_path):
    """20,000 frames (of 64 x 64, taken whole: 245 MB of RGB) in the memory
    of 2,000. Every frame is decoded; windows every 80 frames keep the model's
    share of the time small (the claim is about the decoding stream)."""
    videos = {}
    for n in (2000, 20000):
        folder = tmp_path / f"v{n}"
        os.makedirs(folder)
        videos[n] = vf.write_video(str(folder / "v.mp4"), n, width=64, height=64, crf=30,
                                   draw=lambda i, w, h: np.full((h, w, 3), (i * 7) % 256, np.uint8))
    peaks = {n: peak_rss_mb(["features", window_model, os.path.dirname(v), "--out",
                             str(tmp_path / f"out{n}"), "--quiet", "--short-side", "64",
                             "--batch-size", "16", "--hop", "80"])
             for n, v in videos.items()}
    rows = np.load(tmp_path / "out20000" / "v.npy")
    assert rows.shape == ((20000 - SPAN) // 80 + 1, 256)
    assert peaks[20000] < peaks[2000] + 60, peaks


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_other_backends_give_the_same_rows(window_model, window_videos, tmp_path, backend):
    out = {}
    for name in ("tensorflow", backend):
        out[name] = str(tmp_path / name)
        run_cli("features", window_model, window_videos, "--out", out[name], "--quiet",
                backend=name, check=True)
    for name in WINDOW_VIDEOS:
        stem = os.path.splitext(name)[0] + ".npy"
        expected = np.load(os.path.join(out["tensorflow"], stem))
        np.testing.assert_allclose(np.load(os.path.join(out[backend], stem)), expected,
                                   rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_jax_data_parallel_over_two_devices(window_model, window_videos, tmp_path):
    """keras.distribution's DataParallel on 2 CPU devices: each takes half of
    every batch (the batch of 3 windows padded to 4), the rows are the same."""
    out = {name: str(tmp_path / name) for name in ("one", "two")}
    run_cli("features", window_model, window_videos, "--out", out["one"], "--quiet",
            "--strategy", "default", backend="jax", check=True)
    done = run_cli("features", window_model, window_videos, "--out", out["two"], "--quiet",
                   "--strategy", "data_parallel", "--batch-size", "3",
                   env=backend_env("jax", XLA_FLAGS="--xla_force_host_platform_device_count=2"),
                   check=True)
    assert "keras.distribution.DataParallel, 2 device(s)" in done.stdout, done.stdout
    for name in WINDOW_VIDEOS:
        stem = os.path.splitext(name)[0] + ".npy"
        expected = np.load(os.path.join(out["one"], stem))
        np.testing.assert_allclose(np.load(os.path.join(out["two"], stem)), expected,
                                   rtol=1e-5, atol=1e-5 * np.abs(expected).max())


def test_the_tf_data_engine_gives_the_same_rows(window_model, window_videos, tmp_path):
    model = keras.saving.load_model(window_model, compile=False)
    broken = tmp_path / "broken.mp4"
    vf.write_not_a_video(str(broken))
    videos = [window_videos, str(broken)]
    threads = {r.name: r for r in features.extract_features(model, videos, decoders=1)}
    tf_data = {r.name: r for r in features.extract_features(model, videos, engine="tf.data")}
    assert sorted(tf_data) == sorted(threads) and len(threads) == len(WINDOW_VIDEOS) + 1
    for name, result in threads.items():
        if result.error is not None:
            assert tf_data[name].error == result.error and name == "broken.mp4"
            continue
        assert_close_in_float32(tf_data[name].outputs, result.outputs)
        assert tf_data[name].windows == result.windows and tf_data[name].fps == result.fps


def test_bad_arguments(window_model, window_videos):
    model = keras.saving.load_model(window_model, compile=False)
    for kwargs, message in ((dict(hop=0), "`hop` must be"), (dict(crops=2), "`crops` must be"),
                            (dict(batch_size=0), "`batch_size` must be"),
                            (dict(layer="conv9"), "has no layer 'conv9'"),
                            (dict(pooling="sum"), "`pooling` must be"),
                            (dict(engine="dali"), "`engine` must be")):
        with pytest.raises(ValueError, match=message):
            next(features.extract_features(model, window_videos, **kwargs))
    with pytest.raises(ValueError, match="Not a folder, a video list or a video file"):
        next(features.extract_features(model, "/no/such/place"))


def test_features_of_tfrecord_shards(window_model, window_videos, tmp_path):
    """Shards written here (TensorFlow's SequenceExample writer, PNG frames
    decoded from the test videos, DMVR's `video/filename` as the id, the
    frame rate recorded): the same rows and windows as the files give, read
    by the independent reference; a shard at another rate is refused."""
    import tensorflow as tf

    def feature(values, kind="bytes"):
        if kind == "float":
            return tf.train.Feature(float_list=tf.train.FloatList(value=values))
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))

    shard = str(tmp_path / "videos-00000-of-00001.tfrecord")
    with tf.io.TFRecordWriter(shard) as writer:
        for name in WINDOW_VIDEOS:
            frames = decode_all(os.path.join(window_videos, name))
            writer.write(tf.train.SequenceExample(
                context=tf.train.Features(feature={"video/filename": feature([name.encode()]),
                                                   "clip/frame_rate": feature([FPS], "float")}),
                feature_lists=tf.train.FeatureLists(feature_list={"image/encoded":
                    tf.train.FeatureList(feature=[feature([tf.io.encode_png(f).numpy()])
                                                  for f in frames])})).SerializeToString())
    out = str(tmp_path / "out")
    done = run_cli("features", window_model, shard, "--out", out, "--hop", "3", "--quiet",
                   check=True)
    assert f"features of {len(WINDOW_VIDEOS)} videos written" in done.stdout
    model = keras.saving.load_model(window_model)
    for name in WINDOW_VIDEOS:
        check_output(out, name, model, os.path.join(window_videos, name), 3)
    refused = run_cli("features", window_model, shard, "--out", str(tmp_path / "o2"),
                      "--frame-rate", str(3 * FPS), "--quiet")
    assert refused.returncode != 0 and "refused" in refused.stderr
