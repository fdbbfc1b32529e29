"""The test views of a video file, in NumPy: no TensorFlow needed.

One implementation of the paper's multi-view testing for every video-file
path: the tf.data evaluation pipeline runs it per video, `predict` and
`visualize` call it directly (on any backend's install). FFmpeg scales the
frames while decoding (bilinear), NumPy cuts the crops.
"""

import numpy as np

from keras_nonlocal.data import sampling
from keras_nonlocal.data.decode import probe
from keras_nonlocal.data.decode import read_frames
from keras_nonlocal.protocol import protocol


def scaled_size(height, width, short_side, minimum=1):
    """(height, width) with the short side at `short_side` (rounded), at least `minimum`."""
    scale = short_side / min(height, width)
    return max(int(round(height * scale)), minimum), max(int(round(width * scale)), minimum)


def crop_views(clips, side, num_crops, positions="even"):
    """Clips `(K, T, H, W, 3)` with `min(H, W) == side` -> views
    `(K * num_crops, T, side, side, 3)`: squares at the start, centre and end
    of the longer side (the centre for one; `positions` as
    `sampling.crop_offsets`), clip-major."""
    height, width = clips.shape[2:4]
    views = []
    for clip in clips:
        for y0, x0, y1, x1 in sampling.eval_crop_boxes(height, width, num_crops, positions):
            views.append(clip[:, y0:y1, x0:x1])
    return np.stack(views)


def read_views(path, clip, info=None):
    """Every test view of one video as `clip` (a `keras_nonlocal.Clip`) says.

    `clip.eval_clips` clips in time, the short side scaled to
    `clip.eval_short_side`, `clip.eval_crops` square crops of that side,
    placed by the clip's protocol (`clip.protocol`: evenly spaced clips and
    crops unless a publisher's).

    Args:
        path: the video file.
        clip: the clip record.
        info: its `probe()` result, if the caller has it.

    Returns:
        uint8 `(eval_clips * eval_crops, num_frames, S, S, 3)` RGB, clip-major.

    Raises:
        VideoError: the file cannot be read.
    """
    info = info or probe(path)
    rules = protocol(clip.protocol)
    indices = sampling.eval_clip_indices(info.num_frames, clip.num_frames, clip.frame_stride,
                                         clip.eval_clips, clip.short_rule, rules.clip_starts)
    side = clip.eval_short_side
    size = scaled_size(info.height, info.width, side, side)
    frames = read_frames(path, indices.reshape(-1), size=size, info=info)
    frames = frames.reshape((clip.eval_clips, clip.num_frames) + frames.shape[1:])
    return crop_views(frames, side, clip.eval_crops, rules.crop_positions)
