"""Which frames a clip holds, and where its crops lie (paper section 4.1).

Each rule is written once, on an array namespace `xp`: `NUMPY` for the
video-file paths (they run in Python), `tensorflow_ops()` for the TFRecord
path (pure TensorFlow, no Python per element). Both give the same indices.

Short videos: a clip spans `(T - 1) * stride + 1` frames. When a video has
fewer, the clip is not dropped: with `short_rule="loop"` (default) frame
indices wrap around the video (`i % num_frames`), with `"repeat_last"` they
stop at its last frame.
"""

import types

import numpy as np

from keras_nonlocal.clip import SHORT_RULES

NUMPY = types.SimpleNamespace(
    arange=np.arange, minimum=np.minimum, maximum=np.maximum, mod=np.mod,
    reshape=np.reshape, linspace=np.linspace, round=np.round,
    cast=lambda x, dtype: np.asarray(x).astype(dtype))


def tensorflow_ops():
    """The TensorFlow namespace of the rules (TensorFlow imported on demand)."""
    import tensorflow as tf

    return types.SimpleNamespace(
        arange=lambda n: tf.range(n), minimum=tf.minimum, maximum=tf.maximum,
        mod=tf.math.floormod, reshape=tf.reshape,
        linspace=lambda a, b, n: tf.linspace(tf.cast(a, tf.float32), tf.cast(b, tf.float32), n),
        round=tf.round, cast=lambda x, dtype: tf.cast(x, dtype))


def clip_span(num_frames, stride):
    """Frames from a clip's first to its last, both included."""
    return (num_frames - 1) * stride + 1


def start_room(total, num_frames, stride, xp=NUMPY):
    """The latest start of a clip that fits in `total` frames (0 if none fits):
    a training clip starts uniformly in `[0, start_room]`."""
    return xp.maximum(total - clip_span(num_frames, stride), 0)


def clip_indices(starts, total, num_frames, stride, short_rule="loop", xp=NUMPY):
    """Frame indices `(len(starts), num_frames)` of clips starting at `starts`:
    every `stride`-th frame, then the short-video rule."""
    if short_rule not in SHORT_RULES:
        raise ValueError(f"`short_rule` must be one of {SHORT_RULES}. "
                         f"Received: short_rule={short_rule!r}")
    indices = xp.reshape(starts, [-1, 1]) + stride * xp.reshape(xp.arange(num_frames), [1, -1])
    if short_rule == "loop":
        return xp.mod(indices, total)
    return xp.minimum(indices, total - 1)


def eval_starts(total, num_frames, stride, num_clips=10, xp=NUMPY):
    """Starts of `num_clips` test clips evenly spaced over the video: the
    first at frame 0, the last ending at the last frame, the others evenly
    between (rounded); one clip is centred."""
    room = start_room(total, num_frames, stride, xp)
    if num_clips == 1:
        return xp.reshape(room // 2, [1])
    return xp.cast(xp.round(xp.linspace(0, room, num_clips)), "int32")


def train_clip_indices(total, num_frames, stride, rng, short_rule="loop"):
    """Frame indices of one training clip: a random start (drawn from `rng`,
    a `numpy.random.Generator`), then every `stride`-th frame (the paper's
    32x2: 64 consecutive frames, every other one)."""
    start = int(rng.integers(0, start_room(total, num_frames, stride) + 1))
    return clip_indices([start], total, num_frames, stride, short_rule)[0]


def eval_clip_indices(total, num_frames, stride, num_clips=10, short_rule="loop"):
    """Frame indices `(num_clips, num_frames)` of the test clips (`eval_starts`)."""
    starts = eval_starts(total, num_frames, stride, num_clips)
    return clip_indices(starts, total, num_frames, stride, short_rule)


def crop_offsets(longer, side, num_crops, xp=NUMPY):
    """Offsets along the longer side of `num_crops` squares of `side`: start,
    centre and end for 3 (evenly spaced, rounded), the centre for 1."""
    room = xp.maximum(longer - side, 0)
    if num_crops == 1:
        return xp.reshape(room // 2, [1])
    return xp.cast(xp.round(xp.linspace(0, room, num_crops)), "int32")


def eval_crop_boxes(height, width, num_crops=3):
    """Square crops of side min(height, width) along the longer side.

    With the short side scaled to 256 first these are the paper's 3 crops
    of 256 x 256; with `num_crops=1`, the centre one. Returns
    `(num_crops, 4)` boxes `(y0, x0, y1, x1)` in pixels (end exclusive).
    """
    side = min(height, width)
    boxes = []
    for offset in crop_offsets(max(height, width), side, num_crops).tolist():
        if height >= width:
            boxes.append((offset, 0, offset + side, side))
        else:
            boxes.append((0, offset, side, offset + side))
    return np.array(boxes, dtype=np.int64)
