"""keras.applications' ImageNet files through the package's one Keras cache
folder (`cache.keras_home()`, read when a model is built)."""

import hashlib

import pytest

from keras_nonlocal.weights import imagenet


def test_the_file_comes_from_the_folder_named_at_call_time(tmp_path, monkeypatch):
    """KERAS_HOME set after Keras was imported is the folder read (Keras'
    own `weights="imagenet"` would read the folder fixed at its import)."""
    name = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
    folder = tmp_path / "set_later"
    (folder / "models").mkdir(parents=True)
    (folder / "models" / name).write_bytes(b"a stand-in for the ImageNet file")
    digest = hashlib.sha256(b"a stand-in for the ImageNet file").hexdigest()
    monkeypatch.setitem(imagenet.IMAGENET_FILES, ("ResNet50", False), (name, digest))
    monkeypatch.setenv("KERAS_HOME", str(folder))
    assert imagenet.imagenet_weights_file("ResNet50", False) == str(folder / "models" / name)


def test_no_imagenet_resnet_of_another_depth():
    with pytest.raises(ValueError, match=r"No ImageNet weights exist for a ResNet-14 video "
                                         r"model .*Received: depth=14"):
        imagenet.imagenet_resnet(14)
