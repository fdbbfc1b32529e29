"""Training through the CLI: loss, outputs, kill -9 and resume, failures."""

import csv
import importlib
import os
import re
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

ENV = backend_env("tensorflow")


def _weights(path):
    return [np.asarray(w) for w in keras.saving.load_model(path, compile=False).get_weights()]


def test_training_reduces_the_loss_and_writes_its_outputs(tiny_videos, tmp_path):
    """Through the CLI, with validation data: the loss goes down; checkpoints,
    TensorBoard events and curves are written; the terminal shows the
    program's own lines: its first line says where it trains, and none of
    TensorFlow's C++ log lines nor a "ran out of data" warning per epoch (the
    user's own TF_CPP_MIN_LOG_LEVEL is not set here)."""
    out = str(tmp_path / "run")
    env = {k: v for k, v in ENV.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "keras_nonlocal.cli", "train",
                           "finetune_own_videos",
                           *tiny_overrides(tiny_videos, out, steps=24, checkpoint_every=6,
                                           lr_at_batch_64=0.1, val_data=tiny_videos)],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    with open(os.path.join(out, "log.csv")) as f:
        losses = [float(row["loss"]) for row in csv.DictReader(f)]
    assert len(losses) == 4 and min(losses[-2:]) < losses[0], losses
    kept = training.checkpoints(os.path.join(out, "checkpoints"))
    assert [step for step, _ in kept] == [24, 18, 12]  # the last 3 kept
    events = [f for _, _, files in os.walk(os.path.join(out, "tensorboard")) for f in files]
    assert any(f.startswith("events.out.tfevents") for f in events)
    with open(os.path.join(out, "curves.png"), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    output = done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == (
        "training nl_c2d_r14 on backend tensorflow, tf.distribute default strategy, "
        "1 device(s) (1 cpu), global batch split 1 way(s)")
    assert not re.search(r"^[IWEF]\d{4} \d\d:\d\d|absl::InitializeLog", output, re.M), output
    assert "ran out of data" not in output and "Warning" not in output, output
    assert "val_loss" in done.stdout and "done: 3 checkpoints" in done.stdout


def test_kill_9_then_resume_ends_with_the_same_weights(tiny_videos, tmp_path):
    """Same seed, deterministic ops, the recipe's dropout (0.5): the resumed
    run's final weights equal an uninterrupted run's (tolerance 1e-5; in
    practice identical). Dropout's random state travels in the checkpoint;
    without it the loss diverged right after the resume."""
    recipe = tiny_overrides(tiny_videos, "", steps=12, dropout=None)
    assert not any(item.startswith("dropout=") for item in recipe)
    assert training.load_recipe("finetune_own_videos", recipe).dropout == 0.5
    straight = str(tmp_path / "straight")
    assert run_cli("train", "finetune_own_videos",
                *tiny_overrides(tiny_videos, straight, steps=12, dropout=None)).returncode == 0

    broken = str(tmp_path / "broken")
    steps_done = train_killed_at(
        ["finetune_own_videos", *tiny_overrides(tiny_videos, broken, steps=12, dropout=None)],
        ENV, broken, 4, timeout=300)
    assert steps_done and max(steps_done) < 12, "the kill must land mid-run"
    resumed = run_cli("train", "finetune_own_videos",
                   *tiny_overrides(tiny_videos, broken, steps=12, dropout=None))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from" in resumed.stdout and f"at step {max(steps_done)} of 12" in resumed.stdout
    final = "ckpt-00000012.keras"
    for a, b in zip(_weights(os.path.join(straight, "checkpoints", final)),
                    _weights(os.path.join(broken, "checkpoints", final))):
        np.testing.assert_allclose(a, b, atol=1e-5, rtol=1e-5)


def test_non_finite_loss_stops_and_names_the_step(tiny_videos, tmp_path):
    out = str(tmp_path / "nan")
    done = run_cli("train", "finetune_own_videos",
                *tiny_overrides(tiny_videos, out, lr_at_batch_64=1e12, steps=8))
    assert done.returncode == 3
    assert "Non-finite loss at step" in done.stderr


def test_bad_inputs_fail_before_training(tiny_videos, tmp_path):
    def recipe(output_dir=str(tmp_path / "r"), **extra):
        return training.load_recipe(None, tiny_overrides(tiny_videos, output_dir, **extra))

    with pytest.raises(ValueError, match="Received: train_data='/no/such/folder'"):
        training.train(recipe(train_data="/no/such/folder"))
    os.makedirs(tmp_path / "empty")
    with pytest.raises(ValueError, match="No videos"):
        training.train(recipe(train_data=str(tmp_path / "empty")))
    with pytest.raises(ValueError, match="multiple of `checkpoint_every`"):
        training.train(recipe(steps=7))
    with pytest.raises(ValueError, match="Received: weights='/no/file.keras'"):
        training.train(recipe(weights="/no/file.keras"))
    # a checkpoint of another model in the output folder
    other = training.load_recipe(None, tiny_overrides(tiny_videos, str(tmp_path / "other"),
                                                      model="c2d_r14", steps=2))
    training.train(other, verbose=0)
    # the deterministic run left TensorFlow's op determinism off again: on, it
    # made every later unseeded random op of the worker raise (four
    # test_evaluate_tfrecords tests failed after this one)
    import tensorflow as tf

    from keras_nonlocal import keras_private

    assert not keras_private.op_determinism_enabled()
    tf.random.set_seed(None)
    tf.random.uniform((2,))
    with pytest.raises(ValueError, match=r"holds c2d_r14 .* the recipe trains nl_c2d_r14"):
        training.train(recipe(output_dir=str(tmp_path / "other")))


def test_jit_compile_per_backend(monkeypatch):
    """The platform decision, pinned: JAX always compiles the step (without it,
    Keras runs it op by op: 7 s a step for the tiny recipe against 0.56 s);
    TensorFlow leaves XLA to Keras ("auto": off on CPU-only machines, where
    it made the R50 step 3.4x slower), and off for deterministic runs."""
    module = importlib.import_module("keras_nonlocal.training.train")
    recipe = training.load_recipe(None, ["deterministic=true"])
    for backend, deterministic, expected in (("jax", True, True), ("jax", False, True),
                                             ("tensorflow", True, False),
                                             ("tensorflow", False, "auto")):
        monkeypatch.setattr(keras.backend, "backend", lambda b=backend: b)
        recipe.deterministic = deterministic
        assert module.jit_compile(recipe) == expected


def test_affine_bn_trains_scales_and_biases_with_no_statistics(tiny_videos, tmp_path):
    """`affine_bn=true`: every batch norm an Affine (statistics folded in),
    whose scales and biases move; the checkpoint is that model, and resumes
    as it."""
    out = str(tmp_path / "run")
    run_cli("train", "finetune_own_videos",
            *tiny_overrides(tiny_videos, out, steps=2, checkpoint_every=1, affine_bn="true"),
            check=True)
    (_, second), (_, first) = training.checkpoints(os.path.join(out, "checkpoints"))[:2]
    models = [keras.saving.load_model(p, compile=False) for p in (first, second)]
    assert models[1].backbone.architecture.normalization == "affine"
    assert not any(isinstance(layer, keras.layers.BatchNormalization)
                   for layer in models[1].layers)
    assert not models[1].non_trainable_weights
    scales = [[np.asarray(layer.scale) for layer in m.layers if layer.name == "conv1_bn"][0]
              for m in models]
    assert np.abs(scales[1] - scales[0]).max() > 0
    with pytest.raises(ValueError, match="Received: affine_bn=True, freeze_bn=True"):
        training.train(training.load_recipe(None, tiny_overrides(
            tiny_videos, str(tmp_path / "both"), affine_bn="true", freeze_bn="true")))
