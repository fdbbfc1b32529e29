"""The video factory writes real files that PyAV reads back frame for frame."""


import av
import numpy as np
import pytest

import video_factory as vf


def decode(path, **to_ndarray):
    """(stream codec, stream pix_fmt, [rgb24 frames]) of the first video stream."""
    with av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        frames = [f.to_ndarray(format="rgb24", **to_ndarray) for f in container.decode(video=0)]
        return ctx.name, ctx.pix_fmt, frames


def outcome(path):
    """What PyAV does with a file: (error on open, indices decoded, error while decoding)."""
    try:
        container = av.open(str(path))
    except Exception as e:  # noqa: BLE001 - the type is what is tested
        return type(e), None, None
    indices, error = [], None
    with container:
        try:
            for frame in container.decode(video=0):
                indices.append(vf.frame_index(frame.to_ndarray(format="rgb24")))
        except Exception as e:  # noqa: BLE001
            error = type(e)
    return None, indices, error


# ----------------------------------------------------------------------------
# Index colours.


def test_index_colours_round_trip_without_a_codec():
    for i in range(vf.MAX_INDEX + 1):
        assert vf.frame_index(vf.make_rgb_frame(i, 16, 12)) == i
    with pytest.raises(ValueError):
        vf.index_color(vf.MAX_INDEX + 1)


def test_square_moves_in_blue_only():
    a, b = vf.make_rgb_frame(5), vf.make_rgb_frame(6)
    assert (a[..., :2] == a[0, 0, :2]).all() and (b[..., :2] == b[0, 0, :2]).all()
    assert (a[..., 2] == 255).sum() == vf.SQUARE**2 == (b[..., 2] == 255).sum()
    assert not np.array_equal(a[..., 2] == 255, b[..., 2] == 255)


def test_frame_index_tolerates_resize_crop_flip_and_small_errors():
    frame = vf.make_rgb_frame(777)
    assert vf.frame_index(frame[::-1, ::-1]) == 777
    assert vf.frame_index(frame[10:30, 5:40]) == 777
    assert vf.frame_index(frame[::2, ::3]) == 777
    for err in (-5, -3, 0, 2):
        assert vf.frame_index(np.clip(frame.astype(int) + err, 0, 255).astype(np.uint8)) == 777
    clip = np.stack([vf.make_rgb_frame(i) for i in (3, 40, 1023)])
    assert vf.frame_indices(clip) == [3, 40, 1023]


# ----------------------------------------------------------------------------
# Real files.

CONTAINERS = {
    ".mp4": ("h264", "yuv420p"),
    ".webm": ("vp9", "yuv420p"),
    ".avi": ("mpeg4", "yuv420p"),
    ".mkv": ("h264", "yuv420p"),
    ".mov": ("h264", "yuv420p"),
}


def test_the_encoders_used_are_in_this_build():
    for name in ("libx264", "libvpx-vp9", "libvpx", "mpeg4", "mjpeg", "png", "ffv1", "aac",
                 "pcm_s16le"):
        assert vf.has_encoder(name), name


@pytest.mark.parametrize("ext", sorted(CONTAINERS))
def test_every_frame_decodes_to_its_index(tmp_path, ext):
    path = vf.write_video(tmp_path / f"v{ext}", 100)
    codec, pix_fmt, frames = decode(path)
    assert (codec, pix_fmt) == CONTAINERS[ext]
    assert len(frames) == 100
    assert frames[0].shape == (48, 64, 3)
    assert vf.frame_indices(frames) == list(range(100))


@pytest.mark.parametrize("ext", [".mp4", ".webm"])
def test_index_survives_scaling_while_decoding(tmp_path, ext):
    path = vf.write_video(tmp_path / f"v{ext}", 40)
    _, _, frames = decode(path, width=37, height=23)
    assert frames[0].shape == (23, 37, 3)
    assert vf.frame_indices(frames) == list(range(40))


def test_size_fps_and_start_index(tmp_path):
    path = vf.write_video(tmp_path / "v.mp4", 10, width=32, height=24, fps=30, start_index=500)
    with av.open(path) as container:
        assert container.streams.video[0].average_rate == 30
    _, _, frames = decode(path)
    assert frames[0].shape == (24, 32, 3)
    assert vf.frame_indices(frames) == list(range(500, 510))


@pytest.mark.parametrize(
    "name, kwargs",
    [
        ("vp8.webm", dict(codec="libvpx")),
        ("mjpeg.avi", dict(codec="mjpeg", pix_fmt="yuvj420p")),
        ("mpeg4.mp4", dict(codec="mpeg4")),
        ("ffv1.mkv", dict(codec="ffv1")),
    ],
)
def test_other_codecs(tmp_path, name, kwargs):
    _, _, frames = decode(vf.write_video(tmp_path / name, 30, **kwargs))
    assert vf.frame_indices(frames) == list(range(30))


def test_odd_size_decodes(tmp_path):
    path = vf.write_odd_size_video(tmp_path / "odd.mp4")
    codec, pix_fmt, frames = decode(path)
    assert (codec, pix_fmt) == ("h264", "yuv444p")
    assert {f.shape for f in frames} == {(61, 97, 3)}
    assert vf.frame_indices(frames) == list(range(16))


def test_gray_source_decodes_to_rgb(tmp_path):
    path = vf.write_gray_video(tmp_path / "gray.mkv")
    codec, pix_fmt, frames = decode(path)
    assert (codec, pix_fmt) == ("ffv1", "gray")
    assert len(frames) == 16 and frames[0].shape == (48, 64, 3)
    assert all((f[..., 0] == f[..., 1]).all() and (f[..., 1] == f[..., 2]).all() for f in frames)


def test_10bit_source(tmp_path):
    path = vf.write_10bit_video(tmp_path / "ten.mp4")
    with av.open(path) as container:
        first = next(container.decode(video=0))
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p10le"
        assert first.format.name == "yuv420p10le"
        assert first.format.components[0].bits == 10
    codec, _, frames = decode(path)
    assert codec == "h264" and frames[0].dtype == np.uint8
    assert vf.frame_indices(frames) == list(range(16))


@pytest.mark.parametrize("name, codec", [("a.wav", "pcm_s16le"), ("a.m4a", "aac"), ("a.mkv", "pcm_s16le")])
def test_audio_only_has_no_video_stream(tmp_path, name, codec):
    path = vf.write_audio_only(tmp_path / name)
    with av.open(path) as container:
        assert len(container.streams.video) == 0
        assert [s.codec_context.name for s in container.streams.audio] == [codec]
        with pytest.raises(IndexError):
            next(container.decode(video=0))


# ----------------------------------------------------------------------------
# Broken files: what PyAV 18.1 does with each.


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("sources")
    return {
        name: vf.write_video(root / name, 48, **kwargs)
        for name, kwargs in [
            ("s.mp4", {}),
            ("fast.mp4", dict(movflags="faststart")),
            ("s.webm", {}),
            ("s.avi", {}),
            ("s.mkv", {}),
        ]
    }


@pytest.mark.parametrize("ext", [".mp4", ".webm", ".avi", ".mkv"])
def test_zero_length_and_text_fail_to_open(tmp_path, ext):
    for write in (vf.write_zero_length, vf.write_not_a_video):
        path = write(tmp_path / f"x{ext}")
        with pytest.raises(av.error.InvalidDataError):
            av.open(path)


def test_truncated_mp4_without_faststart_fails_to_open(tmp_path, sources):
    # the index (moov) is at the end, so 40% of the file has none
    path = vf.write_truncated(tmp_path / "t.mp4", sources["s.mp4"])
    assert outcome(path)[0] is av.error.InvalidDataError


def test_truncated_faststart_mp4_opens_then_fails_to_decode(tmp_path, sources):
    path = vf.write_truncated(tmp_path / "t.mp4", sources["fast.mp4"])
    open_error, indices, error = outcome(path)
    assert open_error is None and error is av.error.InvalidDataError
    assert len(indices) < 48


def test_truncated_avi_fails_to_open(tmp_path, sources):
    path = vf.write_truncated(tmp_path / "t.avi", sources["s.avi"])
    assert outcome(path)[0] is av.error.InvalidDataError


@pytest.mark.parametrize("name", ["s.webm", "s.mkv"])
def test_truncated_matroska_decodes_fewer_frames_silently(tmp_path, sources, name):
    path = vf.write_truncated(tmp_path / f"t_{name}", sources[name])
    open_error, indices, error = outcome(path)
    assert open_error is None and error is None
    assert 0 < len(indices) < 48
    assert indices[0] == 0 and indices == sorted(indices)


@pytest.mark.parametrize("name", ["s.mp4", "fast.mp4"])
def test_corrupt_mp4_raises_while_decoding(tmp_path, sources, name):
    # the frames before the damaged bytes come out right, then
    # avcodec_send_packet fails (with faststart the index takes the first
    # ~25% of this small file: one frame at most comes out)
    path = vf.write_corrupt_bytes(tmp_path / f"c_{name}", sources[name])
    open_error, indices, error = outcome(path)
    assert open_error is None
    assert error is av.error.InvalidDataError
    assert len(indices) < 48 and indices == list(range(len(indices)))
    if name == "s.mp4":
        assert len(indices) > 0


@pytest.mark.parametrize("name", ["s.webm", "s.avi", "s.mkv"])
def test_corrupt_other_containers_decode_wrong_frames_silently(tmp_path, sources, name):
    path = vf.write_corrupt_bytes(tmp_path / f"c_{name}", sources[name])
    open_error, indices, error = outcome(path)
    assert open_error is None and error is None
    assert 0 < len(indices) < 48 and indices != list(range(len(indices)))


# ----------------------------------------------------------------------------
# Seeking.


@pytest.mark.parametrize("ext", sorted(CONTAINERS))
def test_seek_lands_on_the_previous_key_frame(tmp_path, ext):
    path = vf.write_video(tmp_path / f"v{ext}", 100)
    for target, key in [(30, 24), (36, 36), (11, 0), (99, 96)]:
        with av.open(path) as container:
            stream = container.streams.video[0]
            pts = round(target / (stream.average_rate * stream.time_base))
            container.seek(pts, stream=stream, backward=True, any_frame=False)
            indices = []
            for frame in container.decode(stream):
                indices.append(vf.frame_index(frame.to_ndarray(format="rgb24")))
                if indices[-1] >= target:
                    break
        assert indices[0] <= target
        assert indices == list(range(indices[0], target + 1))
        assert indices[0] == key == target // vf.GOP * vf.GOP
