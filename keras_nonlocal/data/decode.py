"""Decoding frames from video files with PyAV (FFmpeg).

tensorflow-io's video ops do not load under TensorFlow 2.21, so video files
are decoded with PyAV inside `tf.data` (see `pipeline.py`). Only the frames a
clip needs are decoded: the reader seeks to the keyframe before the first
one and stops after the last one.
"""

import collections
import contextlib
import functools
import os

import av
import numpy as np


class VideoError(Exception):
    """A video that cannot be read; the pipelines skip it and count it."""


@contextlib.contextmanager
def decoder_errors(path):
    """What the decoder raises inside (FFmpeg's errors, a missing or
    unreadable file, a header that asks for too much memory) as a
    `VideoError` naming `path`."""
    try:
        yield
    except VideoError:
        raise
    except (av.error.FFmpegError, OSError, ValueError, MemoryError) as error:
        raise VideoError(f"{path}: {type(error).__name__}: {error}") from error


def _video_stream(container, path):
    """The container's video stream (a VideoError for an image or no video)."""
    _check_not_an_image(container, path)
    if not container.streams.video:
        raise VideoError(f"{path}: no video stream")
    stream = container.streams.video[0]
    # No FFmpeg threads: tf.data runs decoders in parallel, and PyAV releases
    # the GIL while decoding (measured, 2 cores: 11.7 clips/s from 2 Python
    # threads without FFmpeg threading, 10.4 with it).
    stream.thread_type = "NONE"
    return stream


def _fps(stream):
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if not rate:
        raise VideoError("unknown frame rate")
    return float(rate)


VideoInfo = collections.namedtuple("VideoInfo",
                                   ["num_frames", "fps", "height", "width", "first_pts"])
VideoInfo.__doc__ = """What `probe` finds: frames, frame rate, size, and the
timestamp of the first frame shown (frame 0; None when frames carry none)."""

# Demuxers FFmpeg uses for single pictures: a still image under a video name
# opens as a "video" of one frame.
IMAGE_FORMATS = ("image2", "image2pipe")


def _check_not_an_image(container, path):
    name = container.format.name
    if name in IMAGE_FORMATS or name.endswith("_pipe"):
        raise VideoError(f"{path}: not a video: a still image ({name})")


def _first_frame(container, stream):
    """The first frame the decoder presents (None when it presents none); its
    timestamp numbers the frames.

    Frames are numbered from it, not from `stream.start_time`: in an AVI of
    MPEG-4 Part 2 with B-frames (FFmpeg's usual `-bf 2`) the first frame
    shown has pts 1 while the stream starts at 0, so numbering from the
    start time reads every frame one index late.
    """
    for frame in container.decode(stream):
        return frame
    return None


def probe(path):
    """Number of frames, frame rate and size of a video file (a `VideoInfo`).

    Uses the container's frame count when it has one, else its duration; a
    file whose count cannot be known is decoded once to count. Remembered per
    file (path, size and modification time): a training pipeline probes the
    same file once per clip.

    Raises:
        VideoError: the file is missing, empty, not a video, or has no
            video stream.
    """
    try:
        stat = os.stat(path)
    except OSError as error:
        raise VideoError(f"{path}: {type(error).__name__}: {error}") from error
    return _probe(str(path), stat.st_mtime_ns, stat.st_size)


@functools.lru_cache(maxsize=1 << 16)
def _probe(path, mtime_ns, size):
    with decoder_errors(path):
        with av.open(path) as container:
            stream = _video_stream(container, path)
            fps = _fps(stream)
            height, width = stream.codec_context.height, stream.codec_context.width
            count = stream.frames
            if not count and stream.duration and stream.time_base:
                count = int(round(float(stream.duration * stream.time_base) * fps))
            if not count and container.duration:
                count = int(round(container.duration / av.time_base * fps))
            first = _first_frame(container, stream)
            first_pts = None if first is None else first.pts
            if first is not None:  # the frames' size, whatever the header says
                height, width = first.height, first.width
            if not count:
                container.seek(0, stream=stream)
                count = sum(1 for _ in container.decode(stream))
    if count <= 0:
        raise VideoError(f"{path}: no frames")
    if not height or not width:
        raise VideoError(f"{path}: unknown frame size {width}x{height}")
    return VideoInfo(count, fps, height, width, first_pts)


def _crop_graph(frame, box, size):
    """An FFmpeg filter graph: `box` (top, left, height, width) of `frame`'s
    size, scaled to `size` (bilinear), to RGB."""
    top, left, height, width = (int(v) for v in box)
    if not (0 <= top and 0 <= left and 0 < height and 0 < width
            and top + height <= frame.height and left + width <= frame.width):
        raise VideoError(f"crop box {(top, left, height, width)} outside the "
                         f"{frame.height}x{frame.width} frame")
    out_height, out_width = (height, width) if size is None else (int(size[0]), int(size[1]))
    graph = av.filter.Graph()
    graph.threads = 1  # tf.data runs the decoders in parallel (see _video_stream)
    nodes = [
        graph.add_buffer(width=frame.width, height=frame.height, format=frame.format.name,
                         time_base=frame.time_base),
        graph.add("crop", f"w={width}:h={height}:x={left}:y={top}:exact=1"),
        graph.add("scale", f"w={out_width}:h={out_height}:flags=bilinear"),
        graph.add("format", "pix_fmts=rgb24"),
        graph.add("buffersink"),
    ]
    for source, sink in zip(nodes, nodes[1:]):
        source.link_to(sink)
    graph.configure()
    return graph


def _numbered(container, stream, start_pts, frames_per_tick):
    """(frame index, frame) of the frames decoded from where the container
    stands: the index from the timestamp (counted from `start_pts`), else
    one more than the last."""
    position = None
    for frame in container.decode(stream):
        if frame.pts is not None:
            position = int(round((frame.pts - start_pts) * frames_per_tick))
        elif position is None:
            position = 0
        else:
            position += 1
        yield position, frame


def _start_pts(container, stream, info):
    if info is not None and info.first_pts is not None:
        return info.first_pts
    first = _first_frame(container, stream) if info is None else None
    if first is not None:
        return first.pts
    return stream.start_time or 0


def _to_rgb(frame, size):
    if size is None:
        return frame.to_ndarray(format="rgb24")
    return frame.to_ndarray(format="rgb24", height=int(size[0]), width=int(size[1]),
                            interpolation="BILINEAR")


def iter_frames(path, size=None, wanted=None, info=None):
    """Decodes a video from its first frame to its last, one frame at a time.

    Memory stays that of one frame whatever the video's length: this is
    the reader of `data.iter_windows` (features over whole videos).

    Args:
        path: the video file.
        size: optional `(height, width)`, as in `read_frames` (the same
            scaling: a frame read here equals the frame `read_frames` reads).
        wanted: optional `wanted(index) -> bool`: frames it refuses are
            decoded (they must be) but not converted, and yielded as None.
        info: the file's `probe()` result, if the caller has it.

    Yields:
        `(index, frame)`: frame uint8 `(H, W, 3)` RGB (or None), in order.

    Raises:
        VideoError: the file cannot be opened or decoded.
    """
    with decoder_errors(path):
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            start_pts = _start_pts(container, stream, info)
            container.seek(start_pts, stream=stream, backward=True, any_frame=False)
            last = -1
            for position, frame in _numbered(container, stream, start_pts,
                                             float(stream.time_base) * _fps(stream)):
                if position <= last:  # a repeated timestamp: the frame is shown once
                    continue
                last = position
                keep = wanted is None or wanted(position)
                yield position, _to_rgb(frame, size) if keep else None


def read_frames(path, indices, size=None, info=None, box=None):
    """Decodes the frames at `indices` (any order, repeats allowed).

    Frame `i` is the `i`-th frame the container presents (in display order,
    counted from the first one shown).

    Args:
        path: the video file.
        indices: frame indices.
        size: optional `(height, width)`: frames are scaled to it by FFmpeg's
            swscale (bilinear) while being converted to RGB.
        info: the file's `probe()` result, if the caller has it (saves
            finding the first frame's timestamp again).
        box: optional `(top, left, height, width)`: only this region of
            each frame is converted (and scaled to `size`), in an FFmpeg
            filter graph; a training crop costs a fraction of the frame.
            In pixels of the decoded frames (`probe`'s size).

    Returns:
        uint8 array `(len(indices), H, W, 3)`, RGB. Grayscale, 10-bit and
        other pixel formats are converted to 8-bit RGB.

    Raises:
        VideoError: the file cannot be opened or decoded, or holds fewer
            frames than the largest index needs (for a container that
            over-reports its length, the missing ones are taken from the
            last decoded frame as long as at least half were found).
    """
    indices = np.asarray(indices, dtype=np.int64)
    wanted = sorted(set(indices.tolist()))
    found = {}
    last = None
    with decoder_errors(path):
        with av.open(str(path)) as container:
            stream = _video_stream(container, path)
            fps = _fps(stream)
            base = float(stream.time_base)
            start_pts = _start_pts(container, stream, info)
            target = start_pts + int(wanted[0] / fps / base)  # the keyframe before the first
            container.seek(target, stream=stream, backward=True, any_frame=False)
            graph = None
            for position, frame in _numbered(container, stream, start_pts, base * fps):
                if position in wanted and position not in found:
                    if box is not None:
                        if graph is None:
                            graph = _crop_graph(frame, box, size)
                            first = (frame.width, frame.height, frame.format.name)
                        elif (frame.width, frame.height, frame.format.name) != first:
                            raise VideoError(
                                f"{path}: frame size changes within the clip "
                                f"({first[0]}x{first[1]} {first[2]}, then {frame.width}x"
                                f"{frame.height} {frame.format.name})")
                        graph.push(frame)
                        found[position] = graph.pull().to_ndarray()
                    else:
                        found[position] = _to_rgb(frame, size)
                last = position
                if position >= wanted[-1]:
                    break
    if not found:
        raise VideoError(f"{path}: no frame decoded at {wanted[:3]}... (last frame {last})")
    if len(found) < len(wanted):
        if len(found) < len(wanted) / 2:
            raise VideoError(
                f"{path}: decoded {len(found)} of the {len(wanted)} frames needed "
                f"(last frame {last}, needed up to {wanted[-1]})"
            )
        available = sorted(found)
        for index in wanted:
            if index not in found:
                before = [a for a in available if a <= index] or available[:1]
                found[index] = found[before[-1]]
    shapes = {f.shape for f in found.values()}
    if len(shapes) != 1:
        raise VideoError(f"{path}: frame size changes within the clip {sorted(shapes)}")
    return np.stack([found[i] for i in indices.tolist()])
