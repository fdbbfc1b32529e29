"""Attention pictures: top-k keys and their coordinates, PNGs, the CLI, bad input."""

import os

import keras
import matplotlib.image
import numpy as np
import pytest
from matplotlib.patches import ConnectionPatch

import video_factory
from keras_nonlocal import Clip, NonLocal2D, NonLocal3D, cli, zoo
from keras_nonlocal import visualize as vis


@pytest.fixture(scope="module")
def tiny_model():
    # 8x8 sampling: only pool2 halves time, so a 4-frame clip keeps 2 steps at res3.
    return zoo.build("nl_c2d_r50", weights=None, base_width=8, classes=2, sampling="8x8")


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    path = tmp_path_factory.mktemp("videos") / "clip.mp4"
    return video_factory.write_video(path, 20, width=80, height=64)


def _check_png(path, min_width=200):
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[2] in (3, 4)
    assert image.shape[1] >= min_width and image.shape[0] >= 100
    return image


def test_top_keys_of_a_hand_made_map_are_block_centres(rng):
    layer = NonLocal3D(pool_size=(1, 2, 2))
    info = vis.attention_maps(layer, rng.normal(size=(2, 4, 6, 8)))
    assert info["grid"] == (2, 4, 6) and info["key_grid"] == (2, 2, 3)
    attention = np.full_like(info["attention"], 0.01)
    query = np.ravel_multi_index((1, 2, 3), info["grid"])
    for key, weight in (((1, 0, 2), 0.5), ((0, 1, 0), 0.3), ((1, 1, 1), 0.2)):
        attention[0, query, np.ravel_multi_index(key, info["key_grid"])] = weight
    info["attention"] = attention
    targets, weights = vis.top_keys(info, (1, 2, 3), top_k=3)
    # key (t, y, x) pooled 1x2x2 covers rows 2y..2y+1, columns 2x..2x+1.
    np.testing.assert_allclose(targets, [(1, 0.5, 4.5), (0, 2.5, 0.5), (1, 2.5, 2.5)])
    np.testing.assert_allclose(weights, [0.5, 0.3, 0.2])


@pytest.mark.parametrize("scope, pool_size", [
    ("spacetime", (1, 2, 2)), ("spacetime", (2, 2, 2)), ("spacetime", None),
    ("space", (1, 2, 2)), ("time", (2, 1, 1)),
])
def test_top_keys_match_argsort_of_the_layer_attention(rng, scope, pool_size):
    layer = NonLocal3D(scope=scope, pool_size=pool_size, kernel_initializer="glorot_uniform")
    x = rng.normal(size=(1, 4, 4, 6, 8)).astype("float32")
    _, raw = layer(x, return_attention_scores=True)
    raw = keras.ops.convert_to_numpy(raw)[0]
    info = vis.attention_maps(layer, x)
    pool = np.array(layer.pool_size or (1, 1, 1))
    (t, y, x_), k = (3, 1, 4), 5
    if scope == "spacetime":
        row = raw[np.ravel_multi_index((t, y, x_), (4, 4, 6))]
        keys = np.stack(np.unravel_index(np.argsort(-row)[:k], info["key_grid"]), -1)
    elif scope == "space":
        row = raw[t, y * 6 + x_]
        ky, kx = np.unravel_index(np.argsort(-row)[:k], info["key_grid"][1:])
        keys = np.stack([np.full(k, t), ky, kx], -1)
    else:
        row = raw[y * 6 + x_, t]
        k = len(row)
        keys = np.stack([np.argsort(-row), np.full(k, y), np.full(k, x_)], -1)
    targets, weights = vis.top_keys(info, (t, y, x_), top_k=5)
    np.testing.assert_allclose(targets, keys * pool + (pool - 1) / 2)
    np.testing.assert_allclose(weights, np.sort(row)[::-1][:k], rtol=1e-6)


def test_bare_layers_write_pngs(tmp_path, rng):
    (path_2d,) = vis.visualize(NonLocal2D(), rng.random((14, 14, 8)), tmp_path / "2d")
    assert os.path.basename(path_2d).endswith("_arrows.png")
    _check_png(path_2d)
    paths = vis.visualize(NonLocal3D(scope="space"), rng.random((2, 3, 8, 8, 8)), tmp_path / "3d",
                          mode="heatmap", queries=[(2, 7, 7)])
    assert len(paths) == 2
    image = _check_png(paths[1], min_width=400)
    assert image.shape[1] > image.shape[0]  # 3 panels side by side


def test_zoo_model_by_block_name_both_modes(tmp_path, rng, tiny_model):
    clip = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    info = vis.attention_maps(tiny_model, clip, block="conv3_block4_nonlocal")
    assert info["block"] == "conv3_block4_nonlocal"
    assert info["grid"] == (2, 8, 8) and info["key_grid"] == (2, 4, 4)
    np.testing.assert_allclose(info["attention"].sum(-1), 1.0, rtol=1e-4)
    fig = vis.plot_attention(clip, info)  # 3 automatic queries, one in each time step first
    arrows = [a for a in fig.artists if isinstance(a, ConnectionPatch)]
    assert len(arrows) == 3 * 20
    assert vis.attention_maps(tiny_model, clip)["block"] == vis.nonlocal_blocks(tiny_model)[0]
    for mode in vis.MODES:
        (path,) = vis.visualize(tiny_model, clip, tmp_path, block="conv4_block6_nonlocal", mode=mode)
        assert path.endswith(f"clip0_conv4_block6_nonlocal_{mode}.png")
        _check_png(path)


def test_load_clip_takes_the_centre_clip_and_crop(video):
    clip = vis.load_clip(video, Clip(num_frames=4, frame_stride=2, crop_size=32))
    assert clip.shape == (4, 32, 32, 3) and clip.dtype == np.uint8
    assert video_factory.frame_indices(clip) == [6, 8, 10, 12]  # 20 frames, span 7


def test_cli_on_a_saved_model_and_a_zoo_name(tmp_path, video, tiny_model, capsys):
    saved = str(tmp_path / "model.keras")
    tiny_model.save(saved)
    out = tmp_path / "out"
    clip_args = ["--frames", "4", "--stride", "2", "--crop-size", "64", "--out", str(out)]
    assert cli.main(["visualize", saved, video, *clip_args, "--block", "conv3_block2_nonlocal",
                     "--query", "1,3,4", "--query", "0,0,7", "--top-k", "5"]) == 0
    assert str(out / "clip_conv3_block2_nonlocal_arrows.png") in capsys.readouterr().out
    _check_png(out / "clip_conv3_block2_nonlocal_arrows.png")
    assert cli.main(["visualize", "nl_c2d_r50", video, *clip_args, "--mode", "heatmap",
                     "--set", "base_width=8", "--set", "classes=2", "--set", "sampling=8x8"]) == 0
    _check_png(out / "clip_conv3_block2_nonlocal_heatmap.png")


def test_bad_input(tmp_path, rng, tiny_model, video, capsys):
    clip = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match=r"Available: conv3_block2_nonlocal, .*Received: block='res9'"):
        vis.attention_maps(tiny_model, clip, block="res9")
    inputs = keras.Input((None, None, None, 3))
    plain = keras.Model(inputs, keras.layers.Conv3D(4, 1)(inputs), name="plain")
    with pytest.raises(ValueError, match="no non-local blocks. Received: model='plain'"):
        vis.attention_maps(plain, clip)
    info = vis.attention_maps(NonLocal3D(), rng.random((2, 4, 4, 8)))
    for query in [(2, 0, 0), (0, 4, 0), (0, -1, 0), (1, 2, 3, 4), "1,x,2"]:
        with pytest.raises(ValueError, match=r"inside the grid \(2, 4, 4\).*Received: query="):
            vis.plot_attention(None, info, queries=[query])
    with pytest.raises(ValueError, match="Received: mode='bars'"):
        vis.plot_attention(None, info, mode="bars")
    with pytest.raises(ValueError, match="Video not found"):
        vis.visualize(tiny_model, str(tmp_path / "missing.mp4"), tmp_path)
    not_video = video_factory.write_not_a_video(tmp_path / "text.mp4")
    with pytest.raises(ValueError, match="Cannot read the video"):
        vis.load_clip(not_video, Clip(num_frames=4, frame_stride=2, crop_size=32))
    with pytest.raises(ValueError, match=r"nor a zoo name .*Received: model='nl_c3d'"):
        vis.visualize("nl_c3d", video, tmp_path)
    capsys.readouterr()
    assert cli.main(["visualize", "nl_c2d_r50", video, "--out", str(tmp_path), "--set",
                     "base_width=8", "--frames", "4", "--crop-size", "64", "--block", "nope"]) == 2
    assert capsys.readouterr().err.startswith("error: Unknown block. Available: conv3_block2")


def test_an_inserted_2d_block_on_image_files(tmp_path, rng, capsys):
    """An image CNN with a block inserted (`insert_nonlocal`), saved as
    `.keras`, pictured on PNG files through the CLI; the maps are the
    block's own attention on the CNN's features of the preprocessed images."""
    from PIL import Image

    from keras_nonlocal import insert_nonlocal

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="c1")(inputs)
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu", name="c2")(x)
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
    model = insert_nonlocal(keras.Model(inputs, outputs), "c2", pool_size=None)
    paths = []
    for i in range(2):
        paths.append(str(tmp_path / f"image{i}.png"))
        Image.fromarray(rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)).save(paths[-1])
    saved = str(tmp_path / "cnn.keras")
    model.save(saved)
    assert cli.main(["visualize", saved, *paths, "--out", str(tmp_path / "pictures"),
                     "--preprocess", "caffe", "--mode", "heatmap"]) == 0
    assert sorted(os.listdir(tmp_path / "pictures")) == [
        "image0_c2_nonlocal_heatmap.png", "image1_c2_nonlocal_heatmap.png"]
    images = np.stack([vis.load_image(p, (32, 32)) for p in paths]).astype("float32")
    batch = keras.applications.resnet.preprocess_input(images.copy())
    info = vis.attention_maps(model, batch, "c2_nonlocal")
    assert info["grid"] == (1, 8, 8) and info["attention"].shape == (2, 64, 64)
    features = keras.Model(model.inputs[0], model.get_layer("c2_nonlocal").input)(batch)
    _, attention = model.get_layer("c2_nonlocal")(features, return_attention_scores=True)
    np.testing.assert_allclose(info["attention"], keras.ops.convert_to_numpy(attention),
                               rtol=1e-6)
    np.testing.assert_allclose(info["attention"].sum(-1), 1.0, rtol=1e-5)  # softmax rows
