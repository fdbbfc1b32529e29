"""Write small, real video files with PyAV for the tests of a video pipeline.

Every frame carries its own index in its colour, so a test can tell which
frames a pipeline sampled, even after resizing, cropping or flipping:

* frame ``i`` is a uniform colour with ``R = 8 * (i % 32) + 5``,
  ``G = 8 * (i // 32) + 5`` and ``B = 128`` (``STEP = 8``, ``LEVELS = 32``,
  ``OFFSET = 5``), so indices 0..1023 (``MAX_INDEX``) can be written;
* a 6x6 square whose position moves with ``i`` is drawn in the B channel only
  (``B = 255`` there), so the clip has motion without disturbing mean R/G;
* :func:`frame_index` reads the index back: ``floor(mean R / 8) +
  32 * floor(mean G / 8)``; it tolerates a per-channel error of -5..+2.99.

Why a step of 8 and not 4 (``R = 4 * (i % 64)``, ``round(mean R / 4)``):
PyAV's default conversion of a 4:2:0 frame to rgb24
(``frame.to_ndarray(format="rgb24")``, i.e. swscale without ``ACCURATE_RND``)
is off by -3..+1 on a uniform colour even when the YUV planes are exact
(PyAV 18.1.0 / FFmpeg 8.1.2, x86-64): with a step of 4, 1407 of the 4096
indices came back wrong before any codec was involved.  Errors measured
through every codec and decode path below (default, ``ACCURATE_RND``,
swscale resize to 37x23, AREA resize, crop + flip) stay within -3.04..+1.93;
the colour sits one above the middle of its bin because swscale rounds down.

The frames are built directly in the encoder's pixel format with the exact
BT.601 equations (limited range for ``yuv*``, full range for ``yuvj*``) and
chroma averaged over 2x2 / 2x1 blocks, instead of going through swscale's
rgb24->yuv420p fast path, which adds its own error of up to -3.

Codecs, containers and pixel formats used (all encoders probed present in the
PyAV 18.1.0 wheel: libx264, libx265, libvpx-vp9, libvpx, libsvtav1, mpeg4,
mjpeg, ffv1, aac, pcm_s16le; libx264 includes 10-bit and gray):

=================  ==========  ===========  ===========  =====================
kind               extension   container    codec        pix_fmt
=================  ==========  ===========  ===========  =====================
write_video        .mp4        mp4          libx264      yuv420p (crf 10, g 12)
write_video        .webm       webm         libvpx-vp9   yuv420p (crf 10, g 12)
write_video        .avi        avi          mpeg4        yuv420p (q 2, g 12)
write_video        .mkv        matroska     libx264      yuv420p (crf 10, g 12)
write_video        .mov        mov          libx264      yuv420p (crf 10, g 12)
odd size 97x61     .mp4        mp4          libx264      yuv444p
gray               .mkv        matroska     ffv1         gray
10-bit             .mp4        mp4          libx264      yuv420p10le
audio only         .wav        wav          pcm_s16le    (s16 mono 16 kHz)
audio only         .m4a        ipod (m4a)   aac          (fltp mono 16 kHz)
=================  ==========  ===========  ===========  =====================

Fallbacks (when an encoder is missing from another PyAV build): mp4/mkv/mov
use mpeg4 without libx264, webm uses libvpx (VP8) without libvpx-vp9, odd
size and 10-bit fall back to ffv1 in .mkv.

Key frames are exactly every ``GOP`` (12) frames (0, 12, 24, ...; x264's
scene-cut key frames are switched off, as every frame here changes colour),
so a pipeline that seeks has something to land on.  libx264 keeps its default
B-frames (preset veryfast), as in real H.264 files.

What PyAV 18.1.0 does with the broken files (48-frame sources, default
arguments; ``tests/data/test_video_factory.py`` pins this down):

* ``write_zero_length``, ``write_not_a_video`` (any extension):
  ``av.open`` raises ``av.error.InvalidDataError``.
* ``write_truncated`` (first 40%): .mp4/.mov (index at the end) and .avi:
  ``av.open`` raises ``InvalidDataError``; .mp4 written with
  ``movflags="faststart"`` opens, then decoding raises ``InvalidDataError``
  from ``avcodec_send_packet()``; .webm/.mkv open and decode fewer frames
  (18 / 10 of 48, in order) without any error.
* ``write_corrupt_bytes`` (bytes 40%..60% random): .mp4/.mov open, the frames
  before the damage decode right (18 of 48), then decoding raises
  ``InvalidDataError``; .webm/.avi/.mkv decode without any error but give
  wrong frames (31 / 32 / 11 of 48, with garbage and skipped indices).
* ``write_audio_only``: opens, ``container.streams.video`` is empty and
  ``container.decode(video=0)`` raises ``IndexError`` when iterated.

Seeking: ``container.seek(pts, stream=video, backward=True,
any_frame=False)`` with the pts of frame ``t`` lands on the key frame at or
before ``t`` (``t // GOP * GOP``) in every container here, and decoding on
from there gives consecutive frames.

Only numpy and av are needed.
"""

import fractions
import os
import shutil

import av
import numpy as np

STEP = 8
LEVELS = 256 // STEP  # 32 values per channel
MAX_INDEX = LEVELS * LEVELS - 1  # 1023
# Colour of a level inside its bin of STEP values: one above the middle, as
# swscale's non-accurate paths round down (errors seen: -3.04 .. +1.93).
OFFSET = 5
GOP = 12
SQUARE = 6

_CONTAINERS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".avi": "avi",
}

_ENCODERS = None


def available_encoders():
    """Names of the video/audio encoders this PyAV build can open (cached)."""
    global _ENCODERS
    if _ENCODERS is None:
        names = set()
        for name in av.codec.codecs_available:
            try:
                av.Codec(name, "w")
            except Exception:
                continue
            names.add(name)
        _ENCODERS = frozenset(names)
    return _ENCODERS


def has_encoder(name):
    return name in available_encoders()


def _first_encoder(*names):
    for name in names:
        if has_encoder(name):
            return name
    raise RuntimeError(f"none of the encoders {names} is in this PyAV build")


def default_codec(ext):
    """(codec, pix_fmt) used by :func:`write_video` for a file extension."""
    ext = ext.lower()
    if ext in (".mp4", ".m4v", ".mov", ".mkv"):
        return _first_encoder("libx264", "mpeg4"), "yuv420p"
    if ext == ".webm":
        return _first_encoder("libvpx-vp9", "libvpx"), "yuv420p"
    if ext == ".avi":
        return _first_encoder("mpeg4", "mjpeg"), "yuv420p"
    raise ValueError(f"no default codec for extension {ext!r}")


# --------------------------------------------------------------------------
# Frame content.


def index_color(i):
    """(R, G, B) of frame ``i``."""
    if not 0 <= i <= MAX_INDEX:
        raise ValueError(f"frame index {i} outside 0..{MAX_INDEX}")
    return (STEP * (i % LEVELS) + OFFSET, STEP * (i // LEVELS) + OFFSET, 128)


def square_position(i, width, height, size=SQUARE):
    """Top-left (x, y) of the moving square in frame ``i`` (even coordinates)."""
    nx = max(1, (width - size) // 2 + 1)
    ny = max(1, (height - size) // 2 + 1)
    return 2 * ((3 * i) % nx), 2 * ((2 * i + i // nx) % ny)


def make_rgb_frame(i, width=64, height=48):
    """The RGB uint8 (H, W, 3) content of frame ``i``."""
    r, g, b = index_color(i)
    frame = np.empty((height, width, 3), np.uint8)
    frame[..., 0], frame[..., 1], frame[..., 2] = r, g, b
    if width >= SQUARE and height >= SQUARE:
        x, y = square_position(i, width, height)
        frame[y : y + SQUARE, x : x + SQUARE, 2] = 255
    return frame


def frame_index(frame):
    """Index of a decoded RGB uint8 frame (H, W, 3), also after resize/crop/flip."""
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[-1] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB frame, got shape {frame.shape}")
    mean = frame.reshape(-1, 3).astype(np.float64).mean(axis=0)
    r = int(np.clip(np.floor(mean[0] / STEP), 0, LEVELS - 1))
    g = int(np.clip(np.floor(mean[1] / STEP), 0, LEVELS - 1))
    return r + LEVELS * g


def frame_indices(clip):
    """Indices of the frames of a (T, H, W, 3) RGB clip."""
    return [frame_index(frame) for frame in np.asarray(clip)]


# --------------------------------------------------------------------------
# Building frames in the encoder's pixel format.

# (chroma subsampling (x, y) or None for gray, bit depth, full range)
_YUV_FORMATS = {
    "yuv420p": ((2, 2), 8, False),
    "yuv422p": ((2, 1), 8, False),
    "yuv444p": ((1, 1), 8, False),
    "yuvj420p": ((2, 2), 8, True),
    "yuvj422p": ((2, 1), 8, True),
    "yuvj444p": ((1, 1), 8, True),
    "yuv420p10le": ((2, 2), 10, False),
    "yuv422p10le": ((2, 1), 10, False),
    "yuv444p10le": ((1, 1), 10, False),
    "gray": (None, 8, True),
    "gray10le": (None, 10, True),
}


def _rgb_to_yuv(rgb, full_range):
    """BT.601 RGB (float, 0..255) -> Y, U, V (float, 8-bit scale)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    u = (b - y) / 1.772
    v = (r - y) / 1.402
    if full_range:
        return y, u + 128.0, v + 128.0
    return 16.0 + y * (219.0 / 255.0), 128.0 + u * (224.0 / 255.0), 128.0 + v * (224.0 / 255.0)


def _subsample(plane, sx, sy):
    """Average over sx*sy blocks; odd edges keep their partial blocks."""
    h, w = plane.shape
    ph, pw = -h % sy, -w % sx
    if ph or pw:
        plane = np.pad(plane, ((0, ph), (0, pw)), mode="edge")
    h2, w2 = plane.shape
    return plane.reshape(h2 // sy, sy, w2 // sx, sx).mean(axis=(1, 3))


def _fill_plane(plane, values, dtype):
    itemsize = np.dtype(dtype).itemsize
    buf = np.zeros((plane.height, plane.line_size // itemsize), dtype)
    buf[:, : values.shape[1]] = values
    plane.update(buf.tobytes())


def make_video_frame(rgb, pix_fmt):
    """An av.VideoFrame in ``pix_fmt`` holding the RGB uint8 array ``rgb``."""
    height, width = rgb.shape[:2]
    if pix_fmt not in _YUV_FORMATS:
        return av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format=pix_fmt)
    sub, depth, full = _YUV_FORMATS[pix_fmt]
    y, u, v = _rgb_to_yuv(rgb.astype(np.float64), full)
    if sub is None:  # gray: full-range luma, as swscale reads "gray"
        planes = [0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]]
    else:
        planes = [y, _subsample(u, *sub), _subsample(v, *sub)]
    scale = 1 << (depth - 8)
    dtype = np.uint8 if depth == 8 else np.uint16
    top = (1 << depth) - 1
    frame = av.VideoFrame(width, height, pix_fmt)
    for plane, values in zip(frame.planes, planes):
        values = np.clip(np.rint(values * scale), 0, top).astype(dtype)
        _fill_plane(plane, values, dtype)
    return frame


# --------------------------------------------------------------------------
# Writers.


def _container_for(path, container):
    if container is not None:
        return container
    ext = os.path.splitext(str(path))[1].lower()
    if ext not in _CONTAINERS:
        raise ValueError(f"no default container for extension {ext!r}")
    return _CONTAINERS[ext]


def _configure(stream, codec, crf):
    """Quality and GOP settings per encoder; returns options for the encoder."""
    cc = stream.codec_context
    cc.gop_size = GOP
    if codec in ("libx264", "libx265"):
        # No scene-cut key frames: every frame here is a "scene cut" in colour.
        params = "x264-params" if codec == "libx264" else "x265-params"
        # One encoder thread, and still x264 is not reproducible at crf > 0 (the
        # same frames gave files decoding up to 11 levels apart, run to run):
        # tests whose result depends on the pixels ask for crf=0 (lossless).
        return {"crf": str(crf), "preset": "veryfast", "threads": "1",
                params: "scenecut=0:log-level=error" if codec == "libx265" else "scenecut=0"}
    if codec == "libvpx-vp9":
        return {"crf": str(crf), "b": "0", "deadline": "realtime", "cpu-used": "8", "keyint_min": str(GOP)}
    if codec == "libvpx":  # VP8 needs a bit rate and a low quantizer range
        return {"b": "2M", "qmin": "0", "qmax": "8", "deadline": "good", "cpu-used": "8", "keyint_min": str(GOP)}
    if codec in ("mpeg4", "mjpeg", "mpeg2video", "mpeg1video"):
        cc.qscale = True
        cc.global_quality = 2
        return {}
    return {}


def write_video(
    path,
    num_frames,
    width=64,
    height=48,
    fps=25,
    codec=None,
    pix_fmt=None,
    container=None,
    crf=10,
    start_index=0,
    movflags=None,
    b_frames=None,
    draw=None,
):
    """Write a video whose frame ``i`` shows index ``start_index + i``; returns path.

    ``draw(i, width, height)``: the RGB frame ``i`` instead (e.g.
    :func:`gradient_frame`).

    ``codec``/``pix_fmt``/``container`` default from the extension (see the
    module docstring).  ``movflags="faststart"`` puts the mp4 index (moov) at
    the front, so a truncated copy still opens.  ``b_frames``: the encoder's
    maximum number of consecutive B-frames (FFmpeg's ``-bf``; ``None`` keeps
    the encoder's default: 3 for libx264 veryfast, 0 for mpeg4).
    """
    path = str(path)
    ext = os.path.splitext(path)[1].lower()
    fmt = _container_for(path, container)
    if codec is None:
        codec, default_pix_fmt = default_codec(ext if ext in _CONTAINERS else ".mkv")
        pix_fmt = pix_fmt or default_pix_fmt
    if pix_fmt is None:
        pix_fmt = "yuv420p"
    options = {"movflags": movflags} if movflags else {}
    with av.open(path, mode="w", format=fmt, options=options) as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width = width
        stream.height = height
        stream.pix_fmt = pix_fmt
        stream.options = _configure(stream, codec, crf)
        if b_frames is not None:
            stream.codec_context.max_b_frames = b_frames
        draw = draw or make_rgb_frame
        for i in range(num_frames):
            frame = make_video_frame(draw(start_index + i, width, height), pix_fmt)
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def gradient_frame(i, width=64, height=48):
    """A smooth frame to locate crops by: R rises left to right (16..240),
    G top to bottom (16..240), B = 128; the same for every ``i``."""
    x = np.linspace(16, 240, width)[None, :].repeat(height, 0)
    y = np.linspace(16, 240, height)[:, None].repeat(width, 1)
    return np.round(np.stack([x, y, np.full_like(x, 128)], -1)).astype(np.uint8)


def _with_fallback(path, fallback_ext, **kwargs):
    path = str(path)
    codec = kwargs.get("codec")
    if codec is not None and not has_encoder(codec):
        root = os.path.splitext(path)[0]
        path = root + fallback_ext
        kwargs.update(codec="ffv1", container="matroska")
    return write_video(path, **kwargs)


def write_odd_size_video(path, width=97, height=61, num_frames=16):
    """Odd-sized video (libx264 yuv444p; ffv1 .mkv fallback)."""
    return _with_fallback(
        path, ".mkv", num_frames=num_frames, width=width, height=height, codec="libx264", pix_fmt="yuv444p"
    )


def write_gray_video(path, num_frames=16, width=64, height=48):
    """Grayscale source: ffv1 ``gray`` in matroska (use a .mkv path)."""
    return write_video(
        path, num_frames, width=width, height=height, codec="ffv1", pix_fmt="gray", container="matroska"
    )


def write_10bit_video(path, num_frames=16, width=64, height=48):
    """10-bit source: libx264 ``yuv420p10le`` in mp4 (ffv1 .mkv fallback)."""
    return _with_fallback(
        path, ".mkv", num_frames=num_frames, width=width, height=height, codec="libx264", pix_fmt="yuv420p10le"
    )


def write_audio_only(path, seconds=0.5, sample_rate=16000):
    """A file with one audio stream and no video: .wav (pcm_s16le) or .m4a (aac)."""
    path = str(path)
    ext = os.path.splitext(path)[1].lower()
    if ext == ".wav":
        fmt, codec, sample_fmt = "wav", "pcm_s16le", "s16"
    elif ext in (".m4a", ".mp4"):
        fmt, codec, sample_fmt = ("ipod" if ext == ".m4a" else "mp4"), "aac", "fltp"
    elif ext in (".mka", ".mkv"):
        fmt, codec, sample_fmt = "matroska", "pcm_s16le", "s16"
    else:
        raise ValueError(f"no audio container for extension {ext!r}")
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    wave = 0.3 * np.sin(2 * np.pi * 440.0 * t)
    with av.open(path, mode="w", format=fmt) as out:
        stream = out.add_stream(codec, rate=sample_rate, layout="mono")
        chunk = stream.codec_context.frame_size or 1024
        for start in range(0, n, chunk):
            piece = wave[start : start + chunk]
            if sample_fmt == "s16":
                data = (piece * 32767).astype(np.int16)[None, :]
            else:
                data = piece.astype(np.float32)[None, :]
            frame = av.AudioFrame.from_ndarray(data, format=sample_fmt, layout="mono")
            frame.sample_rate = sample_rate
            frame.pts = start
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def write_corrupt_bytes(path, source, seed=0, start=0.4, length=0.2):
    """Copy ``source`` with bytes [start, start+length) (fractions of its size)
    overwritten by random bytes; header and index stay intact."""
    data = bytearray(open(source, "rb").read())
    a = int(len(data) * start)
    b = int(len(data) * (start + length))
    data[a:b] = np.random.default_rng(seed).integers(0, 256, b - a, dtype=np.uint8).tobytes()
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def write_truncated(path, source, fraction=0.4):
    """The first ``fraction`` of ``source``'s bytes."""
    data = open(source, "rb").read()
    with open(path, "wb") as f:
        f.write(data[: int(len(data) * fraction)])
    return str(path)


def write_zero_length(path):
    open(path, "wb").close()
    return str(path)


def write_not_a_video(path):
    """A text file (give it a video extension, e.g. .mp4)."""
    with open(path, "w") as f:
        f.write("this is not a video, just some text\n" * 20)
    return str(path)


def write_still_image(path, codec="png"):
    """One picture (frame 0) encoded as a PNG (``codec="png"``) or JPEG
    (``"mjpeg"``) file; give it a video extension to make a still image that
    only its content tells from a video."""
    pix_fmt = "rgb24" if codec == "png" else "yuvj420p"
    context = av.CodecContext.create(codec, "w")
    context.width, context.height, context.pix_fmt = 64, 48, pix_fmt
    context.time_base = fractions.Fraction(1, 25)
    packets = context.encode(make_video_frame(make_rgb_frame(0), pix_fmt)) + context.encode(None)
    with open(path, "wb") as f:
        f.write(b"".join(bytes(packet) for packet in packets))
    return str(path)


def decoded_indices(path):
    """Decode every frame of ``path`` with PyAV (rgb24) and read its index."""
    with av.open(str(path)) as container:
        return [frame_index(f.to_ndarray(format="rgb24")) for f in container.decode(video=0)]


def copy_video(path, source):
    shutil.copyfile(source, path)
    return str(path)
