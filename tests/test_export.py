"""`keras-nonlocal export --format` and `keras_nonlocal.export`: each
artifact run in its own runtime (TensorFlow, onnxruntime, the LiteRT
interpreter) against Keras."""

import json
import os

import keras
import numpy as np
import pytest

from helpers import MODES
from helpers import randomize_weights
from helpers import run_cli
from keras_nonlocal import Clip
from keras_nonlocal import NonLocal3D
from keras_nonlocal import export
from keras_nonlocal import zoo
from keras_nonlocal.layers import VideoPreprocessing

pytest.importorskip("onnxruntime")
pytest.importorskip("ai_edge_litert")
FILES = dict(saved_model="saved", onnx="model.onnx", litert="model.tflite")
# float32 runtimes order their sums differently (oneDNN, XNNPACK, onnxruntime),
# so an artifact is held to Keras relative to the output's size: 2e-5 of
# max |output| (measured: 0.4-2e-6 of it over 8 initialisations with logits up
# to 85; a wrong op differs by the output's order). An absolute 1e-4 failed in
# CI on an unseeded initialisation whose logits were large.
RELATIVE = 2e-5


def assert_matches(difference, scale):
    assert scale > 0.1 and difference < RELATIVE * max(1.0, scale), (difference, scale)


@pytest.fixture(scope="module")
def logits_model():
    """NL-C2D with 5 non-trivial embedded-Gaussian blocks, returning logits
    (seeded: the same weights every run)."""
    keras.utils.set_random_seed(0)
    model = zoo.nl_c2d_r14(classes=6, base_width=8, classifier_activation=None,
                           clip=dict(num_frames=4, eval_short_side=32))
    rng = np.random.default_rng(11)
    for layer in model.layers:
        if isinstance(layer, NonLocal3D):
            layer.bn.gamma.assign(rng.normal(0, 1, layer.bn.gamma.shape).astype("float32"))
    return model


@pytest.mark.parametrize("format", ["saved_model", "onnx", "litert"])
def test_a_zoo_model_in_each_runtime(logits_model, tmp_path, rng, format):
    path = str(tmp_path / FILES[format])
    export.export(logits_model, path, format=format)
    clips = rng.integers(0, 256, (3, 4, 32, 32, 3), dtype=np.uint8)  # batch 3: dynamic
    got = export.runner(path, format)(clips)
    expected = keras.ops.convert_to_numpy(logits_model(clips.astype("float32")))
    assert np.ptp(expected) > 0.1
    assert_matches(float(np.abs(got - expected).max()), float(np.abs(expected).max()))
    record = json.load(open(export.clip_record_path(path, format)))
    assert Clip.from_config(record) == zoo.preprocessing_spec(logits_model)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("format", ["onnx", "litert"])
def test_every_pairwise_mode_exports(tmp_path, rng, mode, format):
    """A NonLocal3D (subsampled, random weights) behind the uint8 input."""
    inputs = keras.Input((4, 6, 6, 3))
    x = VideoPreprocessing(Clip(num_frames=4, eval_short_side=6))(inputs)
    x = keras.layers.Conv3D(16, 1)(x)
    layer = NonLocal3D(mode=mode, pool_size=(1, 2, 2))
    model = keras.Model(inputs, layer(x))
    randomize_weights(layer, rng)
    path = str(tmp_path / FILES[format])
    export.export(model, path, format=format)
    assert_matches(*export.verify(path, format, model))


def test_the_cli_exports_and_checks(logits_model, tmp_path):
    checkpoint = str(tmp_path / "m.keras")
    logits_model.save(checkpoint)
    out = str(tmp_path / "m.onnx")
    done = run_cli("export", checkpoint, out, "--format", "onnx", "--frames", "8", check=True)
    assert "checked in onnxruntime" in done.stdout
    difference = float(done.stdout.split("max |difference| ")[1].split()[0])
    scale = float(done.stdout.split("(outputs up to ")[1].split(")")[0])
    assert_matches(difference, scale)
    import onnxruntime

    assert onnxruntime.InferenceSession(out).get_inputs()[0].shape[1:] == [8, 32, 32, 3]


def test_what_cannot_be_exported_is_named(tmp_path):
    with pytest.raises(ValueError, match="`format` must be one of"):
        export.export(zoo.c2d_r50(classes=2, base_width=8), str(tmp_path / "x"), format="tflite")
    keras.config.set_dtype_policy("mixed_float16")
    try:
        half = zoo.nl_c2d_r50(classes=2, base_width=8)
    finally:
        keras.config.set_dtype_policy("float32")
    with pytest.raises(ValueError, match="needs a float32 model.*float16"):
        export.export(half, str(tmp_path / "h.onnx"), format="onnx")
    assert not os.path.exists(tmp_path / "h.onnx")


def test_an_artifact_needing_tensorflow_ops_is_refused_by_name(tmp_path, rng):
    """Keras' own LiteRT export of a raw MaxPooling3D (what `export` replaces
    with 2D pools) needs TensorFlow's Flex delegate: `runner` says so, naming
    the op, instead of the interpreter's traceback."""
    inputs = keras.Input((4, 8, 8, 3))
    model = keras.Model(inputs, keras.layers.MaxPooling3D((2, 2, 2))(inputs))
    path = str(tmp_path / "raw.tflite")
    model.export(path, format="litert", verbose=False)
    with pytest.raises(ValueError, match="TensorFlow ops that LiteRT's builtin kernels lack.*"
                                         "MaxPool3D"):
        export.runner(path, "litert")(rng.normal(size=(1, 4, 8, 8, 3)).astype("float32"))


@pytest.mark.parametrize("format", ["onnx", "litert"])
def test_the_window_head_exports(tmp_path, format):
    """Tested at a size larger than training (res5 2 x 2, the window 1 x 1):
    the windows' running sums (CumSum) run in onnxruntime and in LiteRT's
    builtin kernels."""
    keras.utils.set_random_seed(0)
    model = zoo.nl_c2d_r50(classes=4, base_width=8, sampling="8x8", classifier_activation=None,
                           clip=dict(num_frames=4, crop_size=32, eval_short_side=64))
    assert model.get_layer("avg_pool").window == (2, 1, 1)
    path = str(tmp_path / FILES[format])
    export.export(model, path, format=format)
    assert_matches(*export.verify(path, format, model))
