"""One clip record from training to evaluation: what a model was trained on is
what it records, and what evaluate / predict / export use without being told.

The defect this guards: the recorded clip came from the zoo preset (and a
crop of 224 always), never from the recipe, so evaluation ran other clips
than training (the Charades recipe trained at stride 4 / crop 288 and
recorded 2 / 224).
"""

import json
import os

import keras
import numpy as np
import pytest

from helpers import CLIP
from helpers import run_cli
from helpers import tiny_overrides
from keras_nonlocal import Clip
from keras_nonlocal import training
from keras_nonlocal import zoo
from keras_nonlocal.training.train import build_model



@pytest.fixture
def checkpoint(trained_checkpoint):
    return trained_checkpoint


def test_the_checkpoint_records_exactly_the_recipe_clip(checkpoint):
    model = keras.saving.load_model(checkpoint, compile=False)
    assert zoo.preprocessing_spec(model) == Clip(**CLIP, class_names=("bright", "dark"))


def test_evaluate_and_predict_use_it_without_being_told(checkpoint, tiny_videos, tmp_path):
    output = str(tmp_path / "eval.json")
    done = run_cli("evaluate", checkpoint, tiny_videos, "--output", output)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "instead of the model's" not in done.stdout  # nothing overridden
    results = json.load(open(output))
    expected = Clip(**CLIP).get_config()
    del expected["class_names"]
    assert results["clip"] == expected
    assert results["views_per_video"] == 2 and results["videos"] == 8
    video = os.path.join(tiny_videos, "dark", "1.mp4")
    done = run_cli("predict", checkpoint, video)
    assert done.returncode == 0, done.stderr[-3000:]
    names = [part.split()[0] for part in done.stdout.strip().split(": ", 1)[1].split(", ")]
    assert sorted(names) == ["bright", "dark"]  # the class names travel in the model
    # an explicit setting wins, and says so
    done = run_cli("evaluate", checkpoint, tiny_videos, "--output", output, "--frames", "2")
    assert "clip: num_frames = 2 instead of the model's 4" in done.stdout
    assert json.load(open(output))["clip"]["num_frames"] == 2


def test_evaluate_gives_the_exact_top1_of_a_known_answer(checkpoint, tiny_videos, tmp_path):
    """A classifier that always answers "dark" (weights zeroed, bias set), on
    a list where 5 of 8 videos are labelled "dark": top-1 is exactly 5/8,
    and per class 1.0 for "dark", 0.0 for "bright"."""
    model = keras.saving.load_model(checkpoint, compile=False)
    head = model.get_layer("predictions")
    head.set_weights([np.zeros_like(head.get_weights()[0]), np.array([0.0, 5.0], "float32")])
    constant = str(tmp_path / "always_dark.keras")
    model.save(constant)
    videos = sorted(os.path.join(tiny_videos, c, f) for c in ("bright", "dark")
                    for f in os.listdir(os.path.join(tiny_videos, c)))
    labels = ["dark"] * 5 + ["bright"] * 3
    listing = tmp_path / "list.csv"
    listing.write_text("".join(f"{v},{label}\n" for v, label in zip(videos, labels)))
    output = str(tmp_path / "known.json")
    done = run_cli("evaluate", constant, str(listing), "--output", output)
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.load(open(output))
    assert results["top1"] == 5 / 8 and results["top5"] == 1.0
    assert results["per_class_accuracy"] == {"bright": 0.0, "dark": 1.0}
    assert results["confusion_matrix"] == [[0, 3], [0, 5]]


def test_export_writes_the_clip_beside_the_saved_model(checkpoint, tmp_path):
    done = run_cli("export", checkpoint, str(tmp_path / "saved"))
    assert done.returncode == 0, done.stderr[-3000:]
    recorded = Clip.from_config(json.load(open(tmp_path / "saved" / "clip.json")))
    assert recorded == Clip(**CLIP, class_names=("bright", "dark"))


def test_the_charades_recipe_records_its_clip():
    recipe = training.load_recipe("nl_i3d_r101_charades_from_k400",
                                  ["weights=", "base_width=8"])
    model = build_model(recipe, [f"c{i}" for i in range(157)])
    clip = zoo.preprocessing_spec(model)
    assert (clip.num_frames, clip.frame_stride, clip.crop_size) == (32, 4, 288)
    assert (clip.short_side_min, clip.short_side_max, clip.eval_short_side) == (329, 411, 320)
    assert len(clip.class_names) == 157


def test_a_checkpoint_of_another_clip_is_not_resumed(checkpoint, tiny_videos):
    out = os.path.dirname(os.path.dirname(checkpoint))
    recipe = training.load_recipe(None, tiny_overrides(tiny_videos, out, steps=4,
                                                       checkpoint_every=2,
                                                       **dict(CLIP, frame_stride=2)))
    with pytest.raises(ValueError, match=r"another clip than the recipe's: frame_stride=2 "
                                         r"\(checkpoint: 4\)"):
        training.train(recipe, verbose=0)
