"""The test-time head each layout builds (`test_head`, from the publisher's
record), its override, a `.keras` round trip, and the training size, where
every head is the same function. Parity at 224 and 256 against the
publishers' code: tests/weights/test_parity.py."""

import keras
import numpy as np
import pytest

from keras_nonlocal import zoo
from keras_nonlocal.layers import WindowAveragePooling3D

HEADS = {"paper": "window_scores", "release": "window_scores", "pyslowfast": "window_scores",
         "pytorchvideo": "window_logits", "mmaction2": "global"}


def _head(model):
    windows = isinstance(model.get_layer("avg_pool"), WindowAveragePooling3D)
    if not windows:
        return "global"
    return "window_logits" if "scores" in [l.name for l in model.layers] else "window_scores"


@pytest.mark.parametrize("layout", sorted(HEADS))
def test_each_layout_builds_its_publisher_s_head(layout):
    model = zoo.c2d_r50(classes=3, base_width=8, sampling="8x8", publisher=layout)
    assert _head(model) == HEADS[layout]
    assert zoo.preprocessing_spec(model).protocol == zoo.PUBLISHERS[layout].protocol


def test_the_argument_overrides_and_saving_keeps_it(tmp_path, rng):
    model = zoo.c2d_r50(classes=3, base_width=8, sampling="8x8", publisher="mmaction2",
                        test_head="window_logits")
    assert _head(model) == "window_logits"
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    clip = rng.integers(0, 256, (1, 4, 48, 48, 3)).astype("float32")
    np.testing.assert_allclose(loaded(clip), model(clip), atol=1e-6)
    with pytest.raises(ValueError, match="Received: test_head='windows'"):
        zoo.c2d_r50(classes=3, base_width=8, test_head="windows")


def test_at_the_training_size_every_head_is_the_same(rng):
    """A training clip's res5 map is one window: the three heads agree
    (softmax scores) on the same weights, and differ on a larger crop."""
    keras.utils.set_random_seed(1)
    clip = dict(num_frames=4, crop_size=64)
    models = {h: zoo.c2d_r50(classes=5, base_width=8, sampling="8x8", clip=clip, test_head=h)
              for h in ("global", "window_scores", "window_logits")}
    small = rng.integers(0, 256, (2, 4, 64, 64, 3)).astype("float32")
    large = rng.integers(0, 256, (2, 4, 96, 96, 3)).astype("float32")
    # a classifier whose scores are far from 0 and 1
    scale = np.std(np.asarray(zoo.feature_model(models["global"])(large)))
    dense = models["global"].get_layer("predictions")
    dense.kernel.assign(rng.normal(0, 1, dense.kernel.shape) / (4 * scale))
    weights = models["global"].get_weights()
    for model in models.values():
        model.set_weights(weights)
    out = {h: np.asarray(m(small)) for h, m in models.items()}
    np.testing.assert_allclose(out["window_scores"], out["global"], atol=1e-6)
    np.testing.assert_allclose(out["window_logits"], out["global"], atol=1e-6)
    big = {h: np.asarray(m(large)) for h, m in models.items()}
    assert np.abs(big["window_scores"] - big["global"]).max() > 1e-3
    assert np.abs(big["window_scores"] - big["window_logits"]).max() > 1e-3


def test_the_readme_reproduce_table_is_the_records():
    """README's per-preset table (head, protocol, command) says what the
    preset records: a changed record fails here until the README follows."""
    import os

    from keras_nonlocal.zoo import publishers

    readme = open(os.path.join(os.path.dirname(__file__), "..", "..", "README.md")).read()
    for row in zoo.list_weights():
        preset = zoo.PRESETS[row["model"]][row["preset"]]
        publisher = publishers.publisher(preset.builder_args["publisher"])
        name = f"{row['model']}:{row['preset']}"
        expected = (f"| `{name}` | {publisher.name} | {publisher.test_head} | "
                    f"{preset.clip.protocol} |")
        assert expected in readme, expected
        assert f"`keras-nonlocal evaluate {name} k400_val.csv`" in readme
