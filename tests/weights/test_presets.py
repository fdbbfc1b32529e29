"""Weights presets: records, download, cache, safe and strict loading, the CLI.

Files are the test's own, written in each publisher's format (parity with the
publishers' code: test_parity.py); downloads go through a real HTTP server on
loopback (`KERAS_NONLOCAL_WEIGHTS_MIRROR`), since the hosts cannot be reached.
"""

import functools
import http.server
import io
import json
import os
import subprocess
import sys
import tarfile
import threading
import zipfile

import keras
import numpy as np
import pytest

import caffe2_pickle
import references
from keras_nonlocal import zoo
from keras_nonlocal.weights import readers
from keras_nonlocal.zoo import presets
from keras_nonlocal.zoo import publishers
from helpers import backend_env
from helpers import run_cli

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="conversions are backend-independent; run once")
ENV = backend_env("tensorflow")
C2D_8X8 = presets.PRESETS["c2d_r50"]["kinetics400_8x8"]

# Run first in a subprocess: `import torch` fails as if it were not installed (a
# finder that refuses it; `sys.modules["torch"] = None` broke scipy, which Keras
# imports through scikit-learn when that is installed, and which expects a module there).
NO_TORCH = ("import sys\n"
            "class NoTorch:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] == 'torch':\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "sys.meta_path.insert(0, NoTorch())\n")


@pytest.fixture
def keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.delenv(presets.MIRROR, raising=False)
    os.makedirs(tmp_path / "keras" / "models")
    return tmp_path / "keras" / "models"


@pytest.fixture
def server(tmp_path, monkeypatch):
    """An HTTP server on 127.0.0.1 serving `folder`, set as the weights mirror."""
    folder = tmp_path / "served"
    os.makedirs(folder)
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(presets.MIRROR, f"http://127.0.0.1:{httpd.server_address[1]}")
    yield folder
    httpd.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _release_file(path, rng, model="c2d_r50"):
    return references.write_release_checkpoint(str(path), i3d="i3d" in model,
                                               nonlocal_="nl_" in model,
                                               seed=int(rng.integers(2**31)))


def _weights(model):
    return [np.asarray(w) for w in model.weights]


def test_every_builder_has_its_published_presets():
    rows = zoo.list_weights()
    assert len(rows) == 17
    names = {(r["model"], r["preset"]) for r in rows}
    for model in ("c2d_r50", "nl_c2d_r50", "i3d_r50", "nl_i3d_r50"):
        assert {(model, "kinetics400"), (model, "kinetics400_8x8")} <= names
    paper = presets.PRESETS["nl_i3d_r50"]["kinetics400"]
    assert paper.summary() == dict(
        model="nl_i3d_r50", preset="kinetics400",
        source="video-nonlocal-net (the paper's original release, Caffe2)", clip="32x2",
        top1=74.9, top5=91.6, accuracy_source="video-nonlocal-net README (10 clips x 3 crops)",
        license=presets.CC_BY_NC,
        url="https://dl.fbaipublicfiles.com/video-nonlocal/i3d_nonlocal_32x2_IN_pretrain_400k.pkl",
        builder_args=dict(sampling="32x2", publisher="release"))
    assert "CC-BY-NC 4.0" in paper.license and "never re-hosted" in paper.license
    for row in rows:
        preset = presets.PRESETS[row["model"]][row["preset"]]
        assert len(preset.clip.class_names) == 400 and preset.clip.class_names[0] == "abseiling"
        assert preset.url.startswith(("https://dl.fbaipublicfiles.com/",
                                      "https://download.openmmlab.com/"))
        assert (preset.sha256_prefix is not None) == preset.url.endswith(".pth")


def test_a_preset_configures_the_model_and_contradictions_name_both():
    with pytest.raises(ValueError, match=r"preset 'kinetics400_8x8' of nl_i3d_r50 is built with "
                                         r"sampling='8x8'; the arguments ask for sampling='32x2'"):
        zoo.nl_i3d_r50(weights="kinetics400_8x8", sampling="32x2")
    with pytest.raises(ValueError, match=r"publisher='release'.*publisher='paper'"):
        zoo.nl_i3d_r50(weights="kinetics400", publisher="paper")
    with pytest.raises(ValueError, match=r"no weights preset 'kinetics40'. Did you mean "
                                         r"'kinetics400'"):
        zoo.nl_i3d_r50(weights="kinetics40")
    with pytest.raises(ValueError, match="no weights preset 'kinetics400'. Presets: none"):
        zoo.nl_i3d_r101(weights="kinetics400")


def test_download_through_http_then_offline(keras_home, server, rng):
    """The first build downloads (into the Keras cache, under the published
    name) and converts; the next ones need neither the server nor the file."""
    _release_file(server / C2D_8X8.file_name, rng)
    first = zoo.c2d_r50(weights="kinetics400_8x8")
    assert sorted(os.listdir(keras_home)) == [C2D_8X8.file_name, "keras_nonlocal"]
    assert os.listdir(keras_home / "keras_nonlocal") == ["c2d_r50-kinetics400_8x8.weights.h5"]
    os.remove(server / C2D_8X8.file_name)
    os.remove(keras_home / C2D_8X8.file_name)  # the converted cache is enough now
    again = zoo.c2d_r50(weights="kinetics400_8x8")
    for a, b in zip(_weights(first), _weights(again)):
        np.testing.assert_array_equal(a, b)
    clip = zoo.preprocessing_spec(again)
    assert clip == C2D_8X8.clip and (clip.num_frames, clip.frame_stride) == (8, 8)


def test_the_download_lands_in_the_folder_read_at_call_time(keras_home, server, rng,
                                                           monkeypatch):
    """KERAS_HOME set after `import keras` (as the fixture does): the download
    itself goes there, not into the folder Keras fixed at import (a move
    between the two failed across file systems, a failed download was
    cleaned up in the wrong one)."""
    _release_file(server / C2D_8X8.file_name, rng)
    landed = []
    get_file = keras.utils.get_file

    def spy(*args, **kwargs):
        landed.append(get_file(*args, **kwargs))
        return landed[-1]

    monkeypatch.setattr(keras.utils, "get_file", spy)
    zoo.c2d_r50(weights="kinetics400_8x8")
    assert [os.path.dirname(p) for p in landed] == [str(keras_home)]


def test_a_failing_url_names_the_file_and_caches_nothing(keras_home, server):
    with pytest.raises(ValueError, match=rf"Could not download {C2D_8X8.file_name} for c2d_r50 "
                                         rf"weights='kinetics400_8x8' from http://127.0.0.1:\d+/"):
        zoo.c2d_r50(weights="kinetics400_8x8")
    assert os.listdir(keras_home) == []


def test_a_truncated_download_is_refused_and_not_cached(keras_home, server, rng, tmp_path):
    whole = _release_file(tmp_path / "whole.pkl", rng)
    with open(whole, "rb") as f:
        data = f.read()
    with open(server / C2D_8X8.file_name, "wb") as f:
        f.write(data[: len(data) // 3])
    with pytest.raises(readers.CheckpointError,
                       match=rf"{C2D_8X8.file_name}.download: truncated or corrupt Caffe2 pickle"):
        zoo.c2d_r50(weights="kinetics400_8x8")
    assert os.listdir(keras_home) == []


def test_a_wrong_hash_prefix_is_refused_on_download(keras_home, server):
    preset = presets.PRESETS["i3d_r50"]["kinetics400_mmaction2"]
    references.torch_save(server / preset.file_name, {"state_dict": {}})
    with pytest.raises(ValueError, match=r"the file name says e213c223\.\.\.: not the published "
                                         r"file \(deleted\)"):
        zoo.i3d_r50(weights="kinetics400_mmaction2")
    assert os.listdir(keras_home) == []


class _Evil:
    """Pickles to a call of os.system, as a hostile checkpoint would."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def test_a_malicious_pickle_runs_nothing(keras_home, tmp_path):
    import pickle

    marker = tmp_path / "pwned"
    path = keras_home / C2D_8X8.file_name
    with open(path, "wb") as f:
        pickle.dump({"blobs": {"conv1_w": _Evil(f"touch {marker}")}}, f, protocol=2)
    with pytest.raises(readers.UnsafeCheckpointError,
                       match=r"refusing to load: the pickle names posix.system"):
        zoo.c2d_r50(weights="kinetics400_8x8")
    with pytest.raises(readers.UnsafeCheckpointError):
        zoo.c2d_r50(weights=str(path))
    # the same inside a PyTorch zip archive
    torch_file = tmp_path / "evil.pth"
    with zipfile.ZipFile(torch_file, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"state_dict": _Evil(f"touch {marker}")},
                                                       protocol=2))
    with pytest.raises(readers.UnsafeCheckpointError, match="posix.system"):
        readers.read_tensors(str(torch_file))
    assert not marker.exists()


def test_a_file_of_another_model_names_its_tensors(keras_home, rng):
    """An I3D file for the NL-I3D preset: refused before any weight changes,
    naming the missing non-local tensors; a C2D file: the shapes that differ."""
    _release_file(keras_home / presets.PRESETS["nl_i3d_r50"]["kinetics400_8x8"].file_name, rng,
                  model="i3d_r50")
    keras.utils.set_random_seed(0)
    with pytest.raises(ValueError, match=r"does not fit nl_i3d_r50 \(release names\): 60 weights "
                                         r"without a tensor, 0 tensors unused, 0 shapes differ") as info:
        zoo.nl_i3d_r50(weights="kinetics400_8x8")
    assert "conv3_block2_nonlocal/theta/kernel <- nonlocal_conv3_1_theta_w" in str(info.value)
    # One error: it was raised while handling the converted-weights cache's
    # FileNotFoundError, and Python showed both.
    assert info.value.__context__ is None and info.value.__cause__ is None
    c2d_file = _release_file(keras_home / "c2d.pkl", rng, model="c2d_r50")
    model = zoo.i3d_r50(sampling="8x8", publisher="release")
    before = _weights(model)
    from keras_nonlocal.weights import converters

    kind, tensors = readers.read_tensors(c2d_file)
    with pytest.raises(ValueError, match=r"shape mismatch: conv1_conv/kernel \(5, 7, 7, 3, 64\) "
                                         r"<- conv1_w \(64, 3, 1, 7, 7\)"):
        converters.assign(model, tensors, publishers.checkpoint_names(kind, tensors)[1], c2d_file)
    for a, b in zip(before, _weights(model)):
        np.testing.assert_array_equal(a, b)


def test_formats_are_told_by_content(tmp_path, rng):
    torch_as_pkl = references.torch_save(tmp_path / "actually_torch.pkl",
                                         {"model_state": {"w": np.zeros(2)}})
    assert readers.sniff(torch_as_pkl) == "pytorch"
    tar_path = tmp_path / "a_tar.pkl"
    with tarfile.open(tar_path, "w") as archive:
        info = tarfile.TarInfo("I3D_8x8_R50.pkl")
        info.size = 4
        archive.addfile(info, io.BytesIO(b"data"))
    with pytest.raises(readers.CheckpointError, match="a tar archive, not a checkpoint"):
        readers.sniff(str(tar_path))
    gz = tmp_path / "model.pkl"
    gz.write_bytes(b"\x1f\x8b\x08\x00" + bytes(30))
    with pytest.raises(readers.CheckpointError, match="a gzip"):
        readers.sniff(str(gz))
    text = tmp_path / "notes.pyth"
    text.write_text("hello")
    with pytest.raises(readers.CheckpointError, match="neither a Caffe2 pickle nor a PyTorch"):
        readers.read_tensors(str(text))
    scalar = tmp_path / "int.pkl"
    scalar.write_bytes(caffe2_pickle.dumps(400000))  # SlowFast#354: a pickle of an int
    with pytest.raises(readers.CheckpointError, match="holds a int"):
        readers.read_tensors(str(scalar))
    flat = caffe2_pickle.write_checkpoint(tmp_path / "flat.pkl", {"pred_b": np.ones(3, "f4")},
                                          wrap=False)  # vnl modify_blob_rm.py's flat dict
    np.testing.assert_array_equal(readers.read_tensors(flat)[1]["pred_b"], np.ones(3))


def test_pytorch_files_load_without_pytorch(tmp_path, rng):
    """Our reader's arrays equal torch.load(weights_only=True)'s, and it runs
    in a process where `import torch` fails."""
    import torch

    tensors = {"a": torch.from_numpy(rng.normal(size=(3, 4)).astype(np.float32)),
               "b": torch.arange(5, dtype=torch.int64), "c": torch.tensor(7),
               "h": torch.ones(2, dtype=torch.float16), "t": torch.eye(3).t()}
    path = references.torch_save(tmp_path / "x.pyth", {"model_state": tensors, "epoch": 3})
    expected = torch.load(path, weights_only=True)["model_state"]
    _, ours = readers.read_tensors(path)
    for key, value in expected.items():
        np.testing.assert_array_equal(ours[key], value.numpy())
        assert ours[key].dtype == value.numpy().dtype
    script = NO_TORCH + (
              "from keras_nonlocal.weights import readers\n"
              f"kind, t = readers.read_tensors({path!r})\n"
              "print(kind, sorted(t), float(t['a'].sum()))")
    done = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True,
                          text=True, timeout=300)
    assert done.stdout.split()[:1] == ["pytorch"], done.stderr[-2000:]
    assert f"{float(expected['a'].sum()):.4f}"[:5] in done.stdout


def test_fine_tuning_from_a_preset_keeps_all_but_the_head(keras_home, rng):
    _release_file(keras_home / C2D_8X8.file_name, rng)
    full = zoo.c2d_r50(weights="kinetics400_8x8")
    tuned = zoo.c2d_r50(weights="kinetics400_8x8", classes=10)
    for layer in full.layers:
        if layer.weights and layer.name != "predictions":
            for a, b in zip(layer.get_weights(), tuned.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(a, b)
    assert tuned.output.shape[-1] == 10 and zoo.preprocessing_spec(tuned).class_names is None
    features = zoo.c2d_r50(weights="kinetics400_8x8", include_top=False)
    np.testing.assert_array_equal(features.get_layer("conv5_block3_3_conv").get_weights()[0],
                                  full.get_layer("conv5_block3_3_conv").get_weights()[0])


def test_a_built_in_preset_name_through_from_preset(keras_home, rng):
    """`VideoClassifier.from_preset("<model>_<preset>")` is the zoo builder
    with those weights; builder arguments pass through (fine-tuning)."""
    from keras_nonlocal import VideoClassifier

    _release_file(keras_home / C2D_8X8.file_name, rng)
    model = VideoClassifier.from_preset("c2d_r50_kinetics400_8x8")
    reference = zoo.c2d_r50(weights="kinetics400_8x8")
    assert model.get_config() == reference.get_config()
    for a, b in zip(_weights(model), _weights(reference)):
        np.testing.assert_array_equal(a, b)
    assert model.backbone.publisher == "release" and len(model.clip.class_names) == 400
    tuned = VideoClassifier.from_preset("c2d_r50_kinetics400_8x8", classes=10)
    assert tuned.classes == 10 and tuned.output.shape[-1] == 10


def test_a_file_path_of_any_format(keras_home, rng, tmp_path):
    """`weights=PATH` reads any supported file; the names tell the family's
    layout and normalisation (here a release file), the arguments the rest."""
    path = _release_file(tmp_path / "i3d_baseline_8x8.pkl", rng, model="i3d_r50")
    model = zoo.i3d_r50(weights=path, sampling="8x8")
    clip = zoo.preprocessing_spec(model)
    assert (clip.mean, clip.std) == ((114.75,) * 3, (57.375,) * 3)
    assert len(clip.class_names) == 400  # a 400-way Kinetics head
    kind, tensors = readers.read_tensors(path)
    np.testing.assert_array_equal(np.asarray(model.get_layer("predictions").bias),
                                  tensors["pred_b"])
    assert model.get_layer("conv3_block1_2_conv").strides == (1, 2, 2)  # publisher="release"


def test_convert_cli_then_load_with_nothing_else(keras_home, rng, tmp_path):
    """`keras-nonlocal convert`, then the .keras file loads in a process
    without PyTorch, its clip and 400 class names included."""
    path = _release_file(tmp_path / "i3d_nonlocal_8x8_IN_pretrain_400k.pkl", rng,
                         model="nl_i3d_r50")
    out = str(tmp_path / "nl_i3d.keras")
    done = run_cli("convert", path, out, "--model", "nl_i3d_r50", "--set", "sampling=8x8")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "400 class names" in done.stdout and "clip 8x8" in done.stdout
    script = NO_TORCH + (
              "import json, keras, keras_nonlocal\nfrom keras_nonlocal import zoo\n"
              f"m = keras.saving.load_model({out!r})\n"
              "c = zoo.preprocessing_spec(m)\n"
              "print(json.dumps([m.name, c.num_frames, c.frame_stride, len(c.class_names)]))")
    loaded = subprocess.run([sys.executable, "-c", script], env=ENV, capture_output=True,
                            text=True, timeout=300)
    assert json.loads(loaded.stdout.strip().splitlines()[-1]) == ["nl_i3d_r50", 8, 8, 400], \
        loaded.stderr[-2000:]


def test_predict_a_preset_prints_kinetics_names(keras_home, rng, tmp_path):
    import video_factory

    _release_file(keras_home / C2D_8X8.file_name, rng)
    video = video_factory.write_video(str(tmp_path / "v.mp4"), 70, width=80, height=64)
    done = run_cli("predict", "c2d_r50:kinetics400_8x8", video, "--clips", "1", "--crops", "1",
                   "--short-side", "64")
    assert done.returncode == 0, done.stderr[-3000:]
    names = [part.rsplit(" ", 1)[0] for part in done.stdout.strip().splitlines()[-1]
             .split(": ", 1)[1].split(", ")]
    kinetics = set(C2D_8X8.clip.class_names)
    assert len(names) == 5 and set(names) <= kinetics
