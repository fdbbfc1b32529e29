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

    The scale and the crop are done in one `crop_and_resize`, which samples
    exactly the pixels that resizing the whole frame (bilinear, half-pixel
    centres) and then cropping would, at a fraction of the cost.

    Returns `(T, crop_size, crop_size, 3)` uint8.
    """
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
    low, high = short_side_range
    short = tf.random.stateless_uniform([], seeds[0], low, high + 1, dtype=tf.int32)
    short = tf.maximum(short, crop_size)
    shape = tf.shape(frames)
    height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
    scale = tf.cast(short, tf.float32) / tf.minimum(height, width)
    scaled_h = tf.maximum(tf.cast(tf.round(height * scale), tf.int32), crop_size)
    scaled_w = tf.maximum(tf.cast(tf.round(width * scale), tf.int32), crop_size)
    y = tf.random.stateless_uniform([], seeds[1], 0, scaled_h - crop_size + 1, dtype=tf.int32)
    x = tf.random.stateless_uniform([], seeds[2], 0, scaled_w - crop_size + 1, dtype=tf.int32)
    frames = _scaled_crop(frames, y, x, crop_size, tf.cast(scaled_h, tf.float32) / height,
                          tf.cast(scaled_w, tf.float32) / width)
    if flip:
        do_flip = tf.random.stateless_uniform([], seeds[3]) < 0.5
        frames = tf.cond(do_flip, lambda: tf.reverse(frames, axis=[2]), lambda: frames)
    frames.set_shape([None, crop_size, crop_size, 3])
    return frames


def train_crop(frames, seed, crop_size=224, flip=True):
    """Random square crop and random horizontal flip of frames that are
    already scaled (the video-file pipeline scales while decoding); the same
    seeds as `train_augment` pick the crop and the flip."""
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
    shape = tf.shape(frames)
    y = tf.random.stateless_uniform([], seeds[1], 0, shape[1] - crop_size + 1, dtype=tf.int32)
    x = tf.random.stateless_uniform([], seeds[2], 0, shape[2] - crop_size + 1, dtype=tf.int32)
    frames = frames[:, y:y + crop_size, x:x + crop_size]
    if flip:
        do_flip = tf.random.stateless_uniform([], seeds[3]) < 0.5
        frames = tf.cond(do_flip, lambda: tf.reverse(frames, axis=[2]), lambda: frames)
    frames.set_shape([None, crop_size, crop_size, 3])
    return frames


def scaled_size(height, width, short_side, minimum):
    """(height, width) with the short side at `short_side` (rounded), at least `minimum`."""
    scale = short_side / min(height, width)
    return max(int(round(height * scale)), minimum), max(int(round(width * scale)), minimum)


def _scaled_crop(frames, y, x, size, scale_y, scale_x):
    """Crop `[y, y+size) x [x, x+size)` of the frames resized by (scale_y, scale_x).

    Output pixel i of the resized frame samples source coordinate
    `(i + 0.5) / scale - 0.5`; `crop_and_resize` samples linearly between
    its box corners (normalised by `size - 1` of the source), so the box
    from the first to the last sample reproduces it.
    """
    shape = tf.shape(frames)
    height = tf.cast(shape[1], tf.float32)
    width = tf.cast(shape[2], tf.float32)
    y, x = tf.cast(y, tf.float32), tf.cast(x, tf.float32)
    last = float(size - 1)
    # One replicated edge pixel on each side: samples up to half a pixel
    # outside the frame then read the edge, as resize's clamping does.
    frames = tf.pad(frames, [[0, 0], [1, 1], [1, 1], [0, 0]], mode="SYMMETRIC")
    y0 = (y + 0.5) / scale_y - 0.5 + 1.0
    y1 = (y + last + 0.5) / scale_y - 0.5 + 1.0
    x0 = (x + 0.5) / scale_x - 0.5 + 1.0
    x1 = (x + last + 0.5) / scale_x - 0.5 + 1.0
    box = tf.stack([y0 / (height + 1.0), x0 / (width + 1.0), y1 / (height + 1.0), x1 / (width + 1.0)])
    count = shape[0]
    boxes = tf.tile(box[None], [count, 1])
    out = tf.image.crop_and_resize(frames, boxes, tf.range(count), [size, size],
                                   method="bilinear", extrapolation_value=0.0)
    return tf.cast(tf.clip_by_value(tf.round(out), 0, 255), tf.uint8)


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
