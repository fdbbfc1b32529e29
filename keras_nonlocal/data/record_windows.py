"""The windows of videos held in TFRecord shards, for features and
timelines over whole videos (`keras_nonlocal.features`): one pass over the
shards' contexts to list the records, then each record's frames decoded by
TensorFlow and cut into windows as `data.windows` cuts a file's."""

import collections
import os
import threading

import numpy as np

from keras_nonlocal.data import windows as windows_lib
from keras_nonlocal.data.decode import VideoError
from keras_nonlocal.extras import require_tensorflow


class RecordRef(collections.namedtuple("RecordRef", ["shard", "position", "fps", "ratio"])):
    """One record of a TFRecord shard: where it is, its frame rate, and the
    shard frames per frame at the clip's rate (`tfrecord.rate_plan`)."""

    def __str__(self):
        return f"{self.shard}#{self.position}"


class RecordItems(list):
    """`(RecordRef, name)` pairs, with the `RecordKeys` to read them by."""

    def __init__(self, items, keys):
        super().__init__(items)
        self.keys = keys


def record_items(records, clip):
    """`(RecordRef, name)` per record of `records` (a `data.TFRecords`):
    one pass over the contexts (ids, frame rates); a frame-rate mismatch is
    refused or resampled as `records` says (the first one raises or is
    printed)."""
    tf = require_tensorflow("features of TFRecords")
    from keras_nonlocal.data import tfrecord

    keys = records.keys
    spec = {k: tf.io.FixedLenFeature([], tf.string, default_value="")
            for k in (keys.media_id, keys.filename)}
    spec[keys.frame_rate] = tf.io.FixedLenFeature([], tf.float32, default_value=0.0)
    items, told = [], False
    for shard in records.paths():
        tfrecord.inspect_shards([shard], keys, needs_labels=False)
        for position, serialized in enumerate(tf.data.TFRecordDataset(shard)):
            context, _ = tf.io.parse_single_sequence_example(serialized, spec)
            name = (context[keys.media_id].numpy().decode()
                    or context[keys.filename].numpy().decode() or f"{os.path.basename(shard)}"
                    f"-record-{position}")
            recorded = float(context[keys.frame_rate].numpy())
            ratio, message = tfrecord.rate_plan(recorded, records.frame_rate, records.resample,
                                                clip)
            if message and not told:
                print(message)
                told = True
            items.append((RecordRef(shard, position, recorded or records.frame_rate, ratio),
                          name))
    return RecordItems(items, keys)


class RecordReader(threading.local):
    """Reads records by position, each thread moving forward through a shard
    (items come in shard order: every record is read about once)."""

    def __init__(self):
        self.open = {}

    def read(self, ref):
        import tensorflow as tf

        iterator, position = self.open.get(ref.shard, (None, None))
        if iterator is None or ref.position < position:
            iterator = iter(tf.data.TFRecordDataset(ref.shard).skip(ref.position))
            position = ref.position
        for _ in range(ref.position - position):
            next(iterator)
        self.open[ref.shard] = (iterator, ref.position + 1)
        return next(iterator)


def record_windows(reader, ref, keys, clip, hop, crops, short_side):
    """Every window of one record: `(Window, views)` as `iter_windows` gives
    for a file (frames scaled to the test short side by TensorFlow)."""
    import tensorflow as tf

    from keras_nonlocal.data import augment

    if not ref.fps:
        raise VideoError(f"{ref}: no frame rate recorded ({keys.frame_rate!r}); pass "
                         "TFRecords(frame_rate=...)")
    _, sequence = tf.io.parse_single_sequence_example(
        reader.read(ref), sequence_features={keys.frames: tf.io.FixedLenSequenceFeature(
            [], tf.string)})
    try:
        frames = np.stack([tf.io.decode_image(f, channels=3, expand_animations=False).numpy()
                           for f in sequence[keys.frames]])
    except (tf.errors.InvalidArgumentError, ValueError) as error:
        raise VideoError(f"{ref}: {type(error).__name__}: {error}") from error
    side = short_side or clip.eval_short_side
    if min(frames.shape[1:3]) != side:  # the TFRecord test views' resize
        frames = augment.resize_short_side(frames, side).numpy()
    yield from windows_lib.frames_windows(frames, ref.fps, clip, hop, crops, side, ref.ratio)
