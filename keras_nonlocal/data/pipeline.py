"""tf.data pipelines from video files, decoded with PyAV.

Training elements are `(clip, label)`: `clip` uint8 `(T, crop, crop, 3)` RGB
(the zoo models normalise it themselves), `label` an int32 class index or a
float32 multi-hot vector. The frames and the crop are drawn in TensorFlow
from the element's seed (`stream.train_indices`, `augment.train_window`)
and only they are decoded: FFmpeg converts and scales only the crop's
window of each frame. Evaluation elements are the views of the paper's
multi-view testing (`views.read_views`), `(clip, label, video_id)` or
`(clip, label)`.

A video that cannot be read is skipped, logged once and counted in a
`SkipLog`; nothing raises out of `fit` because of one file.
"""

import numpy as np
import tensorflow as tf

from keras_nonlocal.clip import Clip
from keras_nonlocal.data import augment
from keras_nonlocal.data import stream
from keras_nonlocal.data.decode import VideoError
from keras_nonlocal.data.decode import probe
from keras_nonlocal.data.decode import read_frames
from keras_nonlocal.data.skips import SkipLog
from keras_nonlocal.data.views import read_views

AUTOTUNE = stream.AUTOTUNE


def video_dataset(
    videos,
    clip=None,
    training=True,
    batch_size=8,
    shuffle=True,
    seed=None,
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
            training crop and scale jitter, the test views, the short-video
            rule. A model's own is `zoo.preprocessing_spec(model)`; defaults
            to `Clip()` (the paper's 32x2).
        training: random clips with augmentation; else the clip's test
            views (`eval_clips` x `eval_crops` per video).
        batch_size: clips (or views) per batch.
        shuffle: shuffle the videos each epoch (training).
        seed: fixes every random choice (same clips, same crops).
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
    if len(videos) == 0:
        raise ValueError("The video list is empty. Received: 0 videos")
    skip_log = skip_log or SkipLog()
    elements = stream.seeded(_videos_in_order(videos, training and shuffle, seed, repeat),
                             seed, repeat, skip)
    decode = (_train_decoder if training else _eval_decoder)(clip, skip_log)
    dataset = elements.map(decode, num_parallel_calls=num_parallel_calls, deterministic=True)
    dataset = dataset.filter(lambda *element: element[-1])
    return stream.finish(dataset, training, clip, batch_size, with_video_id, drop_remainder,
                         normalize), skip_log


def _videos_in_order(videos, shuffle, seed, repeat):
    """`(path, target, video id)` per video, in each epoch's order."""
    paths = np.array([str(p) for p in videos.paths])
    columns = (tf.constant(paths), tf.constant(_targets(videos)),
               tf.constant(np.arange(len(videos), dtype=np.int64)))

    def one_epoch(index, key):
        if not shuffle:
            return tf.data.Dataset.from_tensor_slices(columns)
        if index is None:  # a finite dataset: reshuffled each time it is iterated
            return tf.data.Dataset.from_tensor_slices(columns).shuffle(
                len(videos), seed=key, reshuffle_each_iteration=True)
        order = tf.data.Dataset.from_tensor_slices(stream.shuffled_order(len(videos), key))
        return order.map(lambda i: tuple(tf.gather(c, i) for c in columns))

    return stream.epochs(one_epoch, seed, repeat)


def _targets(videos):
    if videos.multi_label:
        hot = np.zeros((len(videos), videos.num_classes), np.float32)
        for row, labels in enumerate(videos.labels):
            hot[row, labels] = 1.0
        return hot
    return np.array([labels[0] for labels in videos.labels], np.int32)


def _record_failure(skip_log, path, error):
    skip_log.add(path, str(error) if isinstance(error, VideoError)
                 else f"{type(error).__name__}: {error}")


def _train_decoder(clip, skip_log):
    """element -> `(frames, target, video_id, element_seed, ok)`: the frames
    and the crop window drawn in TensorFlow, only they decoded."""
    crop = clip.crop_size

    def frame_count_and_size(path):
        try:
            info = probe(path.decode())
            return np.int32(info.num_frames), np.int32(info.height), np.int32(info.width)
        except Exception:  # noqa: BLE001 -- `read` meets it again and logs it
            return np.int32(1), np.int32(1), np.int32(1)

    def read(path, indices, box):
        path = path.decode()
        try:  # only the crop's window is converted, scaled to the crop while decoding
            return read_frames(path, indices, size=(crop, crop), info=probe(path), box=box), True
        except Exception as error:  # noqa: BLE001 -- never crash training
            _record_failure(skip_log, path, error)
        return np.zeros((clip.num_frames, crop, crop, 3), np.uint8), False

    def decode(element, element_seed):
        path, target, video_id = element
        total, height, width = tf.numpy_function(
            frame_count_and_size, [path], [tf.int32] * 3, stateful=False)
        indices = stream.train_indices(element_seed, total, clip)
        box, flip = augment.train_window(element_seed, height, width, crop,
                                         (clip.short_side_min, clip.short_side_max))
        frames, ok = tf.numpy_function(read, [path, indices, box], [tf.uint8, tf.bool],
                                       stateful=False)
        frames = augment.flip_if(tf.ensure_shape(frames, [clip.num_frames, crop, crop, 3]), flip)
        ok.set_shape([])
        return frames, target, video_id, element_seed, ok

    return decode


def _eval_decoder(clip, skip_log):
    """element -> `(views, target, video_id, element_seed, ok)`."""
    side = clip.eval_short_side

    def read(path):
        path = path.decode()
        try:
            return read_views(path, clip), True
        except Exception as error:  # noqa: BLE001
            _record_failure(skip_log, path, error)
        return np.zeros((1, clip.num_frames, side, side, 3), np.uint8), False

    def decode(element, element_seed):
        path, target, video_id = element
        views, ok = tf.numpy_function(read, [path], [tf.uint8, tf.bool], stateful=False)
        views = tf.ensure_shape(views, [None, clip.num_frames, side, side, 3])
        ok.set_shape([])
        return views, target, video_id, element_seed, ok

    return decode
