"""The window rule (`data.windows`): known indices, and the streaming reader
against the rule on real files."""

import numpy as np
import pytest

import video_factory as vf
from keras_nonlocal import Clip
from keras_nonlocal import data

CLIP = Clip(num_frames=4, frame_stride=3, eval_short_side=32)  # span 10, hop 12


@pytest.mark.parametrize("total,hop,expected", [
    (25, None, [[0, 3, 6, 9], [12, 15, 18, 21]]),       # 24 + 9 > 24: two windows
    (10, None, [[0, 3, 6, 9]]),                         # exactly one window
    (7, None, [[0, 3, 6, 2]]),                          # short: loop rule
    (14, 2, [[0, 3, 6, 9], [2, 5, 8, 11], [4, 7, 10, 13]]),
])
def test_window_indices(total, hop, expected):
    assert data.window_indices(total, CLIP, hop).tolist() == expected
    clip = CLIP.replace(short_rule="repeat_last")
    if total == 7:
        assert data.window_indices(total, clip, hop).tolist() == [[0, 3, 6, 6]]


@pytest.mark.parametrize("name,frames,extra", [("a.mp4", 40, {}), ("b.avi", 31, dict(b_frames=2)),
                                               ("c.webm", 8, {}), ("d.mkv", 33, {})])
def test_streamed_windows_hold_the_frames_of_the_rule(tmp_path, name, frames, extra):
    path = vf.write_video(str(tmp_path / name), frames, width=48, height=40, **extra)
    for hop in (None, 5):
        windows = list(data.iter_windows(path, CLIP, hop=hop))
        expected = data.window_indices(frames, CLIP, hop)
        assert len(windows) == len(expected)
        for (window, views), indices in zip(windows, expected):
            assert views.shape == (1, 4, 32, 32, 3) and views.dtype == np.uint8
            assert vf.frame_indices(views[0]) == indices.tolist()
            assert window.first_frame == indices[0]
            assert window.last_frame == (frames - 1 if frames < 10 else indices[-1])
            assert window.start == pytest.approx(window.first_frame / 25)
            assert window.end == pytest.approx((window.last_frame + 1) / 25)


def test_bad_hop_and_missing_file(tmp_path):
    with pytest.raises(ValueError, match="Received: hop=0"):
        data.window_indices(20, CLIP, 0)
    with pytest.raises(data.VideoError):
        list(data.iter_windows(str(tmp_path / "none.mp4"), CLIP))
