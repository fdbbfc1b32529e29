"""tf.data pipelines from video files (decoded with PyAV) and TFRecords.

Training elements are `(clip, label)`: `clip` uint8 `(T, crop, crop, 3)` RGB
(the zoo models normalise it themselves), `label` an int32 class index or a
float32 multi-hot vector. The crop (`augment.train_window` of the element's
seed) is cut while decoding: FFmpeg converts and scales only that window of
each frame, TFRecords decode only that window of each JPEG. Evaluation
elements are views of the paper's multi-view testing, `(clip, label,
video_id)` or `(clip, label)`.

A video that cannot be read is skipped, logged once and counted in a
`SkipLog`; nothing raises out of `fit` because of one file.
"""

import logging
import threading

import numpy as np
import tensorflow as tf

from keras_nonlocal.clip import Clip
from keras_nonlocal.data import augment
from keras_nonlocal.data import sampling
from keras_nonlocal.data.decode import VideoError
from keras_nonlocal.data.decode import probe
from keras_nonlocal.data.decode import read_frames

logger = logging.getLogger("keras_nonlocal.data")
AUTOTUNE = tf.data.AUTOTUNE


class SkipLog:
    """Thread-safe record of the videos a pipeline skipped.

    Attributes:
        errors: path -> first error message.
        count: skip events since the last `reset()` (a bad file met in two
            epochs counts twice).
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.errors = {}
        self.count = 0

    def add(self, path, message):
        if message.startswith(f"{path}: "):
            message = message[len(path) + 2:]
        with self._lock:
            self.count += 1
            first = path not in self.errors
            if first:
                self.errors[path] = message
        if first:
            logger.warning("skipping unreadable video %s: %s", path, message)

    def reset(self):
        with self._lock:
            self.count = 0

    def summary(self):
        with self._lock:
            if not self.errors:
                return "no video skipped"
            files = "\n  ".join(f"{p}: {m}" for p, m in sorted(self.errors.items()))
            return (f"skipped {self.count} clips from {len(self.errors)} unreadable "
                    f"videos:\n  {files}")


def _targets(videos):
    if videos.multi_label:
        hot = np.zeros((len(videos), videos.num_classes), np.float32)
        for row, labels in enumerate(videos.labels):
            hot[row, labels] = 1.0
        return hot
    return np.array([labels[0] for labels in videos.labels], np.int32)


def _element_seeds(seed, repeat):
    """An endless stream of [2] int64 seeds fixed by `seed`: new each epoch of
    a finite dataset; for an endless one (`repeat`) the same for every
    iterator, which never sees an element twice anyway."""
    stream = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=not repeat)
    return stream.batch(2)


def _epochs(one_epoch, seed, repeat):
    """One epoch (`one_epoch(None, seed)`: a new order each time it is
    iterated), or with `repeat` endless epochs, `one_epoch(index, key)` with
    `key` a [2] int64 tensor: (`seed`, epoch index). Every epoch's order is
    then a function of the seed and its index alone (stateless random ops),
    so every iterator replays the same stream however many were opened
    before it: Keras' `fit` may open one to build the model and start again
    (on JAX it does), and a stream that depended on that would not resume to
    the same clips."""
    if not repeat:
        return one_epoch(None, seed)
    base = int(np.random.randint(2**31)) if seed is None else int(seed)

    def epoch(index):
        return one_epoch(index, tf.stack([tf.constant(base, tf.int64), index]))

    return tf.data.Dataset.range(2**62).flat_map(epoch)


def shuffled_order(count, key):
    """A permutation of `range(count)` drawn from a [2] int64 `key` (stateless)."""
    return tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), seed=key)


def video_dataset(
    videos,
    clip=None,
    training=True,
    batch_size=8,
    shuffle=True,
    seed=None,
    short_rule="loop",
    skip_log=None,
    with_video_id=False,
    drop_remainder=False,
    num_parallel_calls=AUTOTUNE,
    normalize=False,
    repeat=False,
    skip=0,
):
    """A tf.data pipeline over video files, decoded with PyAV.

    Args:
        videos: a `VideoList` (see `keras_nonlocal.data.read_videos`).
        clip: the `keras_nonlocal.Clip` to sample: frames and stride, the
            training crop and scale jitter, the test views. A model's own is
            `zoo.preprocessing_spec(model)`; defaults to `Clip()` (the
            paper's 32x2).
        training: random clips with augmentation; else the clip's test
            views (`eval_clips` x `eval_crops` per video).
        batch_size: clips (or views) per batch.
        shuffle: shuffle the videos each epoch (training).
        seed: fixes every random choice (same clips, same crops).
        short_rule: `"loop"` or `"repeat_last"` for videos shorter than a clip.
        skip_log: a `SkipLog` receiving unreadable videos (a new one by default).
        with_video_id: evaluation elements also carry the video's index.
        drop_remainder: static batch size (TPUs).
        num_parallel_calls: parallel decoders.
        normalize: `False` keeps uint8 RGB clips (zoo models normalise them
            themselves); `True` gives float32 clips normalised as the clip
            says, for a model built with `include_preprocessing=False`.
        repeat: an endless stream (epoch after epoch, reshuffled; the same
            stream for the same seed).
        skip: clips to skip at the start of the stream without decoding
            them (to resume training where it stopped).

    Returns:
        `(dataset, skip_log)`.
    """
    clip = Clip() if clip is None else clip
    num_frames, frame_stride = clip.num_frames, clip.frame_stride
    num_clips = clip.eval_clips
    if short_rule not in sampling.SHORT_RULES:
        raise ValueError(f"`short_rule` must be one of {sampling.SHORT_RULES}. Received: short_rule={short_rule!r}")
    if len(videos) == 0:
        raise ValueError("The video list is empty. Received: 0 videos")
    skip_log = skip_log or SkipLog()
    paths = np.array([str(p) for p in videos.paths])
    targets = _targets(videos)
    ids = np.arange(len(videos), dtype=np.int64)
    columns = (tf.constant(paths), tf.constant(targets), tf.constant(ids))

    def one_epoch(index, key):
        if not (training and shuffle):
            return tf.data.Dataset.from_tensor_slices(columns)
        if index is None:  # a finite dataset: reshuffled each time it is iterated
            return tf.data.Dataset.from_tensor_slices(columns).shuffle(
                len(videos), seed=key, reshuffle_each_iteration=True)
        order = tf.data.Dataset.from_tensor_slices(shuffled_order(len(videos), key))
        return order.map(lambda i: tuple(tf.gather(c, i) for c in columns))

    dataset = _epochs(one_epoch, seed, repeat)
    dataset = tf.data.Dataset.zip((dataset, _element_seeds(seed, repeat)))
    if skip:
        dataset = dataset.skip(skip)  # before decoding: skipping costs nothing

    def fail(path, error):
        skip_log.add(path, str(error) if isinstance(error, VideoError)
                     else f"{type(error).__name__}: {error}")

    if training:
        def frame_size(path):
            try:
                info = probe(path.decode())
                return np.int32(info.height), np.int32(info.width)
            except Exception:  # noqa: BLE001 -- `read` meets it again and logs it
                return np.int32(1), np.int32(1)

        def read(path, element_seed, box):
            path = path.decode()
            rng = np.random.default_rng(np.abs(element_seed).tolist())
            try:
                info = probe(path)
                indices = sampling.train_clip_indices(info.num_frames, num_frames, frame_stride,
                                                      rng, short_rule)
                # only the crop's window is converted, scaled to the crop while decoding
                return read_frames(path, indices, size=(clip.crop_size, clip.crop_size),
                                   info=info, box=box), True
            except Exception as error:  # noqa: BLE001 -- never crash training
                fail(path, error)
            return np.zeros((num_frames, clip.crop_size, clip.crop_size, 3), np.uint8), False

        def decode(element, element_seed):
            path, target, video_id = element
            height, width = tf.numpy_function(frame_size, [path], [tf.int32, tf.int32],
                                              stateful=False)
            box, flip = augment.train_window(element_seed, height, width, clip.crop_size,
                                             (clip.short_side_min, clip.short_side_max))
            frames, ok = tf.numpy_function(read, [path, element_seed, box], [tf.uint8, tf.bool],
                                           stateful=False)
            frames = augment.flip_if(tf.ensure_shape(
                frames, [num_frames, clip.crop_size, clip.crop_size, 3]), flip)
            ok.set_shape([])
            return frames, target, video_id, element_seed, ok
    else:
        def read(path):
            path = path.decode()
            try:
                info = probe(path)
                indices = sampling.eval_clip_indices(info.num_frames, num_frames, frame_stride,
                                                     num_clips, short_rule)
                frames = read_frames(path, indices.reshape(-1), info=info)
                return frames.reshape((num_clips, num_frames) + frames.shape[1:]), True
            except Exception as error:  # noqa: BLE001
                fail(path, error)
            return np.zeros((num_clips, num_frames, 1, 1, 3), np.uint8), False

        def decode(element, element_seed):
            path, target, video_id = element
            frames, ok = tf.numpy_function(read, [path], [tf.uint8, tf.bool], stateful=False)
            frames = tf.ensure_shape(frames, [num_clips, num_frames, None, None, 3])
            ok.set_shape([])
            return frames, target, video_id, element_seed, ok

    dataset = dataset.map(decode, num_parallel_calls=num_parallel_calls, deterministic=True)
    dataset = dataset.filter(lambda *element: element[-1])
    return _finish(dataset, training, clip, batch_size, with_video_id, drop_remainder,
                   normalize), skip_log


def normalize_clips(clips, clip):
    """uint8 RGB clips -> float32 `(reorder(x) - mean) / std` as `clip` says."""
    clips = tf.cast(clips, tf.float32)
    if clip.channel_order == "BGR":
        clips = tf.reverse(clips, axis=[-1])
    return (clips - tf.constant(clip.mean, tf.float32)) / tf.constant(clip.std, tf.float32)


def _finish(dataset, training, clip, batch_size, with_video_id, drop_remainder, normalize=False):
    """Training clips (already cut, scaled and flipped while decoding) or
    the evaluation views, then batching."""
    if training:
        dataset = dataset.map(lambda frames, target, *rest: (frames, target))
    else:
        def views(frames, target, video_id, element_seed, ok):
            clips = augment.eval_views(frames, clip.eval_short_side, clip.eval_crops)
            count = tf.shape(clips)[0]
            targets = tf.repeat(tf.expand_dims(target, 0), count, axis=0)
            video_ids = tf.fill([count], video_id)
            parts = (clips, targets, video_ids) if with_video_id else (clips, targets)
            return tf.data.Dataset.from_tensor_slices(parts)

        dataset = dataset.flat_map(views)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if normalize:
        dataset = dataset.map(lambda clips, *rest: (normalize_clips(clips, clip), *rest),
                              num_parallel_calls=AUTOTUNE, deterministic=True)
    return dataset.prefetch(AUTOTUNE)
