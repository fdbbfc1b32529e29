"""What the video-file and the TFRecord tf.data pipelines share: the seeded
stream of elements, the training clip's frames, batching and normalising.

Every random choice is a function of the seed and the element's position:
each element carries a [2] int64 seed (`element_seeds`), from which its
clip start (`train_indices`), crop and flip (`augment.train_window`) are
drawn with stateless ops, and every epoch's order comes from
`(seed, epoch)` (`epochs`). So every iterator over a dataset replays the
same stream however many were opened before it: Keras' `fit` may open one
to build the model and start again (on JAX it does), and a stream that
depended on that would not resume to the same clips.
"""

import numpy as np
import tensorflow as tf

from keras_nonlocal.data import sampling
from keras_nonlocal.layers.preprocessing import normalize_frames

AUTOTUNE = tf.data.AUTOTUNE


def element_seeds(seed, repeat):
    """An endless stream of [2] int64 seeds fixed by `seed`: new each epoch of
    a finite dataset; for an endless one (`repeat`) the same for every
    iterator, which never sees an element twice anyway."""
    stream = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=not repeat)
    return stream.batch(2)


def epochs(one_epoch, seed, repeat):
    """One epoch (`one_epoch(None, seed)`: a new order each time it is
    iterated), or with `repeat` endless epochs, `one_epoch(index, key)` with
    `key` a [2] int64 tensor `(seed, epoch index)` for stateless shuffles."""
    if not repeat:
        return one_epoch(None, seed)
    base = int(np.random.randint(2**31)) if seed is None else int(seed)

    def epoch(index):
        return one_epoch(index, tf.stack([tf.constant(base, tf.int64), index]))

    return tf.data.Dataset.range(2**62).flat_map(epoch)


def shuffled_order(count, key):
    """A permutation of `range(count)` drawn from a [2] int64 `key` (stateless)."""
    return tf.random.experimental.stateless_shuffle(tf.range(count, dtype=tf.int64), seed=key)


def seeded(elements, seed, repeat, skip):
    """`(element, element_seed)` pairs, the first `skip` left out before
    anything is decoded (resuming training costs nothing)."""
    elements = tf.data.Dataset.zip((elements, element_seeds(seed, repeat)))
    return elements.skip(skip) if skip else elements


def train_indices(element_seed, total, clip):
    """A training clip's frame indices `(T,)` in a video of `total` frames: a
    start drawn uniformly from the element's seed, the clip's stride and
    short-video rule (`sampling.clip_indices`)."""
    ops = sampling.tensorflow_ops()
    room = sampling.start_room(total, clip.num_frames, clip.frame_stride, ops)
    start = tf.random.stateless_uniform([], tf.cast(element_seed, tf.int64), 0, room + 1,
                                        dtype=tf.int32)
    return sampling.clip_indices(start, total, clip.num_frames, clip.frame_stride,
                                 clip.short_rule, ops)[0]


def finish(dataset, training, clip, batch_size, with_video_id, drop_remainder, normalize,
           to_views=None):
    """Elements `(frames, target, video_id, element_seed, ok)` -> batches.

    Training: `(clips, targets)` (the frames are the training clip). Else
    the test views of each video (`to_views(frames)`, or the frames
    themselves when they are views already), one element each, tagged with
    the video's id when `with_video_id`. With `normalize`, float32 clips
    normalised as `clip` says (`normalize_frames`, the models' own layer's).
    """
    if training:
        dataset = dataset.map(lambda frames, target, *rest: (frames, target))
    else:
        def views(frames, target, video_id, element_seed, ok):
            clips = frames if to_views is None else to_views(frames)
            count = tf.shape(clips)[0]
            targets = tf.repeat(tf.expand_dims(target, 0), count, axis=0)
            parts = (clips, targets, tf.fill([count], video_id))
            return tf.data.Dataset.from_tensor_slices(parts if with_video_id else parts[:2])

        dataset = dataset.flat_map(views)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if normalize:
        ops = sampling.tensorflow_ops()
        dataset = dataset.map(lambda clips, *rest: (normalize_frames(clips, clip, ops), *rest),
                              num_parallel_calls=AUTOTUNE, deterministic=True)
    return dataset.prefetch(AUTOTUNE)
