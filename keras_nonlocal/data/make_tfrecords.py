"""Converts a list of videos into TFRecord shards (`keras-nonlocal make-tfrecords`).

Shards are written in parallel worker processes, each to a temporary file
renamed into place when complete, so a killed run leaves only complete
shards; running the same command again skips them and writes the rest.
Unreadable videos are skipped and listed in the shard's `.json` manifest.
"""

import json
import multiprocessing
import os

import av
import numpy as np

from keras_nonlocal.data.decode import VideoError
from keras_nonlocal.data.decode import decoder_errors
from keras_nonlocal.data.decode import _video_stream
from keras_nonlocal.extras import require_tensorflow


def shard_paths(out_dir, name, num_shards):
    return [os.path.join(out_dir, f"{name}-{i:05d}-of-{num_shards:05d}.tfrecord")
            for i in range(num_shards)]


def _encode_video(path, short_side, quality):
    """All frames of a video, short side resized, as JPEG bytes, and its
    frame rate (frames per second; 0 where the file does not say)."""
    import tensorflow as tf

    from keras_nonlocal.data.views import scaled_size

    jpegs = []
    with decoder_errors(path):
        with av.open(path) as container:
            stream = _video_stream(container, path)
            rate = float(stream.average_rate or stream.guessed_rate or 0)
            for frame in container.decode(stream):
                if short_side:
                    height, width = scaled_size(frame.height, frame.width, short_side, 2)
                    frame = frame.reformat(width=width, height=height)
                rgb = frame.to_ndarray(format="rgb24")
                jpegs.append(tf.io.encode_jpeg(rgb, quality=quality).numpy())
    if not jpegs:
        raise VideoError(f"{path}: no frames")
    return jpegs, rate


def _sequence_example(jpegs, labels, media_id, frame_rate):
    import tensorflow as tf

    from keras_nonlocal.data.sources import RecordKeys

    keys = RecordKeys()
    context = tf.train.Features(feature={
        keys.label_index: tf.train.Feature(int64_list=tf.train.Int64List(value=labels)),
        keys.media_id: tf.train.Feature(bytes_list=tf.train.BytesList(value=[media_id.encode()])),
        keys.frame_rate: tf.train.Feature(float_list=tf.train.FloatList(value=[frame_rate])),
    })
    frames = tf.train.FeatureList(feature=[
        tf.train.Feature(bytes_list=tf.train.BytesList(value=[jpeg])) for jpeg in jpegs])
    return tf.train.SequenceExample(
        context=context, feature_lists=tf.train.FeatureLists(feature_list={keys.frames: frames}))


def write_shard(task):
    """Writes one shard atomically; returns its manifest."""
    import tensorflow as tf

    path, items, short_side, quality = task
    temporary = path + ".tmp"
    written, skipped = 0, {}
    with tf.io.TFRecordWriter(temporary) as writer:
        for video_path, labels in items:
            try:
                jpegs, rate = _encode_video(video_path, short_side, quality)
            except VideoError as error:
                skipped[video_path] = str(error)
                continue
            writer.write(_sequence_example(jpegs, labels, video_path, rate).SerializeToString())
            written += 1
    manifest = {"shard": os.path.basename(path), "videos": written, "skipped": skipped}
    with open(path + ".json.tmp", "w") as f:
        json.dump(manifest, f, indent=1)
    os.replace(path + ".json.tmp", path + ".json")
    os.replace(temporary, path)  # the shard counts only once it is complete
    return manifest


def make_tfrecords(videos, out_dir, name="videos", num_shards=None, short_side=256,
                   quality=90, workers=2, progress=True):
    """Writes `videos` (a `VideoList`) as TFRecord shards under `out_dir`.

    Args:
        videos: a `VideoList`.
        out_dir: output folder (created).
        name: shard name prefix.
        num_shards: default: about 50 videos per shard.
        short_side: frames resized to this short side (None keeps them).
        quality: JPEG quality.
        workers: parallel processes.
        progress: show a progress bar.

    Returns:
        A summary dict: shards written now, shards kept from an earlier run,
        videos written, skipped videos with their errors.
    """
    import keras

    require_tensorflow("make-tfrecords (it writes tf.train.SequenceExample records)")
    if len(videos) == 0:
        raise ValueError("The video list is empty. Received: 0 videos")
    os.makedirs(out_dir, exist_ok=True)
    num_shards = num_shards or max(1, int(np.ceil(len(videos) / 50)))
    paths = shard_paths(out_dir, name, num_shards)
    items = list(zip(videos.paths, videos.labels))
    tasks, kept = [], []
    for i, path in enumerate(paths):
        if os.path.exists(path) and os.path.exists(path + ".json"):
            kept.append(path)
            continue
        tasks.append((path, items[i::num_shards], short_side, quality))
    manifests = []
    bar = keras.utils.Progbar(len(tasks), unit_name="shard") if progress and tasks else None
    if tasks:
        with multiprocessing.get_context("spawn").Pool(max(1, min(workers, len(tasks)))) as pool:
            for manifest in pool.imap_unordered(write_shard, tasks):
                manifests.append(manifest)
                if bar:
                    bar.add(1)
    for path in kept:
        with open(path + ".json") as f:
            manifests.append(json.load(f))
    skipped = {p: e for m in manifests for p, e in m["skipped"].items()}
    with open(os.path.join(out_dir, f"{name}-classes.txt"), "w") as f:
        f.write("\n".join(videos.class_names) + "\n")
    return {"shards": paths, "written_now": len(tasks), "kept": len(kept),
            "videos": sum(m["videos"] for m in manifests), "skipped": skipped}
