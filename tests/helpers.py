"""Test helpers shared by the test modules (backend-agnostic): references,
gradients, the command line in a subprocess, the tiny training recipe."""

import json
import os
import re
import signal
import subprocess
import sys
import time

import keras
import numpy as np


def to_numpy(x):
    return keras.ops.convert_to_numpy(x)


def bilinear(frames, height, width):
    """NumPy reference: bilinear resize with half-pixel centres, edges clamped."""
    frames = np.asarray(frames, np.float64)

    def axis(n_out, n_in):
        at = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        low = np.floor(at).astype(int)
        return low, np.minimum(low + 1, n_in - 1), at - low

    y0, y1, fy = axis(height, frames.shape[1])
    x0, x1, fx = axis(width, frames.shape[2])
    rows = frames[:, y0] * (1 - fy)[None, :, None, None] + frames[:, y1] * fy[None, :, None, None]
    return rows[:, :, x0] * (1 - fx)[None, None, :, None] + rows[:, :, x1] * fx[None, None, :, None]


def randomize_weights(layer, rng, scale=0.3):
    """Gives every weight of `layer` a fresh random, non-trivial value."""
    for w in layer.weights:
        if "moving_variance" in w.path:
            value = rng.uniform(0.5, 2.0, w.shape)
        else:
            value = rng.normal(0.0, scale, w.shape)
        w.assign(value.astype(w.dtype))


def reference_weights(layer):
    """The layer's weights as the NumPy reference names them."""
    w = {}
    for name in ("theta", "phi", "g", "out"):
        sub = getattr(layer, name, None)
        if sub is not None:
            w[name + "_w"] = to_numpy(sub.kernel)
            w[name + "_b"] = (
                to_numpy(sub.bias) if sub.use_bias else np.zeros(sub.units)
            )
    if getattr(layer, "concat_project", None) is not None:
        w["concat_w"] = to_numpy(layer.concat_project.kernel)[:, 0]
    if layer.normalization == "affine":
        w["scale"] = to_numpy(layer.bn.scale)
        w["bias"] = to_numpy(layer.bn.bias)
    if layer.normalization == "batch_norm":
        w["gamma"] = to_numpy(layer.bn.gamma)
        w["beta"] = to_numpy(layer.bn.beta)
        w["mean"] = to_numpy(layer.bn.moving_mean)
        w["var"] = to_numpy(layer.bn.moving_variance)
    return w


def gradients(fn, arrays):
    """Gradients of the scalar `fn(*tensors)` w.r.t. each array, any backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        variables = [tf.Variable(a) for a in arrays]
        with tf.GradientTape() as tape:
            loss = fn(*variables)
        return [g.numpy() for g in tape.gradient(loss, variables)]
    if backend == "jax":
        import jax

        grads = jax.grad(fn, argnums=tuple(range(len(arrays))))(*arrays)
        return [np.asarray(g) for g in grads]
    if backend == "torch":
        import torch

        tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
        fn(*tensors).backward()
        return [t.grad.numpy() for t in tensors]
    raise NotImplementedError(backend)


def layer_gradients(layer, x, upstream, **call_kwargs):
    """d sum(layer(x) * upstream) / d(x, trainable weights), via stateless_call."""
    trainable = [to_numpy(v) for v in layer.trainable_variables]
    non_trainable = [to_numpy(v) for v in layer.non_trainable_variables]
    upstream = keras.ops.convert_to_tensor(upstream)

    def loss(x, *weights):
        out, _ = layer.stateless_call(list(weights), non_trainable, x, **call_kwargs)
        return keras.ops.sum(out * upstream)

    return gradients(loss, [x] + trainable)


def import_pytorchvideo_hub():
    """pytorchvideo's model hub, with torchvision's one import shimmed.

    pytorchvideo.models imports `torchvision.ops.RoIAlign` for its detection
    head only; no CPU build of torchvision exists beside torch 2.13.0 here,
    so that single name is replaced by a stub class. Nothing of it runs in
    the classification models used by the tests and benchmarks.
    """
    import sys
    import types

    if "torchvision" not in sys.modules:
        torchvision = types.ModuleType("torchvision")
        tv_ops = types.ModuleType("torchvision.ops")
        tv_ops.RoIAlign = type("RoIAlign", (), {})
        torchvision.ops = tv_ops
        sys.modules["torchvision"] = torchvision
        sys.modules["torchvision.ops"] = tv_ops
    from pytorchvideo.models.hub import resnet

    return resnet


# The four pairwise functions of the paper, as the layers name them.
MODES = ("gaussian", "embedded_gaussian", "dot_product", "concatenation")


def backend_env(backend="tensorflow", **extra):
    """This process's environment with `KERAS_BACKEND` and `extra` set; an
    `XLA_FLAGS` of `extra` is added to this process's (conftest.py's)."""
    env = dict(os.environ, KERAS_BACKEND=backend)
    env.update({k: str(v) for k, v in extra.items()})
    if "XLA_FLAGS" in extra and os.environ.get("XLA_FLAGS"):
        env["XLA_FLAGS"] = f"{os.environ['XLA_FLAGS']} {extra['XLA_FLAGS']}"
    return env


# One process for many `keras-nonlocal` lines (each process start costs
# seconds of imports): `main` is what the installed script runs, argv the
# line's words; markers on both streams cut out each line's output.
CLI_DRIVER = """
import json, shlex, sys, traceback
from keras_nonlocal.cli import main
for line in json.loads(sys.argv[1]):
    for stream in (sys.stdout, sys.stderr):
        print(f">>> {line}", file=stream, flush=True)
    try:
        code = main(shlex.split(line, comments=True)[1:])
    except SystemExit as exit:
        code = exit.code
    except Exception:
        traceback.print_exc()
        code = "an exception"
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
        print(f"<<< exit {code}", file=stream, flush=True)
"""


def run_cli_lines(lines, python=sys.executable, env=None, cwd=None, timeout=900):
    """Runs the `keras-nonlocal ...` `lines` in one `python` process.
    Returns `(done, results)`: the `CompletedProcess` and, per line run,
    `(line, exit code as text, its stdout, its stderr)`."""
    done = subprocess.run([python, "-c", CLI_DRIVER, json.dumps(list(lines))], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=timeout)
    pattern = r"^>>> (.*)\n((?:.*\n)*?)<<< exit (.*)$"
    outs = re.findall(pattern, done.stdout, flags=re.M)
    errs = {line: text for line, text, _ in re.findall(pattern, done.stderr, flags=re.M)}
    return done, [(line, code, text, errs.get(line, "")) for line, text, code in outs]


def run_cli(*args, backend="tensorflow", env=None, check=False, timeout=900):
    """`keras-nonlocal *args`; with `check`, its exit code must be 0 (the
    output is shown otherwise). Returns a `subprocess.CompletedProcess`.

    On this process's backend with its environment (`env` None) the command
    runs here (`cli_in_process`): a process start with TensorFlow's import is
    3-5 s, paid ~40 times by the suite. A test about the process itself (its
    environment, its C++ log lines, kill -9, another backend) passes `env`
    and gets `python -m keras_nonlocal.cli` in a subprocess."""
    if env is None and backend == keras.backend.backend():
        done = cli_in_process(*args)
    else:
        done = subprocess.run([sys.executable, "-m", "keras_nonlocal.cli", *args],
                              env=env or backend_env(backend), capture_output=True, text=True,
                              timeout=timeout)
    if check:
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    return done


def cli_in_process(*args):
    """`keras_nonlocal.cli.main(args)` in this process, its stdout and stderr
    captured, its exit code as a subprocess would give it (argparse's
    SystemExit; 1 and the traceback on stderr for an uncaught exception)."""
    import contextlib
    import io
    import traceback

    from keras_nonlocal import cli

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(args))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 2)
        except Exception:  # noqa: BLE001 - as the interpreter reports it
            traceback.print_exc()
            code = 1
    return subprocess.CompletedProcess(["keras-nonlocal", *args], code or 0, out.getvalue(),
                                       err.getvalue())


def tiny_overrides(videos, output_dir, **extra):
    """An NL-C2D ResNet-14 (one block per stage) at width 8 on 4 x 32 x 32 clips: seconds per run."""
    settings = dict(
        model="nl_c2d_r14", weights="", base_width=8, dropout=0.0, train_data=videos,
        num_frames=4, frame_stride=2, crop_size=32, short_side_min=32, short_side_max=36,
        batch_size=4, steps=8, checkpoint_every=2, lr_at_batch_64=0.8, lr_schedule="step",
        output_dir=output_dir, seed=3, strategy="default", deterministic=True,
    )
    settings.update(extra)
    return [f"{k}={v}" for k, v in settings.items() if v is not None]  # None: the recipe's


# A clip unlike every zoo default (32x2 / 8x8, crop 224, test 256, 10 x 3 views).
CLIP = dict(num_frames=4, frame_stride=4, crop_size=64, short_side_min=64, short_side_max=72,
            eval_short_side=64, eval_clips=2, eval_crops=1)


def train_killed_at(args, env, output_dir, step, timeout):
    """Runs `keras-nonlocal train *args` and kill -9s its whole process group
    as soon as the checkpoint of `step` exists in `output_dir` (or after
    `timeout` s); returns the steps of the checkpoints left behind."""
    from keras_nonlocal import training

    proc = subprocess.Popen([sys.executable, "-m", "keras_nonlocal.cli", "train", *args],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    target = os.path.join(output_dir, "checkpoints", f"ckpt-{step:08d}.keras")
    deadline = time.time() + timeout
    while time.time() < deadline and not os.path.exists(target) and proc.poll() is None:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    return [s for s, _ in training.checkpoints(os.path.join(output_dir, "checkpoints"))]


def prefill_keras_cache(monkeypatch, folder, model, filename):
    """The Keras cache `folder` holding `model`'s weights as keras.applications'
    ImageNet file `filename`, whose expected hash becomes this file's
    SHA-256, for both download paths: the package's
    (`weights.imagenet.imagenet_weights_file`, KERAS_HOME read at call time)
    and Keras' own `weights="imagenet"` (the folder Keras fixed at import).
    The real code then finds and checks the file (the real ImageNet files
    cannot be fetched on the test machines). Returns the file's path."""
    import hashlib

    import h5py
    from keras.src.applications import resnet as keras_resnet
    from keras.src.backend import config
    from keras.src.legacy.saving import legacy_h5_format

    from keras_nonlocal.weights import imagenet

    (folder / "models").mkdir(parents=True, exist_ok=True)
    path = folder / "models" / filename
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, model)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setenv("KERAS_HOME", str(folder))
    (entry,) = [k for k, (name, _) in imagenet.IMAGENET_FILES.items() if name == filename]
    monkeypatch.setitem(imagenet.IMAGENET_FILES, entry, (filename, digest))
    monkeypatch.setattr(config, "_KERAS_DIR", str(folder))
    monkeypatch.setitem(keras_resnet.WEIGHTS_HASHES, filename.split("_")[0], (digest, digest))
    return path


# A tiny NL-C2D and videos of 32 x 32 frames, for the tests of a model slid
# over whole videos (features, timelines; fixtures `window_model` and
# `window_videos` in conftest.py): at the clip's test side of 32 the crop is
# the whole frame, so a window's frames can be decoded independently and
# compared exactly.
WINDOW_CLIP = dict(num_frames=4, frame_stride=2, eval_short_side=32, crop_size=32,
                   short_side_min=32, short_side_max=32)
# name -> frames; the window spans 7 frames, the default hop is 8.
WINDOW_VIDEOS = {"short.mp4": 5, "exact.mp4": 7, "long/long.mp4": 30, "long/b_frames.avi": 23}


def assert_close_in_float32(actual, expected, relative=1e-4):
    """Equal up to float32 summation order: within `relative` of the largest
    magnitude of `expected`. Another batch size or thread count makes oneDNN
    pick other kernels, which sum in another order (measured: 2e-5 of the
    scale on an AMD EPYC), so results of one computation run two ways are not
    bit-equal on every CPU."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    np.testing.assert_allclose(actual, expected, rtol=0, atol=relative * max(scale, 1e-6))
