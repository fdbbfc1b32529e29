"""TFRecord video shards in the TF Model Garden layout, read in pure TensorFlow.

One `tf.train.SequenceExample` per video: JPEG frames in the feature list
`image/encoded`, class indices in the context `clip/label/index` (int64
list), and, written by `make-tfrecords`, the source path in the context
`clip/media_id`. No Python runs per element: this is the path for TPUs and
large clusters.

A record whose frames are not all well-formed JPEGs (start and end markers)
is dropped and counted in `TFRecordSkips.count` (a variable updated inside
the pipeline); any other decoding error drops the element through
`ignore_errors`, which logs it.
"""

import tensorflow as tf

from keras_nonlocal.clip import Clip
from keras_nonlocal.data import augment
from keras_nonlocal.data import sampling
from keras_nonlocal.data import stream
from keras_nonlocal.data.stream import AUTOTUNE
from keras_nonlocal.protocol import protocol

CONTEXT = {
    "clip/label/index": tf.io.VarLenFeature(tf.int64),
    "clip/media_id": tf.io.FixedLenFeature([], tf.string, default_value=""),
}
SEQUENCE = {"image/encoded": tf.io.FixedLenSequenceFeature([], tf.string)}
RECORD_SHUFFLE = 256  # records shuffled together (a buffer, or a window of an endless stream)


class TFRecordSkips:
    """Counts records dropped for broken JPEG frames (a `tf.Variable`)."""

    def __init__(self):
        self.count_variable = tf.Variable(0, dtype=tf.int64, trainable=False)

    @property
    def count(self):
        return int(self.count_variable.numpy())

    def summary(self):
        return (f"skipped {self.count} TFRecord videos with broken JPEG frames"
                if self.count else "no TFRecord video skipped")


def _well_formed(jpegs):
    starts = tf.strings.substr(jpegs, 0, 2) == b"\xff\xd8"
    ends = tf.strings.substr(jpegs, -2, 2, unit="BYTE") == b"\xff\xd9"
    long_enough = tf.strings.length(jpegs) > 4
    return tf.reduce_all(starts & ends & long_enough)


def _indices(total, element_seed, training, clip):
    """The frame indices of the training clip (`(T,)`) or of the test clips
    (`(K, T)`), by the same rules as the video-file pipeline."""
    if training:
        return stream.train_indices(element_seed, total, clip)
    return sampling.eval_clip_indices(total, clip.num_frames, clip.frame_stride, clip.eval_clips,
                                      clip.short_rule, protocol(clip.protocol).clip_starts,
                                      sampling.tensorflow_ops())


def tfrecord_dataset(
    files,
    num_classes,
    clip=None,
    training=True,
    multi_label=False,
    batch_size=8,
    shuffle=True,
    seed=None,
    with_video_id=False,
    drop_remainder=False,
    skips=None,
    normalize=False,
    repeat=False,
    skip=0,
):
    """A pure-TensorFlow pipeline over TFRecord shards.

    Same clips, augmentation and views as `video_dataset` (frame indices,
    crops and flips follow the same rules); `video_id` is the record's
    `clip/media_id`.

    Args:
        files: shard paths (or a glob pattern).
        num_classes: classes of the labels.
        clip: the `keras_nonlocal.Clip` to sample (default `Clip()`).
        multi_label: multi-hot float targets instead of class indices.
        skips: a `TFRecordSkips` to count dropped records (a new one by default).
        (the others as `video_dataset`)

    Returns:
        `(dataset, skips)`.
    """
    clip = Clip() if clip is None else clip
    num_frames, num_clips = clip.num_frames, clip.eval_clips
    if isinstance(files, str):
        files = sorted(tf.io.gfile.glob(files))
    if not files:
        raise ValueError("No TFRecord files. Received: files=[]")
    skips = skips or TFRecordSkips()
    file_dataset = tf.data.Dataset.from_tensor_slices(list(files))

    def one_epoch(index, key):
        shards = file_dataset
        if training and shuffle and index is None:
            shards = shards.shuffle(len(files), seed=key, reshuffle_each_iteration=True)
        elif training and shuffle:
            shards = tf.data.Dataset.from_tensor_slices(
                tf.gather(tf.constant(list(files)), stream.shuffled_order(len(files), key)))
        records = shards.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 4),
                                    num_parallel_calls=AUTOTUNE, deterministic=True)
        if not (training and shuffle):
            return records
        if index is None:
            return records.shuffle(RECORD_SHUFFLE, seed=key, reshuffle_each_iteration=True)
        # Stateless: the records of each window of RECORD_SHUFFLE, permuted by (key, window).
        windows = records.batch(RECORD_SHUFFLE).enumerate()
        return windows.map(lambda w, window: tf.random.experimental.stateless_shuffle(
            window, seed=key + tf.stack([tf.constant(0, tf.int64), w * 1_000_003]))).unbatch()

    records = stream.seeded(stream.epochs(one_epoch, seed, repeat), seed, repeat, skip)

    def parse(serialized, element_seed):
        context, sequence = tf.io.parse_single_sequence_example(serialized, CONTEXT, SEQUENCE)
        jpegs = sequence["image/encoded"]
        labels = tf.sparse.to_dense(context["clip/label/index"])
        if multi_label:
            target = tf.reduce_max(tf.one_hot(labels, num_classes, dtype=tf.float32), axis=0)
        else:
            target = tf.cast(labels[0], tf.int32)
        ok = _well_formed(jpegs) & (tf.size(jpegs) > 0)
        return jpegs, target, context["clip/media_id"], element_seed, ok

    def keep(jpegs, target, media_id, element_seed, ok):
        count = tf.cond(ok, lambda: tf.constant(0, tf.int64), lambda: skips.count_variable.assign_add(1))
        with tf.control_dependencies([count]):
            return tf.identity(ok)

    def decode(jpegs, target, media_id, element_seed, ok):
        total = tf.shape(jpegs)[0]
        indices = _indices(total, element_seed, training, clip)
        chosen = tf.gather(jpegs, tf.reshape(indices, [-1]))
        if training:  # only the crop's window is decoded, then scaled and flipped
            size = tf.io.extract_jpeg_shape(chosen[0])
            box, flip = augment.train_window(element_seed, size[0], size[1], clip.crop_size,
                                             (clip.short_side_min, clip.short_side_max))
            frames = tf.map_fn(lambda b: tf.io.decode_and_crop_jpeg(b, box, channels=3), chosen,
                               fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
            frames = augment.flip_if(augment.scale_to(frames, clip.crop_size), flip)
            frames.set_shape([num_frames, clip.crop_size, clip.crop_size, 3])
        else:
            frames = tf.map_fn(lambda b: tf.io.decode_jpeg(b, channels=3), chosen,
                               fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
            shape = tf.shape(frames)
            frames = tf.reshape(frames, tf.concat([[num_clips, num_frames], shape[1:]], 0))
        return frames, target, media_id, element_seed, ok

    dataset = records.map(parse, num_parallel_calls=AUTOTUNE, deterministic=True)
    dataset = dataset.filter(keep)
    dataset = dataset.map(decode, num_parallel_calls=AUTOTUNE, deterministic=True)
    dataset = dataset.ignore_errors(log_warning=True)
    to_views = lambda clips: augment.eval_views(  # noqa: E731
        clips, clip.eval_short_side, clip.eval_crops, protocol(clip.protocol).crop_positions)
    return stream.finish(dataset, training, clip, batch_size, with_video_id, drop_remainder,
                         normalize, to_views), skips
