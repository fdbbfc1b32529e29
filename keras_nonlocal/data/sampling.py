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
    reshape=np.reshape, linspace=np.linspace, round=np.round, where=np.where,
    floor=np.floor, stack=np.stack, cast=lambda x, dtype: np.asarray(x).astype(dtype))


def tensorflow_ops():
    """The TensorFlow namespace of the rules (TensorFlow imported on demand)."""
    import tensorflow as tf

    return types.SimpleNamespace(
        arange=lambda n: tf.range(n), minimum=tf.minimum, maximum=tf.maximum,
        mod=tf.math.floormod, reshape=tf.reshape,
        linspace=lambda a, b, n: tf.linspace(tf.cast(a, tf.float32), tf.cast(b, tf.float32), n),
        round=tf.round, where=tf.where, floor=tf.floor, stack=tf.stack,
        cast=lambda x, dtype: tf.cast(x, dtype), flip=lambda x, axis: tf.reverse(x, [axis]),
        convert_to_tensor=tf.convert_to_tensor)


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


def eval_clip_indices(total, num_frames, stride, num_clips=10, short_rule="loop",
                      starts="even", xp=NUMPY):
    """Frame indices `(num_clips, num_frames)` of the test clips.

    Args:
        total: frames in the video.
        num_frames, stride: the clip.
        num_clips: test clips.
        short_rule: what frames past the end become, for `starts="even"`.
        starts: a protocol's rule (`protocol.CLIP_STARTS`): `"even"`
            (`eval_starts`), `"release"` (start `int(float32(total) /
            num_clips * j) % total`, frames wrapping around the video:
            video-nonlocal-net customized_video_io.cc,
            DecodeClipFromVideoFileFlex) or `"pyslowfast"` (start
            `delta * j / num_clips` with `delta = max(total - T * stride, 0)`,
            frames `torch.linspace(start, start + T * stride - 1, T)` in
            float32, clamped to the video and truncated: PySlowFast 1.0
            decoder.py:50-58 and :24-25).
        xp: `NUMPY` or `tensorflow_ops()`.
    """
    if starts == "even":
        return clip_indices(eval_starts(total, num_frames, stride, num_clips, xp), total,
                            num_frames, stride, short_rule, xp)
    j = xp.cast(xp.arange(num_clips), "float32")
    if starts == "release":
        gaps = xp.cast(total, "float32") / np.float32(num_clips)
        first = xp.mod(xp.cast(gaps * j, "int32"), total)
        return clip_indices(first, total, num_frames, stride, "loop", xp)
    if starts != "pyslowfast":
        raise ValueError(f"`starts` must be one of 'even', 'release', 'pyslowfast'. "
                         f"Received: starts={starts!r}")
    size = num_frames * stride
    delta = xp.cast(xp.maximum(total - size, 0), "float64")
    start = delta * xp.cast(j, "float64") / num_clips  # Python floats, then torch's float32
    first, last = xp.cast(start, "float32"), xp.cast(start + (size - 1), "float32")
    # torch.linspace's float kernel: from the start up to halfway, from the end after.
    step = (last - first) / np.float32(max(num_frames - 1, 1))
    i = xp.cast(xp.arange(num_frames), "float32")
    from_start = xp.reshape(first, [-1, 1]) + xp.reshape(step, [-1, 1]) * i
    from_end = (xp.reshape(last, [-1, 1])
                - xp.reshape(step, [-1, 1]) * (np.float32(num_frames - 1) - i))
    points = xp.where(xp.reshape(xp.arange(num_frames), [1, -1]) < num_frames // 2,
                      from_start, from_end)
    clamped = xp.minimum(xp.maximum(points, 0.0), xp.cast(total - 1, "float32"))
    return xp.cast(xp.floor(clamped), "int32")


def crop_offsets(longer, side, num_crops, xp=NUMPY, positions="even"):
    """Offsets along the longer side of `num_crops` squares of `side`, as a
    protocol places them (`protocol.CROP_POSITIONS`, room `r = longer -
    side`): `"even"` start, centre and end for 3 (evenly spaced, rounded),
    the centre `r // 2` for 1; `"twice_half"` 0, `r // 2`, `2 (r // 2)`
    (video-nonlocal-net ClipTransformFlex, mmaction2 ThreeCrop), centre
    `r // 2`; `"ceil_centre"` 0, `ceil(r / 2)`, `r` (PySlowFast
    uniform_crop), centre `ceil(r / 2)`."""
    room = xp.maximum(longer - side, 0)
    if positions == "even":
        if num_crops == 1:
            return xp.reshape(room // 2, [1])
        return xp.cast(xp.round(xp.linspace(0, room, num_crops)), "int32")
    if positions not in ("twice_half", "ceil_centre") or num_crops not in (1, 3):
        raise ValueError(f"Crop positions {positions!r} place 1 or 3 crops. Received: "
                         f"positions={positions!r}, num_crops={num_crops}")
    centre = room // 2 if positions == "twice_half" else (room + 1) // 2
    if num_crops == 1:
        return xp.reshape(centre, [1])
    end = 2 * centre if positions == "twice_half" else room
    return xp.cast(xp.stack([0 * room, centre, end]), "int32")


def eval_crop_boxes(height, width, num_crops=3, positions="even"):
    """Square crops of side min(height, width) along the longer side.

    With the short side scaled to 256 first these are the paper's 3 crops
    of 256 x 256; with `num_crops=1`, the centre one. Returns
    `(num_crops, 4)` boxes `(y0, x0, y1, x1)` in pixels (end exclusive).
    """
    side = min(height, width)
    boxes = []
    for offset in crop_offsets(max(height, width), side, num_crops, positions=positions).tolist():
        if height >= width:
            boxes.append((offset, 0, offset + side, side))
        else:
            boxes.append((0, offset, side, offset + side))
    return np.array(boxes, dtype=np.int64)
