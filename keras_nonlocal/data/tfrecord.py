"""TFRecord video shards as TF Model Garden and DMVR write them, read in
pure TensorFlow.

One `tf.train.SequenceExample` per video (`RecordKeys`, every key
overridable): JPEG or PNG frames in the feature list `image/encoded`, class
indices in the context `clip/label/index` (int64 list) or else class names
in `clip/label/text` (read through the class names), the video's id in
`clip/media_id` or else `video/filename` (else the record's position), and,
written by `make-tfrecords`, the frame rate in `clip/frame_rate`. No Python
runs per element: this is the path for TPUs and large clusters.

Before the pipeline is built the first record of the first shard is read:
a key the records lack is a ValueError naming it and the keys they have, and
a frame rate other than the clip's (`frame_rate=`) is refused or, with
`resample=True`, the clip's frames are taken at the times they would have
at the clip's rate; either way the message says which.

A record whose frames are not all well-formed JPEGs or PNGs (start and end
markers) or whose label text is not a class is dropped and counted in
`TFRecordSkips.count` (a variable updated inside the pipeline); any other
decoding error drops the element through `ignore_errors`, which logs it.
"""

import dataclasses
import functools

import tensorflow as tf

from keras_nonlocal.clip import Clip
from keras_nonlocal.data import augment
from keras_nonlocal.data import sampling
from keras_nonlocal.data import stream
from keras_nonlocal.data.sources import RecordKeys
from keras_nonlocal.data.stream import AUTOTUNE
from keras_nonlocal.protocol import protocol

RECORD_SHUFFLE = 256  # records shuffled together (a buffer, or a window of an endless stream)


@dataclasses.dataclass(frozen=True)
class ShardLayout:
    """What the first record of a set of shards holds (`inspect_shards`)."""

    label_key: str  # the key labels are read from
    id_keys: tuple  # the keys ids are read from, in order
    frame_rate: float  # 0: not recorded


def inspect_shards(files, keys=RecordKeys(), needs_labels=True):
    """Reads the first record of `files[0]`: which of `keys` it has.

    Raises:
        ValueError: the frames key (or, with `needs_labels`, both label
            keys) missing, naming the keys the record has.
    """
    first = next(iter(tf.data.TFRecordDataset(files[:1]).take(1)), None)
    if first is None:
        raise ValueError(f"{files[0]} holds no record. Received: files={list(files)[:3]}")
    example = tf.train.SequenceExample.FromString(first.numpy())
    context = example.context.feature
    lists = example.feature_lists.feature_list
    have = f"context {sorted(context)}, feature lists {sorted(lists)}"
    if keys.frames not in lists:
        raise ValueError(f"The records of {files[0]} have no frames under {keys.frames!r} "
                         f"(RecordKeys.frames). They have: {have}. Received: keys={keys}")
    label_key = next((k for k in (keys.label_index, keys.label_text) if k in context), None)
    if needs_labels and label_key is None:
        raise ValueError(
            f"The records of {files[0]} have no labels under {keys.label_index!r} or "
            f"{keys.label_text!r} (RecordKeys.label_index / label_text). They have: {have}. "
            f"Received: keys={keys}")
    id_keys = tuple(k for k in (keys.media_id, keys.filename) if k in context)
    rate = context[keys.frame_rate].float_list.value if keys.frame_rate in context else []
    return ShardLayout(label_key, id_keys, float(rate[0]) if rate else 0.0)


def rate_plan(shard_rate, frame_rate, resample, clip):
    """`(ratio, message)`: frames of the shard per frame at the clip's rate
    (1 when they agree or either is unknown), and what is done about it."""
    if not shard_rate or not frame_rate or abs(shard_rate - frame_rate) < 1e-3 * frame_rate:
        return 1.0, None
    what = (f"The shards are at {shard_rate:g} fps; the clip's stride {clip.frame_stride} "
            f"assumes {frame_rate:g} fps")
    if not resample:
        raise ValueError(f"{what}: refused (its clips would span {frame_rate / shard_rate:.3g}x "
                         "the time). Pass resample=True (--resample) to take each frame at the "
                         "time it has at the clip's rate, or frame_rate= the shards' rate. "
                         f"Received: frame_rate={frame_rate}")
    return shard_rate / frame_rate, (f"{what}: resampled (frame i at {frame_rate:g} fps is "
                                     f"shard frame floor(i x {shard_rate / frame_rate:.4g}))")


def _image_kind(frames):
    """1 where every frame is a well-formed JPEG, 2 a PNG, 0 otherwise."""
    length = tf.strings.length(frames) > 8
    jpeg = (tf.strings.substr(frames, 0, 2) == b"\xff\xd8") & (
        tf.strings.substr(frames, -2, 2, unit="BYTE") == b"\xff\xd9")
    png = (tf.strings.substr(frames, 0, 8) == b"\x89PNG\r\n\x1a\n") & (
        tf.strings.substr(frames, -8, 8, unit="BYTE") == b"IEND\xaeB`\x82")
    all_jpeg, all_png = tf.reduce_all(jpeg & length), tf.reduce_all(png & length)
    return tf.where(all_jpeg, 1, tf.where(all_png, 2, 0))


class TFRecordSkips:
    """Counts records dropped for broken JPEG frames (a `tf.Variable`)."""

    def __init__(self):
        self.count_variable = tf.Variable(0, dtype=tf.int64, trainable=False)

    @property
    def count(self):
        return int(self.count_variable.numpy())

    def summary(self):
        return (f"skipped {self.count} TFRecord videos with broken frames or unknown labels"
                if self.count else "no TFRecord video skipped")


def _indices(total, element_seed, training, clip, ratio=1.0):
    """The frame indices of the training clip (`(T,)`) or of the test clips
    (`(K, T)`), by the same rules as the video-file pipeline; with `ratio`
    (shard frames per clip-rate frame) drawn on the clip's timeline and
    mapped to the shard's frames."""
    if ratio != 1.0:
        virtual = tf.maximum(tf.cast(tf.floor(tf.cast(total, tf.float64) / ratio), tf.int32), 1)
        indices = _indices(virtual, element_seed, training, clip)
        return tf.minimum(tf.cast(tf.floor(tf.cast(indices, tf.float64) * ratio), tf.int32),
                          total - 1)
    if training:
        return stream.train_indices(element_seed, total, clip)
    return sampling.eval_clip_indices(total, clip.num_frames, clip.frame_stride, clip.eval_clips,
                                      clip.short_rule, protocol(clip.protocol).clip_starts,
                                      sampling.tensorflow_ops())


def _decode(frame, kind, box=None):
    """One RGB frame (a JPEG when `kind` is 1, else a PNG), cut to `box`
    `(y, x, height, width)` if given (a JPEG decodes only that window)."""
    if box is None:
        return tf.io.decode_image(frame, channels=3, expand_animations=False)
    return tf.cond(
        kind == 1, lambda: tf.io.decode_and_crop_jpeg(frame, box, channels=3),
        lambda: tf.io.decode_png(frame, channels=3)[box[0]:box[0] + box[2],
                                                    box[1]:box[1] + box[3]])


@dataclasses.dataclass(frozen=True)
class _RecordSpec:
    """How a record is parsed: its feature specs and where its labels are."""

    keys: RecordKeys
    id_keys: tuple  # ShardLayout.id_keys
    context: dict  # context feature specs
    sequence: dict  # sequence feature specs (the frames)
    label_key: object  # keys.label_index, keys.label_text, or None: no labels read
    table: object = None  # class name -> index, for labels by text


def _record_spec(layout, keys, labels, class_names):
    """The `_RecordSpec` of records laid out as `layout`.

    Raises:
        ValueError: records labelled by name and no `class_names`.
    """
    context_spec = {k: tf.io.FixedLenFeature([], tf.string, default_value="")
                    for k in layout.id_keys}
    label_key = layout.label_key if labels else None  # None: no labels read
    table = None
    if label_key == keys.label_index:
        context_spec[keys.label_index] = tf.io.VarLenFeature(tf.int64)
    elif label_key is not None:
        if not class_names:
            raise ValueError(f"The records are labelled by name ({keys.label_text!r}); reading "
                             "them needs the class names in output order. Received: "
                             "class_names=None")
        context_spec[keys.label_text] = tf.io.VarLenFeature(tf.string)
        table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
            tf.constant(list(class_names)), tf.range(len(class_names), dtype=tf.int64)), -1)
    sequence_spec = {keys.frames: tf.io.FixedLenSequenceFeature([], tf.string)}
    return _RecordSpec(keys, layout.id_keys, context_spec, sequence_spec, label_key, table)


def _epoch_records(file_dataset, files, shuffled, index, key):
    """The serialized records of one epoch (`one_epoch` of `stream.epochs`),
    shuffled (shards, then records) when `shuffled`: seeded by `key` when
    `index` is None, else stateless by `(key, window)`."""
    shards = file_dataset
    if shuffled and index is None:
        shards = shards.shuffle(len(files), seed=key, reshuffle_each_iteration=True)
    elif shuffled:
        shards = tf.data.Dataset.from_tensor_slices(
            tf.gather(tf.constant(list(files)), stream.shuffled_order(len(files), key)))
    records = shards.interleave(tf.data.TFRecordDataset, cycle_length=min(len(files), 4),
                                num_parallel_calls=AUTOTUNE, deterministic=True)
    if not shuffled:
        return records
    if index is None:
        return records.shuffle(RECORD_SHUFFLE, seed=key, reshuffle_each_iteration=True)
    # Stateless: the records of each window of RECORD_SHUFFLE, permuted by (key, window).
    windows = records.batch(RECORD_SHUFFLE).enumerate()
    return windows.map(lambda w, window: tf.random.experimental.stateless_shuffle(
        window, seed=key + tf.stack([tf.constant(0, tf.int64), w * 1_000_003]))).unbatch()


def _parse_record(position, record, spec, num_classes, multi_label):
    """`((frames, kind), target, video_id, element_seed, ok)` of one
    `(serialized, element_seed)` record; `ok` is False for a record to drop."""
    serialized, element_seed = record
    keys = spec.keys
    context, sequence = tf.io.parse_single_sequence_example(serialized, spec.context,
                                                            spec.sequence)
    frames = sequence[keys.frames]
    if spec.label_key is None:
        indices = tf.zeros([1], tf.int64)
    elif spec.label_key == keys.label_index:
        indices = tf.sparse.to_dense(context[keys.label_index])
    else:
        indices = spec.table.lookup(
            tf.sparse.to_dense(context[keys.label_text], default_value=""))
    known = tf.reduce_all(indices >= 0) & (tf.size(indices) > 0)
    indices = tf.maximum(indices, 0)
    if multi_label:
        target = tf.reduce_max(tf.one_hot(indices, num_classes, dtype=tf.float32), axis=0)
    else:
        target = tf.cast(tf.concat([indices, [0]], 0)[0], tf.int32)
    video_id = tf.strings.join(["record ", tf.strings.as_string(position)])
    for key in reversed(spec.id_keys):  # media_id over filename over the position
        video_id = tf.where(context[key] != "", context[key], video_id)
    kind = _image_kind(frames)
    ok = (kind > 0) & (tf.size(frames) > 0) & known
    return (frames, kind), target, video_id, element_seed, ok


def _keep_counting_drops(skips, frames, target, video_id, element_seed, ok):
    """`ok`, once a record that is not has been counted in `skips`."""
    del frames, target, video_id, element_seed  # only `ok` decides
    count = tf.cond(ok, lambda: tf.constant(0, tf.int64),
                    lambda: skips.count_variable.assign_add(1))
    with tf.control_dependencies([count]):
        return tf.identity(ok)


def _decode_train_clip(chosen, kind, element_seed, clip):
    """The training clip `(T, crop, crop, 3)` of the encoded frames `chosen`."""
    # Only the crop's window is decoded (JPEG), then scaled and flipped.
    size = tf.cond(kind == 1, lambda: tf.io.extract_jpeg_shape(chosen[0]),
                   lambda: tf.shape(tf.io.decode_png(chosen[0], channels=3)))
    box, flip = augment.train_window(element_seed, size[0], size[1], clip.crop_size,
                                     (clip.short_side_min, clip.short_side_max))
    frames = tf.map_fn(lambda b: _decode(b, kind, box), chosen,
                       fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
    frames = augment.flip_if(augment.scale_to(frames, clip.crop_size), flip)
    frames.set_shape([clip.num_frames, clip.crop_size, clip.crop_size, 3])
    return frames


def _decode_eval_clips(chosen, kind, clip):
    """The test clips `(K, T, H, W, 3)` of the encoded frames `chosen` (`K * T`)."""
    frames = tf.map_fn(lambda b: _decode(b, kind), chosen,
                       fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))
    shape = tf.shape(frames)
    return tf.reshape(frames, tf.concat([[clip.eval_clips, clip.num_frames], shape[1:]], 0))


def _decode_clips(encoded, target, video_id, element_seed, ok, training, clip, ratio):
    """A parsed record with its frames decoded: the training clip, or the test clips."""
    encoded, kind = encoded
    total = tf.shape(encoded)[0]
    indices = _indices(total, element_seed, training, clip, ratio)
    chosen = tf.gather(encoded, tf.reshape(indices, [-1]))
    if training:
        frames = _decode_train_clip(chosen, kind, element_seed, clip)
    else:
        frames = _decode_eval_clips(chosen, kind, clip)
    return frames, target, video_id, element_seed, ok


def _batches(dataset, training, clip, batch_size, with_video_id, drop_remainder, normalize):
    """Decoded elements -> batches (test views per the clip's protocol)."""
    to_views = lambda clips: augment.eval_views(  # noqa: E731
        clips, clip.eval_short_side, clip.eval_crops, protocol(clip.protocol).crop_positions)
    return stream.finish(dataset, training, clip, batch_size, with_video_id, drop_remainder,
                         normalize, to_views)


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
    keys=RecordKeys(),
    class_names=None,
    frame_rate=None,
    resample=False,
    print_fn=print,
    labels=True,
):
    """A pure-TensorFlow pipeline over TFRecord shards.

    Same clips, augmentation and views as `video_dataset` (frame indices,
    crops and flips follow the same rules, the test views the clip's
    protocol); `video_id` is the record's `media_id`, else its `filename`,
    else its position (a string).

    Args:
        files: shard paths (or a glob pattern).
        num_classes: classes of the labels.
        clip: the `keras_nonlocal.Clip` to sample (default `Clip()`).
        multi_label: multi-hot float targets instead of class indices.
        skips: a `TFRecordSkips` to count dropped records (a new one by default).
        keys: the records' feature names (`RecordKeys`).
        class_names: the classes in output order, for records labelled by
            text (`keys.label_text`).
        frame_rate: the frame rate the clip's stride assumes (30 for the
            Kinetics models); `None` takes the shards' as they are.
        resample: where the shards record another rate: `False` refuses
            (a ValueError saying both), `True` takes each clip frame at the
            time it has at `frame_rate` (printed).
        print_fn: where a resampling is announced.
        labels: `False` reads records without labels (targets 0: for
            prediction and features).
        (the others as `video_dataset`)

    Returns:
        `(dataset, skips)`.
    """
    clip = Clip() if clip is None else clip
    if isinstance(files, str):
        files = sorted(tf.io.gfile.glob(files))
    if not files:
        raise ValueError("No TFRecord files. Received: files=[]")
    skips = skips or TFRecordSkips()
    layout = inspect_shards(files, keys, needs_labels=labels)
    ratio, message = rate_plan(layout.frame_rate, frame_rate, resample, clip)
    if message:
        print_fn(message)
    spec = _record_spec(layout, keys, labels, class_names)
    # One file dataset for every epoch, as `stream.epochs` calls `one_epoch` per epoch.
    file_dataset = tf.data.Dataset.from_tensor_slices(list(files))
    one_epoch = functools.partial(_epoch_records, file_dataset, files, training and shuffle)
    records = stream.seeded(stream.epochs(one_epoch, seed, repeat), seed, repeat, skip)
    records = records.enumerate()
    parse = functools.partial(_parse_record, spec=spec, num_classes=num_classes,
                              multi_label=multi_label)
    decode = functools.partial(_decode_clips, training=training, clip=clip, ratio=ratio)
    dataset = records.map(parse, num_parallel_calls=AUTOTUNE, deterministic=True)
    dataset = dataset.filter(functools.partial(_keep_counting_drops, skips))
    dataset = dataset.map(decode, num_parallel_calls=AUTOTUNE, deterministic=True)
    dataset = dataset.ignore_errors(log_warning=True)
    return _batches(dataset, training, clip, batch_size, with_video_id, drop_remainder,
                    normalize), skips
