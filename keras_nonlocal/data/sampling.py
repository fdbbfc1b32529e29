"""Which frames a clip holds, and where its crops lie (paper section 4.1).

Pure functions on frame counts and sizes, shared by the video-file and the
TFRecord pipelines.

Short videos: a clip spans `(T - 1) * stride + 1` frames. When a video has
fewer, the clip is not dropped: with `short_rule="loop"` (default) frame
indices wrap around the video (`i % num_frames`), with `"repeat_last"` they
stop at its last frame.
"""

import numpy as np

SHORT_RULES = ("loop", "repeat_last")

def clip_span(num_frames, stride):
    return (num_frames - 1) * stride + 1


def _apply_short_rule(indices, total, rule):
    if rule == "loop":
        return indices % total
    if rule == "repeat_last":
        return np.minimum(indices, total - 1)
    raise ValueError(f"`short_rule` must be one of {SHORT_RULES}. Received: short_rule={rule!r}")


def train_clip_indices(total, num_frames, stride, rng, short_rule="loop"):
    """Frame indices of one training clip: a random start, then every
    `stride`-th frame (the paper's 32x2: 64 consecutive frames, every other one).

    Args:
        total: frames in the video (> 0).
        num_frames, stride: the clip, e.g. 32 and 2.
        rng: a `numpy.random.Generator`.
        short_rule: what to do when the video is shorter than the clip.
    """
    span = clip_span(num_frames, stride)
    start = int(rng.integers(0, total - span + 1)) if total >= span else 0
    indices = start + stride * np.arange(num_frames)
    return _apply_short_rule(indices, total, short_rule)


def eval_clip_indices(total, num_frames, stride, num_clips=10, short_rule="loop"):
    """Frame indices of `num_clips` clips evenly spaced over the video.

    The first clip starts at frame 0, the last ends at the last frame, the
    others are spaced evenly between (rounded); one clip is centred. Returns
    an int array `(num_clips, num_frames)`.
    """
    span = clip_span(num_frames, stride)
    room = max(total - span, 0)
    if num_clips == 1:
        starts = np.array([room // 2])
    else:
        starts = np.round(np.linspace(0, room, num_clips)).astype(int)
    indices = starts[:, None] + stride * np.arange(num_frames)[None, :]
    return _apply_short_rule(indices, total, short_rule)


def eval_crop_boxes(height, width, num_crops=3):
    """Square crops of side min(height, width) along the longer side.

    With the short side later scaled to 256 these are the paper's 3 crops of
    256 x 256 (first, centre, last position along the longer side); with
    `num_crops=1`, the centre one. Returns `(num_crops, 4)` boxes
    `(y0, x0, y1, x1)` in pixels (end exclusive).
    """
    side = min(height, width)
    longer = max(height, width)
    if num_crops == 1:
        offsets = [(longer - side) // 2]
    else:
        offsets = np.round(np.linspace(0, longer - side, num_crops)).astype(int).tolist()
    boxes = []
    for offset in offsets:
        if height >= width:
            boxes.append((offset, 0, offset + side, side))
        else:
            boxes.append((0, offset, side, offset + side))
    return np.array(boxes, dtype=np.int64)
