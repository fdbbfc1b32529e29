"""Exporting a zoo model to where models run: SavedModel, ONNX, LiteRT.

Through Keras' own `model.export`. Every artifact takes uint8 RGB clips
`(batch, T, H, W, 3)` with the model's normalisation inside and a dynamic
batch, returns what the model returns, and has the model's clip record
(frames, stride, views, normalisation, class names) written beside it as
`clip.json` (`<file>.clip.json` for a file), for the serving side's sampler.
`verify()` runs an artifact in its own runtime (TensorFlow, onnxruntime,
the LiteRT interpreter) against the Keras model.

ONNX and LiteRT fix `T, H, W` (default: the clip's frames and test short
side). For LiteRT, the export runs on a copy of the model whose non-local
blocks take the dense kernel (the memory-bounded ones loop, which LiteRT's
builtin ops cannot express) and whose 3D max-pools are pairs of 2D pools
(LiteRT has no 3D pooling): the same numbers, in builtin ops only.
"""

import json
import os

import numpy as np

from keras_nonlocal import zoo
from keras_nonlocal.extras import require_tensorflow

FORMATS = ("saved_model", "onnx", "litert")
RUNTIMES = dict(saved_model="tensorflow", onnx="onnxruntime", litert="ai-edge-litert")
_KERAS_FORMATS = dict(saved_model="tf_saved_model", onnx="onnx", litert="litert")


def clip_record_path(path, format):
    """Where the clip record goes: inside a SavedModel, beside a file."""
    return os.path.join(path, "clip.json") if format == "saved_model" else path + ".clip.json"


def _check(model, format):
    import keras

    if format not in FORMATS:
        raise ValueError(f"`format` must be one of {', '.join(FORMATS)}. Received: format={format!r}")
    policy = keras.config.dtype_policy().name
    dtypes = {getattr(layer.dtype_policy, "name", "float32") for layer in model.layers}
    if format != "saved_model" and dtypes - {"float32"}:
        raise ValueError(f"{format} export needs a float32 model (Keras exports float32 graphs "
                         f"only); this one has layers in {sorted(dtypes - {'float32'})}. Load or "
                         f"build it under the float32 policy. Received: dtype policy {policy!r}")


def export(model, path, format="saved_model", frames=None, size=None, verbose=False):
    """Writes `model` as `format` at `path`, with its clip record beside it.

    Args:
        model: a zoo model (or a model made from one, e.g. a feature model).
        path: a folder for `"saved_model"`, a file (`.onnx`, `.tflite`) else.
        format: `"saved_model"` (default), `"onnx"` or `"litert"`.
        frames, size: the clip's frames and square side for ONNX and LiteRT
            (default the clip's `num_frames` and `eval_short_side`); the
            SavedModel takes any.
        verbose: let the converters print.

    Returns:
        `path`.

    Raises:
        ValueError: an unknown format, a model not in float32 (ONNX,
            LiteRT), or a model the format cannot express (naming what).

    Example:

    ```python
    model = zoo.nl_i3d_r50(weights="kinetics400_8x8")
    export.export(model, "nl_i3d.onnx", format="onnx")
    export.verify("nl_i3d.onnx", "onnx", model)     # max |difference| from Keras
    ```
    """
    import keras

    _check(model, format)
    clip = zoo.preprocessing_spec(model)
    if format == "saved_model":
        require_tensorflow("SavedModel export")
        signature = [keras.InputSpec(shape=model.input.shape, dtype="uint8")]
    else:
        shape = (None, frames or clip.num_frames, size or clip.eval_short_side,
                 size or clip.eval_short_side, 3)
        signature = [keras.InputSpec(shape=shape, dtype="uint8")]
    exported = litert_ready(model) if format == "litert" else model
    if os.path.dirname(str(path)):
        os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    try:
        exported.export(str(path), format=_KERAS_FORMATS[format], input_signature=signature,
                        verbose=verbose)
    except ModuleNotFoundError as error:
        raise ValueError(f"{format} export needs the {error.name!r} package (pip install "
                         f"{error.name}). Received: format={format!r}") from None
    with open(clip_record_path(str(path), format), "w") as f:
        json.dump(clip.get_config(), f, indent=1)
    return path


def litert_ready(model):
    """A copy of `model` (same weights) in LiteRT's builtin ops: dense
    non-local kernels, 3D max-pools as 2D pools."""
    import keras

    from keras_nonlocal.layers import MaxPoolingAs2D
    from keras_nonlocal.layers import NonLocalBase

    def clone(layer):
        config = layer.get_config()
        if isinstance(layer, NonLocalBase):
            config["implementation"] = "dense"
            return layer.__class__.from_config(config)
        if type(layer) is keras.layers.MaxPooling3D:
            return MaxPoolingAs2D.from_config(config)
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def runner(path, format):
    """The artifact at `path` in its own runtime: `clips (uint8) -> outputs`."""
    return _open(path, format)[0]


def _open(path, format):
    """`(run, shape)`: the artifact loaded once in its runtime, and the
    `(T, H, W)` it takes (None for any size: a SavedModel)."""
    if format == "saved_model":
        tf = require_tensorflow("running a SavedModel")
        loaded = tf.saved_model.load(str(path))
        return (lambda clips: np.asarray(loaded.serve(tf.constant(clips)))), None
    if format == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        spec = session.get_inputs()[0]
        return (lambda clips: session.run(None, {spec.name: clips})[0]), \
            tuple(int(d) for d in spec.shape[1:4])
    if format == "litert":
        from ai_edge_litert.interpreter import Interpreter

        interpreter = Interpreter(model_path=str(path))
        details = interpreter.get_input_details()[0]

        def run(clips):
            interpreter.resize_tensor_input(details["index"], clips.shape)
            try:
                interpreter.allocate_tensors()
                interpreter.set_tensor(details["index"], clips)
                interpreter.invoke()
            except RuntimeError as error:
                if "Select TensorFlow op" not in str(error):
                    raise
                raise ValueError(f"{path} holds TensorFlow ops that LiteRT's builtin kernels "
                                 f"lack, so its interpreter cannot run it: {error}") from None
            return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

        return run, tuple(int(d) for d in details["shape_signature"][1:4])
    raise ValueError(f"`format` must be one of {', '.join(FORMATS)}. Received: format={format!r}")


def verify(path, format, model, clips=None, seed=0):
    """The largest |difference| between the artifact (in its runtime) and
    `model` on `clips` (default two random uint8 clips of the artifact's
    size, or of the clip's for a SavedModel).

    Returns:
        `(max_abs_difference, max_abs_output)`.
    """
    import keras

    run, shape = _open(path, format)
    if clips is None:
        clip = zoo.preprocessing_spec(model)
        shape = shape or (clip.num_frames, clip.eval_short_side, clip.eval_short_side)
        clips = np.random.default_rng(seed).integers(0, 256, (2,) + tuple(shape) + (3,),
                                                     dtype=np.uint8)
    got = np.asarray(run(clips), dtype=np.float64)
    expected = np.asarray(keras.ops.convert_to_numpy(model(clips.astype("float32"))),
                          dtype=np.float64)
    if got.shape != expected.shape:
        raise ValueError(f"{path} returns {got.shape}, the model {expected.shape}")
    return float(np.abs(got - expected).max()), float(np.abs(expected).max())
