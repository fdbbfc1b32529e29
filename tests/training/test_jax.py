"""Training on the JAX backend: the CLI end to end, kill -9 and resume, data
parallel over 2 devices, 2 processes on loopback, checkpoints across backends.

Run in CI's JAX process (`KERAS_BACKEND=jax`). A run on one device, a
resume, evaluate and predict, and the loading of checkpoints happen in this
process; a run on 2 devices, in 2 processes, on TensorFlow or killed with
kill -9 is a subprocess of its own (the backend, the device count and
jax.distributed are fixed at start-up), with a persistent compilation cache
shared by the runs.
"""

import json
import os
import signal
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

from helpers import backend_env
from helpers import run_cli
from helpers import tiny_overrides
from helpers import train_killed_at
from keras_nonlocal import training

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax",
                                reason="the JAX training path (CI's JAX process)")
ENV = backend_env("jax")
TWO_DEVICES = "--xla_force_host_platform_device_count=2"


def _env(**extra):
    return backend_env(**{"backend": "jax", **extra})


def _cli(*args, env=None, check=True):
    """In this (JAX) process without `env`; in a subprocess with it."""
    return run_cli(*args, backend="jax", env=env, check=check)


def _final_weights(output_dir, steps):
    """The weights of a run's last checkpoint (read here, on JAX)."""
    path = os.path.join(output_dir, "checkpoints", f"ckpt-{steps:08d}.keras")
    return [np.asarray(w) for w in keras.saving.load_model(path, compile=False).get_weights()]


# BN frozen, as test_distributed's EQUAL: the runs on 2 devices or in 2
# processes against one device.
EQUAL = dict(steps=4, checkpoint_every=2, freeze_bn=True, lr_at_batch_64=0.01)


@pytest.fixture(scope="module")
def one_device_run(tiny_videos, tmp_path_factory):
    """The `EQUAL` run on one device, here: (its output folder, its stdout)."""
    out = str(tmp_path_factory.mktemp("one_device"))
    done = _cli("train", "finetune_own_videos", *tiny_overrides(tiny_videos, out, **EQUAL))
    return out, done.stdout


def _assert_same_weights(a, b, tolerance):
    assert len(a) == len(b)
    for x, y in zip(a, b):
        scale = max(float(np.abs(x).max()), 1e-6)
        np.testing.assert_allclose(x, y, atol=tolerance * scale, rtol=0)


def test_train_resume_evaluate_and_predict_through_the_cli(tiny_videos, tmp_path):
    """The tiny recipe with the recipes' dropout (0.5): an uninterrupted run,
    a run killed with kill -9 and resumed (equal final weights), then
    evaluate and predict on the checkpoint."""
    recipe = ["finetune_own_videos", *tiny_overrides(tiny_videos, "", steps=12, dropout=None)]
    straight = str(tmp_path / "straight")
    done = _cli("train", *recipe, f"output_dir={straight}")
    first = done.stdout.splitlines()[0]
    assert first == "training nl_c2d_r14 on backend jax, one device, 1 device(s) (1 cpu), " \
                    "global batch split 1 way(s)", first
    broken = str(tmp_path / "broken")
    steps = train_killed_at([*recipe, f"output_dir={broken}"], ENV, broken, 4, timeout=600)
    assert steps and max(steps) < 12, "the kill must land mid-run"
    resumed = _cli("train", *recipe, f"output_dir={broken}")
    assert "resuming from" in resumed.stdout and f"at step {max(steps)} of 12" in resumed.stdout
    _assert_same_weights(_final_weights(straight, 12), _final_weights(broken, 12), 1e-5)

    checkpoint = os.path.join(straight, "checkpoints", "ckpt-00000012.keras")
    output = str(tmp_path / "eval.json")
    _cli("evaluate", checkpoint, tiny_videos, "--output", output, "--clips", "2")
    results = json.load(open(output))
    assert results["videos"] == 8 and results["views_per_video"] == 6 and results["top5"] == 1.0
    video = os.path.join(tiny_videos, "bright", "0.mp4")
    done = _cli("predict", checkpoint, video, "--clips", "1", "--crops", "1")
    names = [p.split()[0] for p in done.stdout.strip().splitlines()[-1].split(": ", 1)[1].split(", ")]
    assert sorted(names) == ["bright", "dark"]


SPY = """
import json, sys
from keras.src.backend.jax import distribution_lib
shards = []
_original = distribution_lib.distribute_data_input

def spy(per_process_batch, layout, batch_dim_name):
    result = _original(per_process_batch, layout, batch_dim_name)
    if getattr(result, "ndim", 0) == 5:  # the clips (the labels are split alike)
        shards.append([[list(s.data.shape), str(s.device)] for s in result.addressable_shards])
    return result

distribution_lib.distribute_data_input = spy
from keras_nonlocal import training
recipe = training.load_recipe("finetune_own_videos", sys.argv[2:])
training.train(recipe, verbose=2)
json.dump(shards, open(sys.argv[1], "w"))
"""


def test_data_parallel_over_two_devices_equals_one(tiny_videos, one_device_run, tmp_path):
    """Two CPU devices (XLA_FLAGS), strategy=data_parallel: each device holds
    half of every batch (the arrays' shards, seen inside the real training
    run), and the final weights equal one device's (BN frozen, as the
    TensorFlow test: tolerance 1e-4 of each tensor's largest value). The same
    for model_parallel (a model split over the 2 devices, kernels sharded on
    their output channels)."""
    env = _env(XLA_FLAGS=TWO_DEVICES)
    runs = {}
    for strategy in ("data_parallel", "model_parallel"):
        out = str(tmp_path / strategy)
        shards = str(tmp_path / f"{strategy}_shards.json")
        done = subprocess.run(
            [sys.executable, "-c", SPY, shards,
             *tiny_overrides(tiny_videos, out, strategy=strategy, **EQUAL)],
            env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[strategy] = (done.stdout, json.load(open(shards)))
    stdout, shards = runs["data_parallel"]
    assert "keras.distribution.DataParallel, 2 device(s) (2 cpu), global batch split 2 " \
           "way(s)" in stdout
    assert len(shards) >= 4  # 4 training steps
    for batch in shards:
        assert [shape for shape, _ in batch] == [[2, 4, 32, 32, 3]] * 2  # 4 clips: 2 + 2
        assert len({device for _, device in batch}) == 2
    one_out, one_stdout = one_device_run
    assert "one device" in one_stdout
    assert "ModelParallel (2 devices per model), 2 device(s)" in runs["model_parallel"][0]
    one = _final_weights(one_out, 4)
    _assert_same_weights(one, _final_weights(str(tmp_path / "data_parallel"), 4), 1e-4)
    _assert_same_weights(one, _final_weights(str(tmp_path / "model_parallel"), 4), 1e-4)


def test_batch_norm_moments_cover_the_global_batch(rng, tmp_path):
    """Synchronised BN on JAX: under DataParallel the batch statistics are
    those of the whole global batch (XLA reduces across the devices), which
    one training step shows in the moving statistics (momentum 0)."""
    x = rng.normal(size=(8, 6)).astype("float32") * np.arange(1, 7)
    np.save(tmp_path / "x.npy", x)
    script = f"""
import json, numpy as np, keras
from keras_nonlocal.training import distribution
placement = distribution.place("data_parallel")
x = np.load({str(tmp_path / 'x.npy')!r})
inputs = keras.Input((6,))
bn = keras.layers.BatchNormalization(momentum=0.0, epsilon=1e-12)
model = keras.Model(inputs, bn(inputs))
model.compile("sgd", "mse")
model.fit(x, np.zeros_like(x), batch_size=8, epochs=1, verbose=0, shuffle=False)
print(json.dumps([placement.replicas, np.asarray(bn.moving_mean).tolist(),
                  np.asarray(bn.moving_variance).tolist()]))
"""
    done = subprocess.run([sys.executable, "-c", script], env=_env(XLA_FLAGS=TWO_DEVICES),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    replicas, mean, variance = json.loads(done.stdout.strip().splitlines()[-1])
    assert replicas == 2
    np.testing.assert_allclose(mean, x.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(variance, x.var(0), rtol=1e-4)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_on_loopback_equal_one(tiny_videos, one_device_run, tmp_path):
    """strategy=multihost: two JAX processes (jax.distributed through
    keras.distribution.initialize, coordinator on 127.0.0.1) train the tiny
    recipe to the weights of one process (BN frozen; 1e-4 of scale)."""
    one = one_device_run[0]
    both = str(tmp_path / "both")
    port = _free_port()
    args = [sys.executable, "-m", "keras_nonlocal.cli", "train", "finetune_own_videos",
            *tiny_overrides(tiny_videos, both, strategy="multihost", **EQUAL)]
    procs = [subprocess.Popen(args, env=_env(KERAS_DISTRIBUTION_JOB_ADDRESSES=f"127.0.0.1:{port}",
                                             KERAS_DISTRIBUTION_NUM_PROCESSES=2,
                                             KERAS_DISTRIBUTION_PROCESS_ID=i),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              start_new_session=True) for i in range(2)]
    try:
        outputs = [p.communicate(timeout=900) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    for p, (out, err) in zip(procs, outputs):
        assert p.returncode == 0, out[-2000:] + err[-3000:]
    assert "process 0 of 2" in outputs[0][0] and "process 1 of 2" in outputs[1][0]
    assert os.path.isdir(os.path.join(both, "worker-1", "checkpoints"))
    _assert_same_weights(_final_weights(one, 4), _final_weights(both, 4), 1e-4)


def test_checkpoints_resume_across_backends(tiny_videos, tmp_path):
    """One run, three processes: 2 steps on TensorFlow (a subprocess), resumed
    to 4 on JAX (here), resumed to 6 on TensorFlow; a checkpoint gives equal
    outputs on both."""
    out = str(tmp_path / "run")
    recipe = ["finetune_own_videos", *tiny_overrides(tiny_videos, out, steps=6)]
    for steps, backend, resumed in ((2, "tensorflow", None), (4, "jax", 2), (6, "tensorflow", 4)):
        env = _env(KERAS_BACKEND=backend) if backend == "tensorflow" else None  # JAX: here
        done = _cli("train", *recipe, f"steps={steps}", env=env)
        assert done.stdout.startswith(f"training nl_c2d_r14 on backend {backend}")
        if resumed:
            assert f"at step {resumed} of {steps}" in done.stdout
    assert [s for s, _ in training.checkpoints(os.path.join(out, "checkpoints"))] == [6, 4, 2]
    checkpoint = os.path.join(out, "checkpoints", "ckpt-00000004.keras")  # written by JAX
    clip = np.random.default_rng(0).integers(0, 256, (2, 4, 32, 32, 3)).astype("uint8")
    np.save(tmp_path / "clip.npy", clip)
    script = ("import sys, numpy as np, keras, keras_nonlocal\n"
              "m = keras.saving.load_model(sys.argv[1], compile=False)\n"
              "np.save(sys.argv[3], np.asarray(m(np.load(sys.argv[2]), training=False)))")
    path = str(tmp_path / "out_tensorflow.npy")
    subprocess.run([sys.executable, "-c", script, checkpoint, str(tmp_path / "clip.npy"), path],
                   env=_env(KERAS_BACKEND="tensorflow"), check=True, capture_output=True,
                   timeout=300)
    model = keras.saving.load_model(checkpoint, compile=False)
    outputs = {"tensorflow": np.load(path), "jax": np.asarray(model(clip, training=False))}
    assert outputs["jax"].shape == (2, 2)
    np.testing.assert_allclose(outputs["jax"], outputs["tensorflow"], atol=1e-5)
