"""Recipes: every shipped recipe loads; bad keys and types fail at start-up."""

import glob
import os

import pytest

from keras_nonlocal import training

FOLDER = os.path.join(os.path.dirname(__file__), "..", "..", "zoo", "recipes")
RECIPES = sorted(glob.glob(os.path.join(FOLDER, "*.toml")))


def test_every_recipe_loads_by_name():
    """Every recipe of the repository's zoo/recipes/ is shipped (found by
    name through importlib.resources) and loads."""
    assert len(RECIPES) >= 7
    names = [os.path.basename(path)[:-5] for path in RECIPES]
    assert training.list_recipes() == names
    models = {training.load_recipe(name).model for name in names}
    assert {"nl_i3d_r50", "i3d_r50", "c2d_r50", "nl_i3d_r101"} <= models


def test_one_parser_for_every_value():
    """Recipe values and `key=value` overrides are parsed by the key's type
    (before: `--set` and recipes parsed the same syntax two ways)."""
    recipe = training.load_recipe(None, ["dropout=0.1", "nesterov=False", "synchronized_bn=TRUE",
                                         "steps=10", "checkpoint_every=5", "publisher=release"])
    assert recipe.dropout == 0.1 and recipe.nesterov is False and recipe.synchronized_bn is True
    assert recipe.publisher == "release" and recipe.steps == 10


def test_recipe_by_name_and_overrides():
    recipe = training.load_recipe("nl_i3d_r50_k400_32x2", ["batch_size=16", "nesterov=true",
                                                           "lr_decay_at=[0.5]"])
    assert recipe.batch_size == 16 and recipe.nesterov and recipe.lr_decay_at == [0.5]
    assert recipe.model == "nl_i3d_r50" and recipe.weights == "imagenet"


def test_unknown_key_names_the_valid_ones(tmp_path):
    path = tmp_path / "r.toml"
    path.write_text('model = "c2d_r50"\nbatchsize = 8\n')
    with pytest.raises(ValueError, match=r"unknown key `batchsize`. Did you mean 'batch_size'.*Valid keys: model"):
        training.load_recipe(str(path))
    with pytest.raises(ValueError, match="unknown key `lr`"):
        training.load_recipe(None, ["lr=0.1"])


@pytest.mark.parametrize("override,match", [
    ("batch_size=eight", "`batch_size` must be int. Received: batch_size='eight'"),
    ("nesterov=maybe", "`nesterov` must be bool"),
    ("strategy=horovod", "Received: strategy='horovod'"),
    ("steps=0", "Received: steps=0"),
    ("batch_size", "settings are key=value"),
    ("num_frames=-4", "Received: num_frames=-4"),
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


def test_the_clip_keys_are_the_clips():
    """A recipe's clip keys are `keras_nonlocal.Clip`'s sampling settings, 0 by
    default (the model's own)."""
    from keras_nonlocal import Clip
    from keras_nonlocal.training.recipe import CLIP_KEYS

    ints = [k for k, v in vars(Clip()).items() if isinstance(v, int)]
    assert list(CLIP_KEYS) == ints and set(CLIP_KEYS) <= set(training.Recipe.keys())
    assert training.load_recipe(None, []).clip_changes() == {}
    assert training.load_recipe("demo_nl_c2d").clip_changes()["num_frames"] == 4
