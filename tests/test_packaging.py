"""Packaging: the built wheel carries everything, under every install scheme.

Recipes are read with importlib.resources from the package itself
(`keras_nonlocal.recipes`, the repository's zoo/recipes/ mapped onto it). They
used to be data-files under `<prefix>/share`, looked up under `sys.prefix`
only, so an install into another prefix (`pip install --user`, whose files go
under `site.USER_BASE`; `--prefix`, tested here, follows the same rule) found
no recipe. The wheel is installed for real into fresh folders; a fresh
virtual environment gets it without any extra (no Keras backend).
"""

import os
import subprocess
import sys
import tomllib
import zipfile

import pytest

from helpers import run_cli_lines

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "keras_nonlocal")
RECIPES = sorted(f[:-5] for f in os.listdir(os.path.join(ROOT, "zoo", "recipes"))
                 if f.endswith(".toml"))
CHECK = """
import os, sys
import keras_nonlocal
from keras_nonlocal import training
names = training.list_recipes()
path = training.recipe.resolve_recipe_path("demo_nl_c2d")
recipe = training.load_recipe("demo_nl_c2d")
print("FILE", os.path.dirname(keras_nonlocal.__file__))
print("RECIPE", path)
print("NAMES", ",".join(names))
print("MODEL", recipe.model)
"""


def _pip(*args, **kwargs):
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True,
                          timeout=600, **kwargs)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    done = _pip("wheel", "--no-deps", "-q", "-w", str(out), ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    (path,) = [os.path.join(out, f) for f in os.listdir(out) if f.endswith(".whl")]
    return path


def test_python_floor_matches_the_code():
    """recipe.py reads TOML with tomllib, new in Python 3.11."""
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        floor = tomllib.load(f)["project"]["requires-python"]
    assert floor.replace(" ", "") == ">=3.11"


def test_the_wheel_holds_every_module_and_recipe(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for folder, _, files in os.walk(PACKAGE):
        for file in files:
            if file.endswith(".py"):
                relative = os.path.relpath(os.path.join(folder, file), ROOT)
                assert relative in names, relative
    for name in RECIPES:
        assert f"keras_nonlocal/recipes/{name}.toml" in names, name
    assert not any(n.startswith("keras_nonlocal-0.1.0.data/") for n in names)


@pytest.mark.parametrize("scheme", ["--target", "--prefix"])
def test_recipes_are_found_from_an_installed_wheel(wheel, tmp_path, scheme):
    place = tmp_path / "installed"
    # --ignore-installed: without it, pip removes the checkout's own install first
    done = _pip("install", "--no-deps", "--ignore-installed", "-q", scheme, str(place), wheel)
    assert done.returncode == 0, done.stderr[-3000:]
    site = str(place) if scheme == "--target" else os.path.join(
        place, "lib", f"python{sys.version_info.major}.{sys.version_info.minor}",
        "site-packages")
    env = dict(os.environ, PYTHONPATH=site, KERAS_BACKEND="tensorflow")
    run = subprocess.run([sys.executable, "-c", CHECK], env=env, capture_output=True, text=True,
                         timeout=300, cwd=str(tmp_path))
    assert run.returncode == 0, run.stderr[-3000:]
    lines = dict(line.split(" ", 1) for line in run.stdout.splitlines())
    assert lines["FILE"].startswith(site)  # the installed copy, not the checkout
    assert lines["RECIPE"].startswith(site)
    assert lines["NAMES"].split(",") == RECIPES and lines["MODEL"] == "nl_c2d_r50"


def test_without_a_backend_help_works_and_commands_say_what_to_install(wheel, tmp_path):
    """`pip install keras-nonlocal` with no extra: no TensorFlow, JAX or torch.
    Then the same environment with the `[jax]` extra: every command that
    needs no tf.data pipeline works on JAX; the others say what they need.
    (Before: every command stopped with "needs a Keras backend ... No module
    named 'tensorflow'", the CLI importing tf.data code at start-up.)"""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    # A clean environment: a PYTHONPATH holding a checkout would make pip see
    # the package as installed already.
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "PYTHONPATH")}
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", wheel], env=env,
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-3000:]
    command = str(venv / "bin" / "keras-nonlocal")
    for args in (["--help"], ["train", "--help"], ["evaluate", "--help"]):
        done = subprocess.run([command, *args], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0 and "usage: keras-nonlocal" in done.stdout, done.stderr
    done = subprocess.run([command, "summary", "c2d_r50"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'keras-nonlocal[tensorflow]'" in lines[0], lines
    assert "No module named 'tensorflow'" in lines[0]

    # The [jax] extra, as `pip install 'keras-nonlocal[jax]'` brings it.
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", f"{wheel}[jax]"],
                         env=env, capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-3000:]
    assert subprocess.run([str(venv / "bin" / "python"), "-c", "import tensorflow"],
                          capture_output=True).returncode == 1  # still no TensorFlow
    _commands_on_a_jax_only_install(command, dict(env, KERAS_BACKEND="jax"), tmp_path)


def _commands_on_a_jax_only_install(command, env, tmp_path):
    import video_factory as vf
    from keras_nonlocal import zoo

    vf.write_video(str(tmp_path / "video.mp4"), 20, width=40, height=32)
    model = zoo.nl_c2d_r14(base_width=8, classes=3, clip=dict(
        num_frames=4, frame_stride=2, crop_size=32, eval_short_side=32, eval_clips=2,
        eval_crops=1, class_names=("a", "b", "c")))
    model.save(str(tmp_path / "tiny.keras"))

    # The commands in one process of the venv's interpreter (its imports are
    # seconds each), as `keras-nonlocal` runs them; the script itself ran above.
    python = os.path.join(os.path.dirname(command), "python")
    lines = ["keras-nonlocal summary nl_i3d_r50 --input 8x224x224",
             "keras-nonlocal predict tiny.keras video.mp4",
             "keras-nonlocal visualize tiny.keras video.mp4 --out pictures",
             "keras-nonlocal tour --quick",
             "keras-nonlocal features tiny.keras video.mp4 --out features --quiet",
             "keras-nonlocal predict tiny.keras video.mp4 --timeline",
             f"keras-nonlocal evaluate tiny.keras {tmp_path}",
             "keras-nonlocal train demo_nl_c2d",
             "keras-nonlocal export tiny.keras saved"]
    done, results = run_cli_lines(lines, python=python, env=env, cwd=str(tmp_path))
    assert [line for line, *_ in results] == lines, done.stdout[-2000:] + done.stderr[-3000:]
    run = {}  # command (and --timeline) -> (exit code, stdout, stderr)
    for line, code, out, err in results:
        run[line.split()[1] + (" --timeline" if "--timeline" in line else "")] = (code, out, err)
    code, out, err = run["summary"]
    assert code == "0" and "nl_i3d_r50 at 8x224x224" in out, err[-2000:]
    assert "35.40" in out  # the parameters (M), as on TensorFlow
    code, out, err = run["predict"]
    assert code == "0", err[-2000:]
    assert sorted(p.split()[0] for p in out.split(": ", 1)[1].split(", ")) == ["a", "b", "c"]
    code, out, err = run["visualize"]
    assert code == "0" and os.listdir(tmp_path / "pictures"), err[-2000:]
    assert run["tour"][0] == "0", run["tour"][2][-2000:]
    code, out, err = run["features"]
    assert code == "0", err[-2000:]
    import numpy as np

    assert np.load(tmp_path / "features" / "video.npy").shape == (2, 256)  # 20 frames, hop 8
    code, out, err = run["predict --timeline"]
    assert code == "0" and "2 windows" in out, err[-2000:]
    for command_name, what in (("evaluate", "evaluate"), ("train", "training"),
                               ("export", "SavedModel export")):
        code, _, err = run[command_name]
        lines = err.strip().splitlines()
        assert code == "2" and len(lines) == 1, err[-2000:]
        assert lines[0].startswith(f"error: {what}") and "need TensorFlow: pip install " \
            "'keras-nonlocal[tensorflow]'" in lines[0], lines
