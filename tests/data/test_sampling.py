"""Frame indices and crop positions (pure functions)."""

import numpy as np
import pytest
import tensorflow as tf

from helpers import bilinear
from keras_nonlocal.data import augment
from keras_nonlocal.data import sampling


def test_train_clip_is_the_drawn_start_then_every_second_frame(rng):
    """The start is the generator's uniform draw in [0, total - 63]."""
    for _ in range(50):
        total = int(rng.integers(63, 300))
        state = rng.bit_generator.state
        idx = sampling.train_clip_indices(total, 32, 2, rng)
        rng.bit_generator.state = state
        start = int(rng.integers(0, total - 63 + 1))
        np.testing.assert_array_equal(idx, start + 2 * np.arange(32))
        assert idx[-1] < total


def test_train_clip_start_covers_every_position(rng):
    starts = {int(sampling.train_clip_indices(70, 4, 2, rng)[0]) for _ in range(500)}
    assert starts == set(range(70 - 7 + 1))


@pytest.mark.parametrize("rule,expected", [
    ("loop", [0, 2, 4, 1, 3, 0]),
    ("repeat_last", [0, 2, 4, 4, 4, 4]),
])
def test_short_video_rules(rng, rule, expected):
    np.testing.assert_array_equal(sampling.train_clip_indices(5, 6, 2, rng, rule), expected)
    with pytest.raises(ValueError, match="Received: short_rule='drop'"):
        sampling.train_clip_indices(5, 6, 2, rng, "drop")


def test_eval_clips_evenly_cover_the_video():
    idx = sampling.eval_clip_indices(300, 32, 2, num_clips=10)
    assert idx.shape == (10, 32)
    assert idx[0, 0] == 0 and idx[-1, -1] == 299
    starts = idx[:, 0]
    assert np.all(np.abs(np.diff(starts) - (300 - 63) / 9) <= 1)
    single = sampling.eval_clip_indices(300, 32, 2, num_clips=1)
    assert single[0, 0] == (300 - 63) // 2


def test_eval_crop_boxes_along_the_longer_side():
    boxes = sampling.eval_crop_boxes(240, 320, 3)
    np.testing.assert_array_equal(boxes, [[0, 0, 240, 240], [0, 40, 240, 280], [0, 80, 240, 320]])
    np.testing.assert_array_equal(sampling.eval_crop_boxes(320, 240, 1), [[40, 0, 280, 240]])


def _column_clip(height, width, frames=2):
    """Pixel value = column index (for width <= 256), to locate crops."""
    cols = np.broadcast_to(np.arange(width, dtype=np.uint8)[None, None, :, None],
                           (frames, height, width, 3))
    return np.ascontiguousarray(cols)


def test_eval_views_crop_start_centre_end():
    clip = _column_clip(100, 200)  # short side 100 -> scaled to 100: no resampling
    views = augment.eval_views(tf.constant(clip[None]), short_side=100, num_crops=3).numpy()
    assert views.shape == (3, 2, 100, 100, 3)
    assert [int(v[0, 0, 0, 0]) for v in views] == [0, 50, 100]
    assert [int(v[0, 0, -1, 0]) for v in views] == [99, 149, 199]


def test_train_augment_shapes_ranges_and_seed(rng):
    clip = tf.constant(rng.integers(0, 256, size=(4, 60, 80, 3)).astype("uint8"))
    seed = tf.constant([3, 7], tf.int64)
    a = augment.train_augment(clip, seed, crop_size=48, short_side_range=(48, 64)).numpy()
    b = augment.train_augment(clip, seed, crop_size=48, short_side_range=(48, 64)).numpy()
    assert a.shape == (4, 48, 48, 3) and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    seeds = [tf.constant([s, 1], tf.int64) for s in range(20)]
    outputs = {augment.train_augment(clip, s, 48, (48, 64)).numpy().tobytes() for s in seeds}
    windows = set()
    for s in seeds:
        box, flip = augment.train_window(s, 60, 80, 48, (48, 64))
        windows.add((tuple(box.numpy().tolist()), bool(flip)))
    assert len(outputs) == len(windows) > 10  # one clip per window the seeds draw


def test_train_augment_flips_half_the_time():
    clip = tf.constant(_column_clip(64, 64))
    flipped = 0
    for s in range(200):
        out = augment.train_augment(clip, tf.constant([s, 0], tf.int64), 64, (64, 64)).numpy()
        flipped += int(out[0, 0, 0, 0] > out[0, 0, -1, 0])
    assert 70 < flipped < 130


def windows_of_the_paper(height, width, crop, short_range):
    """Every exact training window (section 4.1): short side s in the range,
    the frame scaled by s / min(h, w) (sides rounded, at least `crop`), a
    `crop` square at any whole-pixel offset; as source-pixel edges
    (top, bottom) and (left, right), floats."""
    rows, cols = set(), set()
    for short in range(short_range[0], short_range[1] + 1):
        scale = max(short, crop) / min(height, width)
        for size, edges in ((height, rows), (width, cols)):
            scaled = max(round(size * scale), crop)
            for start in range(scaled - crop + 1):
                edges.add((start * size / scaled, (start + crop) * size / scaled))
    return np.array(sorted(rows)), np.array(sorted(cols))


def _near(edges, first, last):
    """Some exact window has both edges within half a pixel of these."""
    return bool(np.any((np.abs(edges[:, 0] - first) <= 0.5 + 1e-4)
                       & (np.abs(edges[:, 1] - last) <= 0.5 + 1e-4)))


@pytest.mark.parametrize("height,width", [(48, 64), (61, 97), (97, 61), (256, 340), (20, 30),
                                          (3, 2)])
def test_train_window_is_a_window_of_the_paper_to_half_a_pixel(height, width):
    crop, short_range = 32, (40, 56)
    rows, cols = windows_of_the_paper(height, width, crop, short_range)
    boxes, flips = [], 0
    for s in range(150):
        box, flip = augment.train_window(tf.constant([s, 4], tf.int64), height, width, crop,
                                         short_range)
        top, left, box_h, box_w = box.numpy().tolist()
        assert 0 <= top and top + box_h <= height and 0 <= left and left + box_w <= width
        assert _near(rows, top, top + box_h), (s, box)
        assert _near(cols, left, left + box_w), (s, box)
        boxes.append((top, left, box_h))
        flips += bool(flip)
    tops, lefts, sides = zip(*boxes)
    assert 40 < flips < 110
    if min(height, width) >= 20:  # room to move: the draws spread over positions and scales
        assert len(set(tops)) > 5 and len(set(lefts)) > 5 and len(set(sides)) > 3
        # the check itself can fail: a box one pixel low is not a window
        assert not all(_near(rows, t + 1, t + 1 + h) for t, _, h in boxes)


def test_train_augment_is_the_window_scaled_and_flipped(rng):
    clip = rng.integers(0, 256, size=(3, 61, 97, 3)).astype("uint8")
    for s in range(20):
        seed = tf.constant([s, 1], tf.int64)
        out = augment.train_augment(tf.constant(clip), seed, 48, (48, 70)).numpy()
        box, flip = augment.train_window(seed, 61, 97, 48, (48, 70))
        top, left, h, w = box.numpy().tolist()
        ref = bilinear(clip[:, top:top + h, left:left + w], 48, 48)
        if bool(flip):
            ref = ref[:, :, ::-1]
        np.testing.assert_allclose(out, np.clip(np.round(ref), 0, 255), atol=1.0)
