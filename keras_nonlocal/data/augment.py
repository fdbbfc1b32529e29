"""Clip augmentation in TensorFlow ops (paper section 4.1), shared by the
video-file and TFRecord pipelines. Frames stay uint8."""

import tensorflow as tf

from keras_nonlocal.data import sampling


def resize_short_side(frames, short_side):
    """(T, H, W, 3) uint8 -> short side `short_side` (bilinear), uint8."""
    shape = tf.shape(frames)
    height = tf.cast(shape[1], tf.float32)
    width = tf.cast(shape[2], tf.float32)
    scale = tf.cast(short_side, tf.float32) / tf.minimum(height, width)
    new_h = tf.maximum(tf.cast(tf.round(height * scale), tf.int32), 1)
    new_w = tf.maximum(tf.cast(tf.round(width * scale), tf.int32), 1)
    resized = tf.image.resize(frames, tf.stack([new_h, new_w]), method="bilinear", antialias=False)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), tf.uint8)


def train_window(seed, height, width, crop_size=224, short_side_range=(256, 320)):
    """Where a training crop lies in a frame of `height` x `width`, drawn
    from `seed` (shape [2] int): a random short side in `short_side_range`
    (at least `crop_size`), a random `crop_size` square of the frame scaled
    to it, and a random horizontal flip (paper section 4.1).

    The square is returned as the region of the source frame it shows,
    rounded to whole pixels (its edges within half a source pixel of the
    exact ones, so its sides may differ by a pixel): scaling that region to
    `crop_size` is the crop, so a decoder reads and scales only the pixels
    the crop needs.

    Returns:
        `(box, flip)`: int32 `[top, left, box_height, box_width]` in source
        pixels, and a bool scalar.
    """
    seeds = tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 4)
    low, high = short_side_range
    short = tf.random.stateless_uniform([], seeds[0], low, high + 1, dtype=tf.int32)
    short = tf.maximum(short, crop_size)
    height = tf.maximum(tf.cast(height, tf.int32), 1)
    width = tf.maximum(tf.cast(width, tf.int32), 1)
    scale = tf.cast(short, tf.float32) / tf.cast(tf.minimum(height, width), tf.float32)

    def side(seed, size):
        scaled = tf.cast(tf.round(tf.cast(size, tf.float32) * scale), tf.int32)
        scaled = tf.maximum(scaled, crop_size)
        start = tf.random.stateless_uniform([], seed, 0, scaled - crop_size + 1, dtype=tf.int32)
        back = tf.cast(size, tf.float32) / tf.cast(scaled, tf.float32)  # scaled -> source pixels
        first = tf.cast(tf.round(tf.cast(start, tf.float32) * back), tf.int32)
        end = tf.cast(tf.round(tf.cast(start + crop_size, tf.float32) * back), tf.int32)
        first = tf.minimum(first, size - 1)
        return first, tf.clip_by_value(end - first, 1, size - first)

    top, box_height = side(seeds[1], height)
    left, box_width = side(seeds[2], width)
    flip = tf.random.stateless_uniform([], seeds[3]) < 0.5
    return tf.stack([top, left, box_height, box_width]), flip


def scale_to(frames, crop_size):
    """(T, h, w, 3) uint8 -> (T, crop_size, crop_size, 3) uint8, bilinear
    with half-pixel centres (as FFmpeg's bilinear scaler when enlarging,
    which training crops of frames stored at the short side they are
    scaled from do)."""
    scaled = tf.raw_ops.ResizeBilinear(images=frames, size=[crop_size, crop_size],
                                       half_pixel_centers=True)
    return tf.cast(tf.clip_by_value(tf.round(scaled), 0, 255), tf.uint8)


def flip_if(frames, flip):
    """Frames `(T, H, W, C)` mirrored left-right when `flip` (a bool scalar)."""
    return tf.cond(flip, lambda: tf.reverse(frames, axis=[2]), lambda: frames)


def train_augment(frames, seed, crop_size=224, short_side_range=(256, 320), flip=True):
    """The training augmentation of decoded frames `(T, H, W, 3)` uint8:
    the `train_window` that `seed` draws, cut, scaled to `crop_size` and
    flipped (unless `flip=False`). The pipelines do the same while
    decoding (they decode only the window).

    Returns `(T, crop_size, crop_size, 3)` uint8.
    """
    shape = tf.shape(frames)
    box, flipped = train_window(seed, shape[1], shape[2], crop_size, short_side_range)
    frames = scale_to(frames[:, box[0]:box[0] + box[2], box[1]:box[1] + box[3]], crop_size)
    if flip:
        frames = flip_if(frames, flipped)
    frames.set_shape([None, crop_size, crop_size, 3])
    return frames


def eval_views(clips, short_side=256, num_crops=3, positions="even"):
    """Multi-view testing: clips `(K, T, H, W, 3)` -> views `(K * num_crops,
    T, short_side, short_side, 3)`: short side scaled to `short_side`, then
    square crops at the start, centre and end of the longer side (the centre
    only when `num_crops=1`; `positions` as `sampling.crop_offsets`). Views
    are ordered clip-major."""
    shape = tf.shape(clips)
    k, t = shape[0], shape[1]
    frames = tf.reshape(clips, tf.concat([[k * t], shape[2:]], axis=0))
    frames = resize_short_side(frames, short_side)
    height, width = tf.shape(frames)[1], tf.shape(frames)[2]
    offsets = sampling.crop_offsets(tf.maximum(height, width), short_side, num_crops,
                                    sampling.tensorflow_ops(), positions)
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
