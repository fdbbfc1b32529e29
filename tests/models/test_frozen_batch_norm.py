"""freeze_batch_norm: a zoo model's batch norms as Affine layers (the
release's frozen BN), the architecture that records it, and res3 blocks
attending within groups of frames."""

import keras
import numpy as np
import pytest

from helpers import to_numpy
from keras_nonlocal import VideoClassifier
from keras_nonlocal import zoo
from keras_nonlocal.layers import Affine
from keras_nonlocal.layers import NonLocal3D
from keras_nonlocal.models import Architecture
from keras_nonlocal.models import VideoResNetBackbone
from keras_nonlocal.models import freeze_batch_norm

CLIP = dict(num_frames=4, frame_stride=2, crop_size=32, eval_short_side=32)


def _model(rng):
    """NL-C2D R14 (two blocks) with every weight and statistic random."""
    model = zoo.nl_c2d_r14(base_width=8, classes=3, clip=CLIP, dropout=0.0)
    for weight in model.weights:
        if "moving_variance" in weight.path:
            value = rng.uniform(0.5, 2.0, weight.shape)
        else:
            value = rng.normal(0, 0.2, weight.shape)
        weight.assign(value.astype(weight.dtype))
    return model


def _batch_norms(model):
    found = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    return found + [layer.bn for layer in model.layers if isinstance(layer, NonLocal3D)
                    and isinstance(layer.bn, keras.layers.BatchNormalization)]


def test_the_frozen_model_computes_the_inference_output(rng, tmp_path):
    model = _model(rng)
    x = rng.integers(0, 256, size=(2, 4, 32, 32, 3)).astype("float32")
    frozen = freeze_batch_norm(model)
    assert isinstance(frozen, VideoClassifier) and not _batch_norms(frozen)
    blocks = [layer for layer in frozen.layers if isinstance(layer, NonLocal3D)]
    assert blocks and all(type(layer.bn) is Affine for layer in blocks)
    assert len(_batch_norms(model)) == \
        sum(isinstance(layer, Affine) for layer in frozen.layers) + len(blocks)
    assert frozen.backbone.architecture.normalization == "affine"
    expected = to_numpy(model(x, training=False))
    for training in (False, True):  # no statistics: the same function
        np.testing.assert_allclose(to_numpy(frozen(x, training=training)), expected,
                                   rtol=1e-4, atol=1e-5)
    assert not frozen.non_trainable_weights
    path = str(tmp_path / "frozen.keras")
    frozen.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.backbone.architecture == frozen.backbone.architecture
    np.testing.assert_allclose(to_numpy(loaded(x)), to_numpy(frozen(x)), rtol=1e-6, atol=1e-6)


def test_a_training_step_moves_scales_and_biases_and_nothing_else_exists(rng):
    """Every Affine's scale and bias trains; there is no statistic to
    update, so the step's loss is the inference loss."""
    frozen = freeze_batch_norm(_model(rng))
    frozen.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    x = rng.integers(0, 256, size=(2, 4, 32, 32, 3)).astype("float32")
    y = np.array([0, 2])
    before = {w.path: to_numpy(w) for w in frozen.trainable_weights}
    inference_loss = float(to_numpy(keras.ops.mean(
        keras.losses.sparse_categorical_crossentropy(y, frozen(x, training=False)))))
    loss = float(to_numpy(frozen.train_on_batch(x, y)))
    np.testing.assert_allclose(loss, inference_loss, rtol=1e-4)
    norms = [layer for layer in frozen.layers if isinstance(layer, Affine)]
    norms += [layer.bn for layer in frozen.layers if isinstance(layer, NonLocal3D)]
    assert all(isinstance(norm, Affine) for norm in norms) and len(norms) > 10
    assert {w.path for norm in norms for w in norm.weights} <= set(before)  # all trainable
    after = {w.path: to_numpy(w) for w in frozen.trainable_weights}
    unmoved = [w.path for norm in norms for w in norm.weights
               if np.array_equal(after[w.path], before[w.path])]
    assert not unmoved, unmoved
    assert not frozen.non_trainable_weights


def test_a_backbone_freezes_too_and_other_models_are_refused(rng):
    backbone = VideoResNetBackbone(Architecture(depth=14, base_width=8, num_nonlocal=1))
    frozen = freeze_batch_norm(backbone)
    assert isinstance(frozen, VideoResNetBackbone)
    assert frozen.architecture.nonlocal_kwargs["normalization"] == "affine"
    with pytest.raises(ValueError, match="Received: Sequential"):
        freeze_batch_norm(keras.Sequential([keras.layers.Dense(2)]))


def test_res3_blocks_attend_within_groups_of_frames(rng):
    """nonlocal_stage_kwargs: res3's blocks in groups of 2 frames, res4's
    global (the release's long-clip networks: groups of 4)."""
    architecture = Architecture(depth=14, base_width=8, num_nonlocal=2, inflate="3x1x1",
                                conv1_temporal_stride=1, pool1_temporal=(1, 1),
                                pool2_temporal=None,
                                nonlocal_stage_kwargs={"res3": {"frames_per_group": 2}})
    backbone = VideoResNetBackbone(architecture, input_shape=(4, 32, 32, 3))
    groups = {layer.name: layer.frames_per_group for layer in backbone.layers
              if isinstance(layer, NonLocal3D)}
    assert sorted(groups.values(), key=str) == [2, None], groups
    reloaded = VideoResNetBackbone.from_config(backbone.get_config())
    assert reloaded.architecture == architecture
    with pytest.raises(ValueError, match="Received: nonlocal_stage_kwargs"):
        Architecture(nonlocal_stage_kwargs={"res5": {}})
