"""Each publisher's test protocol (`keras_nonlocal.protocol`): clip starts and
crop positions against the publisher's own functions (PySlowFast 1.0 and
mmaction2 1.2.0 imported; the original release's C++ as a formula, from
caffe2_customized_ops/video/customized_video_io.cc), in NumPy and in
TensorFlow; views combined; mAP (the Charades devkit's).
`evaluate --protocol` and the denominators: tests/training/test_evaluate.py."""

import numpy as np
import pytest
import tensorflow as tf

from keras_nonlocal import Clip
from keras_nonlocal import protocol
from keras_nonlocal import training
from keras_nonlocal.data import augment
from keras_nonlocal.data import sampling

# video lengths: shorter than a 32x2 clip (63 frames), about one, several
LENGTHS = (5, 17, 40, 63, 64, 65, 100, 128, 251, 300, 1001)
CLIPS = ((32, 2), (8, 8), (4, 4))


def _both(total, frames, stride, clips, starts):
    """The rule in NumPy and in TensorFlow, which must agree."""
    numpy = sampling.eval_clip_indices(total, frames, stride, clips, "loop", starts)
    tensorflow = sampling.eval_clip_indices(tf.constant(total), frames, stride, clips, "loop",
                                            starts, sampling.tensorflow_ops())
    np.testing.assert_array_equal(numpy, tensorflow.numpy())
    return numpy


@pytest.mark.parametrize("frames,stride", CLIPS)
@pytest.mark.parametrize("num_clips", [1, 3, 10])
def test_pyslowfast_starts_are_its_decoder_s(frames, stride, num_clips):
    torch = pytest.importorskip("torch")
    from references import import_pyslowfast

    import_pyslowfast()
    from slowfast.datasets import decoder

    for total in LENGTHS:
        expected = []
        for j in range(num_clips):  # kinetics.py: fps == target_fps, clip_size = T x stride
            start, end = decoder.get_start_end_idx(total, frames * stride, j, num_clips)
            expected.append(decoder.temporal_sampling(torch.arange(total), start, end,
                                                      frames).numpy())
        np.testing.assert_array_equal(_both(total, frames, stride, num_clips, "pyslowfast"),
                                      np.stack(expected), err_msg=f"{total} frames")


@pytest.mark.parametrize("frames,stride", CLIPS)
@pytest.mark.parametrize("num_clips", [1, 3, 10])
def test_mmaction2_starts_are_its_sample_frames(frames, stride, num_clips):
    """mmaction2's test-mode SampleFrames (its Kinetics configs: no
    target_fps, out_of_bound_opt "loop") is our own `"even"` rule."""
    from references import import_mmaction

    import_mmaction()
    from mmaction.datasets.transforms import SampleFrames

    sample = SampleFrames(clip_len=frames, frame_interval=stride, num_clips=num_clips,
                          test_mode=True)
    for total in LENGTHS:
        expected = sample.transform({"total_frames": total, "start_index": 0})["frame_inds"]
        np.testing.assert_array_equal(_both(total, frames, stride, num_clips, "even"),
                                      expected.reshape(num_clips, frames), err_msg=f"{total}")


def _release_clip(total, frames, stride, num_clips, j):
    """customized_video_io.cc, DecodeClipFromVideoFileFlex: `frame_gaps =
    (float)num_of_frames / (float)sample_times; use_start_frm =
    ((int)(frame_gaps * start_frm)) % num_of_frames;` then frame
    `(use_start_frm + idx * sampling_rate) % sampledFrames.size()`."""
    gaps = np.float32(total) / np.float32(num_clips)
    start = int(np.float32(gaps * np.float32(j))) % total
    return [(start + k * stride) % total for k in range(frames)]


@pytest.mark.parametrize("frames,stride", CLIPS)
@pytest.mark.parametrize("num_clips", [1, 3, 10])
def test_release_starts_are_its_decoder_s(frames, stride, num_clips):
    for total in LENGTHS:
        expected = [_release_clip(total, frames, stride, num_clips, j) for j in range(num_clips)]
        np.testing.assert_array_equal(_both(total, frames, stride, num_clips, "release"),
                                      expected, err_msg=f"{total} frames")


def test_release_clips_wrap_where_ours_stay_inside():
    """300 frames, 10 clips of 32x2: the release's last clip starts at 270
    and wraps to the video's start; ours ends on the last frame."""
    release = sampling.eval_clip_indices(300, 32, 2, 10, starts="release")
    ours = sampling.eval_clip_indices(300, 32, 2, 10)
    assert release[-1, 0] == 270 and release[-1, -1] == (270 + 62) % 300
    assert ours[-1, -1] == 299 and (np.diff(ours, axis=1) == 2).all()


def _offsets(longer, side, crops, positions):
    numpy = sampling.crop_offsets(longer, side, crops, positions=positions)
    tensorflow = sampling.crop_offsets(tf.constant(longer), side, crops,
                                       sampling.tensorflow_ops(), positions)
    np.testing.assert_array_equal(numpy, tensorflow.numpy())
    return sorted(int(o) for o in numpy)


@pytest.mark.parametrize("crops", [1, 3])
def test_crop_positions_are_each_publisher_s(crops):
    torch = pytest.importorskip("torch")
    from references import import_mmaction
    from references import import_pyslowfast

    import_pyslowfast()
    import_mmaction()
    from mmaction.datasets.transforms import CenterCrop
    from mmaction.datasets.transforms import ThreeCrop
    from slowfast.datasets import transform

    side = 256
    for longer in (256, 257, 320, 341, 455):
        # a frame whose pixels are their own column: a crop's first column is its offset
        columns = np.broadcast_to(np.arange(longer), (side, longer))
        images = torch.from_numpy(np.ascontiguousarray(columns))[None, None].float()
        indices = [1] if crops == 1 else [0, 1, 2]
        pyslowfast = sorted(int(transform.uniform_crop(images, side, i)[0][0, 0, 0, 0])
                            for i in indices)
        assert _offsets(longer, side, crops, "ceil_centre") == pyslowfast, longer
        frame = np.repeat(columns[..., None], 3, axis=2).astype(np.uint8 if longer < 256
                                                               else np.int32)
        crop = (ThreeCrop(side) if crops == 3 else CenterCrop(side)).transform(
            {"imgs": [frame], "img_shape": (side, longer)})
        mmaction = sorted(int(image[0, 0, 0]) for image in crop["imgs"])
        assert _offsets(longer, side, crops, "twice_half") == mmaction, longer
        room = longer - side  # ClipTransformFlex: (width - w_crop) / 2 * now_pos
        release = [room // 2] if crops == 1 else [0, room // 2, 2 * (room // 2)]
        assert _offsets(longer, side, crops, "twice_half") == release
    assert _offsets(341, 256, 3, "even") == [0, 42, 85]  # ours: round(85 / 2) = 42, the end 85
    with pytest.raises(ValueError, match="place 1 or 3 crops"):
        sampling.crop_offsets(300, 256, 2, positions="ceil_centre")


def test_views_follow_the_clip_s_protocol(rng):
    """The TFRecord path's views (`augment.eval_views`) sit where the rule
    says: the release's end crop one pixel short of the edge when the room
    is odd."""
    clips = np.broadcast_to(np.arange(85 + 32)[None, None, None, :, None],
                            (1, 2, 32, 117, 3)).astype(np.uint8)
    views = augment.eval_views(tf.constant(clips), 32, 3, "twice_half").numpy()
    assert [int(v[0, 0, 0, 0]) for v in views] == [0, 42, 84]
    views = augment.eval_views(tf.constant(clips), 32, 3, "ceil_centre").numpy()
    assert [int(v[0, 0, 0, 0]) for v in views] == [0, 43, 85]


def test_records_and_clip_field():
    assert protocol.protocol("release").combine == "sum"
    assert protocol.protocol("release").denominator == "listed"
    assert protocol.protocol("pyslowfast").combine_for(multi_label=True) == "max"
    assert Clip().protocol == "keras_nonlocal"
    assert Clip.from_config(Clip(protocol="mmaction2").get_config()).protocol == "mmaction2"
    with pytest.raises(ValueError, match="Received: protocol='slowfast'"):
        Clip(protocol="slowfast")
    with pytest.raises(ValueError, match="Received: protocol='x'"):
        protocol.protocol("x")


def test_max_over_views_differs_from_the_mean():
    """One action in one clip of three (Charades): max keeps it, the mean
    dilutes it below a class present throughout at a middling score."""
    scores = np.array([[0.95, 0.5], [0.05, 0.5], [0.05, 0.5]])
    ids = np.zeros(3, int)
    _, mean = training.combine_views(scores, ids, how="mean")
    _, top = training.combine_views(scores, ids, how="max")
    _, total = training.combine_views(scores, ids, how="sum")
    np.testing.assert_allclose(mean, [[1.05 / 3, 0.5]])
    np.testing.assert_allclose(top, [[0.95, 0.5]])
    np.testing.assert_allclose(total, [[1.05, 1.5]])
    assert mean.argmax() == 1 and top.argmax() == 0
    with pytest.raises(ValueError, match="Received: how='median'"):
        training.combine_views(scores, ids, how="median")


def test_map_is_sklearn_s_on_untied_scores(rng):
    from sklearn.metrics import average_precision_score

    scores = rng.random((60, 12))
    targets = (rng.random((60, 12)) < 0.2).astype(int)
    targets[:, 3] = 0  # a class without positives is left out
    targets[0] = 0  # videos without labels (this one, others by chance): last (charades_map)
    fixed = scores.copy()
    fixed[targets.sum(axis=1) == 0] = -1.0
    expected = np.mean([average_precision_score(targets[:, c], fixed[:, c])
                        for c in range(12) if targets[:, c].any()])
    assert training.mean_average_precision(scores, targets) == pytest.approx(expected, abs=1e-12)


def _devkit_ap(conf, labels):
    """Charades_v1_classify.m (THUMOSeventclspr): sort descending (MATLAB's
    sort is stable), precision at each positive, summed over npos."""
    order = sorted(range(len(conf)), key=lambda i: -conf[i])
    tp = fp = 0
    ap = 0.0
    for i in order:
        if labels[i] == 1:
            tp += 1
            ap += tp / (tp + fp)
        else:
            fp += 1
    return ap / sum(labels)


def test_map_is_the_devkit_s_on_tied_scores(rng):
    from sklearn.metrics import average_precision_score

    scores = rng.integers(0, 3, (40, 6)) / 2.0  # three levels: ties everywhere
    targets = (rng.random((40, 6)) < 0.3).astype(int)
    targets[targets.sum(axis=1) == 0, 0] = 1
    expected = np.mean([_devkit_ap(list(scores[:, c]), list(targets[:, c])) for c in range(6)])
    ours = training.mean_average_precision(scores, targets)
    assert ours == pytest.approx(expected, abs=1e-12)
    pooled = np.mean([average_precision_score(targets[:, c], scores[:, c]) for c in range(6)])
    assert abs(pooled - ours) > 1e-3  # sklearn pools ties: another number
