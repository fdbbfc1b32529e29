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
    """`pip install keras-nonlocal` with no extra: no TensorFlow, JAX or torch."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    pip = subprocess.run([str(venv / "bin" / "pip"), "install", "-q", wheel],
                         capture_output=True, text=True, timeout=900)
    assert pip.returncode == 0, pip.stderr[-3000:]
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "PYTHONPATH")}
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
