"""A model's clip slid over a whole video: the windows of features and timelines.

The window rule (one place; `keras-nonlocal features` and `predict
--timeline` read it): window `k` holds the frames `k * hop + i * stride`,
`i < num_frames`, with the clip's frames and stride; the default hop is
`num_frames * stride` (windows back to back). Windows go on while their last
frame exists. A video shorter than one window gives one window, its frames
chosen by the clip's short-video rule (`Clip.short_rule`), spanning the
whole video.

Each window is a test view: the short side scaled to the clip's test short
side, then `crops` square crops of that side (1: the centre one). Decoding
streams (`decode.iter_frames`): the memory a video takes is one window's
span of frames, whatever its length.
"""

import collections

import numpy as np

from keras_nonlocal.data import sampling
from keras_nonlocal.data.decode import VideoError
from keras_nonlocal.data.decode import iter_frames
from keras_nonlocal.data.decode import probe
from keras_nonlocal.data.views import crop_views
from keras_nonlocal.data.views import scaled_size

Window = collections.namedtuple("Window", ["first_frame", "last_frame", "start", "end"])
Window.__doc__ = """One window: the first and last frame it samples, and
`start = first_frame / fps`, `end = (last_frame + 1) / fps` in seconds."""


def default_hop(clip):
    """Windows back to back: `num_frames * frame_stride` frames."""
    return clip.num_frames * clip.frame_stride


def check_hop(hop):
    if hop is not None and (isinstance(hop, bool) or not isinstance(hop, int) or hop < 1):
        raise ValueError(f"`hop` must be a positive number of frames. Received: hop={hop!r}")
    return hop


def window_indices(total, clip, hop=None):
    """Frame indices `(windows, num_frames)` of a video of `total` frames
    (the rule of this module, when the length is known)."""
    hop = check_hop(hop) or default_hop(clip)
    span = sampling.clip_span(clip.num_frames, clip.frame_stride)
    if total < span:
        return sampling.clip_indices([0], total, clip.num_frames, clip.frame_stride,
                                     clip.short_rule)
    starts = np.arange(0, total - span + 1, hop)
    return sampling.clip_indices(starts, total, clip.num_frames, clip.frame_stride)


def iter_windows(path, clip, hop=None, crops=1, short_side=None):
    """Every window of a video file, decoded as it streams.

    Args:
        path: the video file.
        clip: the `keras_nonlocal.Clip` (frames, stride, test short side,
            short-video rule).
        hop: frames from one window's first frame to the next's (default
            `num_frames * frame_stride`).
        crops: 1 (centre) or 3 square crops per window.
        short_side: the test short side (default the clip's
            `eval_short_side`); the crops are its squares.

    Yields:
        `(Window, views)`: views uint8 `(crops, num_frames, S, S, 3)`.

    Raises:
        VideoError: the file cannot be read (windows already yielded stay
            valid; the caller decides whether a part is worth keeping).
    """
    hop = check_hop(hop) or default_hop(clip)
    frames, stride = clip.num_frames, clip.frame_stride
    span = sampling.clip_span(frames, stride)
    side = short_side or clip.eval_short_side
    info = probe(path)
    size = scaled_size(info.height, info.width, side, side)
    buffer = {}
    emitted = 0

    def wanted(index):
        if index < span:  # a video shorter than a window needs every frame of it
            return True
        first_window = max(0, -(-(index - span + 1) // hop))
        return any((index - w * hop) % stride == 0 for w in range(first_window, index // hop + 1))

    count = 0
    for index, frame in iter_frames(path, size=size, wanted=wanted, info=info):
        count = index + 1
        if frame is not None:
            buffer[index] = frame
        while emitted * hop + span - 1 <= index:
            first = emitted * hop
            clip_frames = np.stack([_nearest(buffer, first + i * stride) for i in range(frames)])
            yield _window(first, first + span - 1, info.fps), _views(clip_frames, side, crops)
            emitted += 1
            for old in [i for i in buffer if i < emitted * hop]:
                del buffer[old]
    if emitted == 0:
        if not buffer:
            raise VideoError(f"{path}: no frame decoded")
        indices = sampling.clip_indices([0], count, frames, stride, clip.short_rule)[0]
        clip_frames = np.stack([_nearest(buffer, i) for i in indices.tolist()])
        yield _window(0, count - 1, info.fps), _views(clip_frames, side, crops)


def frames_windows(frames, fps, clip, hop=None, crops=1, short_side=None, ratio=1.0):
    """Every window of a video held in memory (a TFRecord's frames, already
    at the test short side), as `iter_windows` gives them for a file.

    Args:
        frames: uint8 `(N, H, W, 3)`.
        fps: their frame rate.
        ratio: frames per frame at the clip's rate (`tfrecord.rate_plan`):
            the windows are laid on the clip's timeline, each frame taken
            at its time.

    Yields:
        `(Window, views)`, the window's frames in the clip's rate.
    """
    side = short_side or clip.eval_short_side
    total = len(frames)
    virtual = max(int(np.floor(total / ratio)), 1) if ratio != 1.0 else total
    span = sampling.clip_span(clip.num_frames, clip.frame_stride)
    rate = fps / ratio
    for indices in window_indices(virtual, clip, hop):
        first = int(indices[0])
        last = min(first + span, virtual) - 1
        shard = np.minimum(np.floor(indices * ratio).astype(int), total - 1)
        yield _window(first, last, rate), _views(frames[shard], side, crops)


def _nearest(buffer, index):
    """The frame at `index`, else the one before it (a timestamp gap), else the first."""
    if index in buffer:
        return buffer[index]
    before = [i for i in buffer if i <= index]
    return buffer[max(before)] if before else buffer[min(buffer)]


def _window(first, last, fps):
    return Window(first, last, first / fps, (last + 1) / fps)


def _views(clip_frames, side, crops):
    if crops not in (1, 3):
        raise ValueError(f"`crops` must be 1 or 3. Received: crops={crops!r}")
    return crop_views(clip_frames[None], side, crops)
