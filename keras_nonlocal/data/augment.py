"""Clip augmentation in TensorFlow ops (paper section 4.1), shared by the
video-file and TFRecord pipelines. Frames stay uint8."""

import tensorflow as tf


def _resize_short_side(frames, short_side):
    """(T, H, W, 3) uint8 -> short side `short_side` (bilinear), uint8."""
    shape = tf.shape(frames)
    height = tf.cast(shape[1], tf.float32)
    width = tf.cast(shape[2], tf.float32)
    scale = tf.cast(short_side, tf.float32) / tf.minimum(height, width)
    new_h = tf.maximum(tf.cast(tf.round(height * scale), tf.int32), 1)
    new_w = tf.maximum(tf.cast(tf.round(width * scale), tf.int32), 1)
    resized = tf.image.resize(frames, tf.stack([new_h, new_w]), method="bilinear", antialias=False)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def train_augment(frames, seed, crop_size=224, short_side_range=(256, 320), flip=True):
    """Random short-side scale in `short_side_range`, random square crop,
    random horizontal flip; deterministic given `seed` (shape [2] int).

    Returns `(T, crop_size, crop_size, 3)` uint8.
    """
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
    low, high = short_side_range
    short = tf.random.stateless_uniform([], seeds[0], low, high + 1, dtype=tf.int32)
    short = tf.maximum(short, crop_size)
    frames = _resize_short_side(frames, short)
    shape = tf.shape(frames)
    y = tf.random.stateless_uniform([], seeds[1], 0, shape[1] - crop_size + 1, dtype=tf.int32)
    x = tf.random.stateless_uniform([], seeds[2], 0, shape[2] - crop_size + 1, dtype=tf.int32)
    frames = frames[:, y:y + crop_size, x:x + crop_size]
    if flip:
        do_flip = tf.random.stateless_uniform([], seeds[3]) < 0.5
        frames = tf.cond(do_flip, lambda: tf.reverse(frames, axis=[2]), lambda: frames)
    frames.set_shape([None, crop_size, crop_size, 3])
    return frames


def eval_views(clips, short_side=256, num_crops=3):
    """Multi-view testing: clips `(K, T, H, W, 3)` -> views `(K * num_crops,
    T, short_side, short_side, 3)`: short side scaled to `short_side`, then
    square crops at the start, centre and end of the longer side (the centre
    only when `num_crops=1`). Views are ordered clip-major."""
    shape = tf.shape(clips)
    k, t = shape[0], shape[1]
    frames = tf.reshape(clips, tf.concat([[k * t], shape[2:]], axis=0))
    frames = _resize_short_side(frames, short_side)
    height, width = tf.shape(frames)[1], tf.shape(frames)[2]
    longer = tf.maximum(height, width)
    room = longer - short_side
    if num_crops == 1:
        offsets = tf.reshape(room // 2, [1])
    else:
        offsets = tf.cast(tf.round(tf.linspace(0.0, tf.cast(room, tf.float32), num_crops)), tf.int32)
    crops = []
    for i in range(num_crops):
        offset = offsets[i]
        crop = tf.cond(
            height >= width,
            lambda o=offset: frames[:, o:o + short_side, :short_side],
            lambda o=offset: frames[:, :short_side, o:o + short_side],
        )
        crops.append(tf.reshape(crop, [k, t, short_side, short_side, 3]))
    views = tf.stack(crops, axis=1)  # (K, crops, T, S, S, 3)
    return tf.reshape(views, [-1, t, short_side, short_side, 3])
