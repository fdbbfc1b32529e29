"""The GPU benchmark is ready to run: every path of it, at a toy size, on this
CPU (Keras on JAX, PyTorch eager; torch.compile is left to the GPU run)."""

import os
import re
import subprocess
import sys

import keras
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax",
                                reason="the GPU machines run Keras on JAX")


def test_gpu_benchmark_runs_at_a_tiny_size(tmp_path):
    out = str(tmp_path / "gpu.json")
    done = subprocess.run(
        [sys.executable, os.path.join(ROOT, "benchmarks", "bench_gpu.py"), "--tiny",
         "--no-compile", "--steps", "1", "--batches", "1", "--models", "nl_i3d_r50",
         "--stages", "res3", "--peak-tflops", "1", "--json", out],
        env=dict(os.environ, KERAS_BACKEND="jax"), capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    rows = {line.split()[1]: line.split() for line in done.stdout.splitlines()
            if line.startswith("nl_i3d_r50")}
    assert set(rows) == {"keras", "torch"}, done.stdout
    for row in rows.values():  # batch, seconds a step, clips/s = batch / seconds
        assert row[2] == "1"
        np.testing.assert_allclose(float(row[4]), 1 / float(row[3]), rtol=0.01, atol=0.051)
    assert re.search(r"res3: keras [\d.]+ ms, torch SDPA [\d.]+ ms, [\d.]+x", done.stdout)
    assert os.path.exists(out)
