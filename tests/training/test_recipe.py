"""Recipes: every shipped recipe loads; bad keys and types fail at start-up."""

import glob
import os

import pytest

from keras_nonlocal import training

RECIPES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "zoo", "recipes", "*.toml")))


def test_every_recipe_loads():
    assert len(RECIPES) >= 7
    names = {training.load_recipe(path).model for path in RECIPES}
    assert {"nl_i3d_r50", "i3d_r50", "c2d_r50", "nl_i3d_r101"} <= names


def test_recipe_by_name_and_overrides():
    recipe = training.load_recipe("nl_i3d_r50_k400_32x2", ["batch_size=16", "nesterov=true",
                                                           "lr_decay_at=[0.5]"])
    assert recipe.batch_size == 16 and recipe.nesterov and recipe.lr_decay_at == [0.5]
    assert recipe.model == "nl_i3d_r50" and recipe.weights == "imagenet"


def test_unknown_key_names_the_valid_ones(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('model = "c2d_r50"\nbatchsize = 8\n')
    with pytest.raises(ValueError, match=r"unknown key `batchsize`. Did you mean batch_size.*Valid keys: model"):
        training.load_recipe(str(path))
    with pytest.raises(ValueError, match="unknown key `lr`"):
        training.load_recipe(None, ["lr=0.1"])


@pytest.mark.parametrize("override,match", [
    ("batch_size=eight", "`batch_size` must be int. Received: batch_size='eight'"),
    ("nesterov=maybe", "`nesterov` must be bool"),
    ("strategy=horovod", "Received: strategy='horovod'"),
    ("steps=0", "Received: steps=0"),
    ("batch_size", "Overrides are key=value"),
])
def test_bad_values(override, match):
    with pytest.raises(ValueError, match=match):
        training.load_recipe(None, [override])


def test_wrong_type_in_file(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('steps = "many"\n')
    with pytest.raises(ValueError, match="`steps` must be int"):
        training.load_recipe(str(path))
    with pytest.raises(ValueError, match="Recipe not found"):
        training.load_recipe("no_such_recipe")
