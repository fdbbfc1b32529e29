"""The zoo's builders: thin functions over one options record, one default
normalisation, and strict loading whatever the weights' naming scheme."""

import inspect

import keras
import numpy as np
import pytest

from keras_nonlocal import Clip
from keras_nonlocal import zoo
from keras_nonlocal.models import video_resnet
from keras_nonlocal.weights import converters


def test_every_builder_shows_every_option_and_refuses_others():
    """One record (`ModelOptions`) gives every builder its arguments: adding
    one there adds it everywhere; `inflate` is an I3D argument only."""
    from keras_nonlocal.zoo.options import ModelOptions

    fields = [f for f in inspect.signature(ModelOptions).parameters]
    for name in zoo.list_models("video"):
        builder = zoo.model_info(name).builder
        shown = list(inspect.signature(builder).parameters)
        expected = [f for f in fields if f != "inflate" or "i3d" in name]
        assert shown == expected, name
        assert inspect.signature(builder).parameters["name"].default == name
        for argument in expected:
            assert f"        {argument}: " in builder.__doc__, (name, argument)
    with pytest.raises(TypeError, match=r"c2d_r50\(\) got an unexpected keyword argument "
                                        r"'inflate'"):
        zoo.c2d_r50(inflate="3x1x1")
    with pytest.raises(TypeError, match="unexpected keyword argument 'clases'"):
        zoo.nl_i3d_r50(clases=3)


def test_one_default_normalisation_whatever_the_entry_point():
    """Before: `Clip()` and `video_resnet()` recorded the release's RGB
    normalisation, `zoo.c2d_r50()` without weights keras.applications'
    caffe BGR. Now every model without weights records the release's (its
    publisher's), and only ImageNet weights bring caffe BGR."""
    expected = Clip().normalization
    assert expected == zoo.PUBLISHERS["paper"].normalization
    assert zoo.preprocessing_spec(video_resnet()).normalization == expected
    for name in ("c2d_r50", "nl_i3d_r50"):
        model = zoo.build(name, base_width=8, classes=2)
        assert zoo.preprocessing_spec(model).normalization == expected, name
    for layout in ("release", "pyslowfast", "pytorchvideo"):
        model = zoo.i3d_r50(base_width=8, classes=2, publisher=layout)
        assert zoo.preprocessing_spec(model).normalization == expected, layout
    mmaction = zoo.i3d_r50(base_width=8, classes=2, publisher="mmaction2")
    assert zoo.preprocessing_spec(mmaction).normalization == (
        zoo.PUBLISHERS["mmaction2"].normalization)


def _pytorchvideo_file(model, path, pool2=True):
    """`model`'s weights written as a pytorchvideo `.pyth` (its tensor names
    and PyTorch layouts), as torch.save writes the hub's files."""
    import torch

    names = converters.PytorchvideoNames(pool2)
    state = {}
    for variable, key, _ in converters.targets(model, names):
        value = np.asarray(keras.ops.convert_to_numpy(variable))
        if value.ndim == 5:
            value = np.transpose(value, (4, 3, 0, 1, 2))
        elif value.ndim == 2:
            value = value.T
        state[key] = torch.from_numpy(np.ascontiguousarray(value))
    torch.save({"model_state": state}, path)
    return str(path)


@pytest.mark.parametrize("pool2", [True, False])
def test_a_pytorchvideo_file_by_path_with_and_without_the_pool_after_res2(tmp_path, pool2):
    """The scheme tells from the names whether res5 is block 5 or 4. (Before,
    a file given by path was always read as having the pool: one without it
    was refused, its res3-res5 and head tensors named missing.)"""
    pytest.importorskip("torch")
    args = dict(sampling="8x8", publisher="pytorchvideo", base_width=8, pool2=pool2, classes=400)
    source = zoo.i3d_r50(**args)
    path = _pytorchvideo_file(source, tmp_path / "I3D_8x8_R50.pyth", pool2)
    loaded = zoo.i3d_r50(weights=path, **args)
    for a, b in zip(source.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_a_file_whose_scheme_has_no_nonlocal_names_is_refused_naming_them(tmp_path):
    """pytorchvideo publishes no non-local model: its file given to an NL
    builder raised AttributeError ('PytorchvideoNames' object has no attribute
    'nonlocal_'); now the strict loader's ValueError lists the block's weights."""
    pytest.importorskip("torch")
    args = dict(sampling="8x8", publisher="pytorchvideo", base_width=8)
    path = _pytorchvideo_file(zoo.i3d_r50(**args), tmp_path / "I3D_8x8_R50.pyth")
    assert np.asarray(zoo.i3d_r50(weights=path, **args).get_layer("conv1_conv").kernel).any()
    with pytest.raises(ValueError, match=r"does not fit nl_i3d_r50 \(pytorchvideo names\): "
                                         r"\d+ weights without a tensor, 0 tensors unused") as info:
        zoo.nl_i3d_r50(weights=path, **args)
    assert ("conv3_block2_nonlocal/theta/kernel <- (none: pytorchvideo's checkpoints name no "
            "such tensor)") in str(info.value)


def test_every_naming_scheme_names_every_part_or_says_it_has_none():
    """The schemes share one interface (`CheckpointNames`): each names the
    trunk and the head, and the non-local parts or None, never an error."""
    schemes = {p.checkpoint_names for p in zoo.PUBLISHERS.values() if p.checkpoint_names}
    assert len(schemes) == 3
    for scheme in schemes:
        names = scheme()
        assert issubclass(scheme, converters.CheckpointNames)
        assert isinstance(names.conv(3, 1, 2), str) and isinstance(names.fc("kernel"), str)
        for param in converters.BN_PARAMS:
            assert isinstance(names.bn(None, None, None, param), str)
        for part in ("theta", "phi", "g", "out"):
            key = names.nonlocal_(3, 2, part, "kernel")
            assert key is None or isinstance(key, str)
        assert (names.nonlocal_(3, 2, "theta", "kernel") is None) == (
            scheme is converters.PytorchvideoNames)


def test_layout_is_renamed_publisher_and_still_works_with_a_warning():
    """`layout=` said "publisher" in a word that means memory order elsewhere
    (Keras' LayoutMap): renamed, and the old name works for this release, in
    a builder, a recipe and `--set`, with a warning naming the new one."""
    from keras_nonlocal import cli
    from keras_nonlocal import training

    with pytest.warns(UserWarning, match=r"c2d_r14\(\): `layout` is renamed `publisher`"):
        model = zoo.c2d_r14(base_width=8, classes=2, layout="mmaction2")
    assert model.backbone.publisher == "mmaction2"
    with pytest.raises(ValueError, match=r"`layout` is the old name of `publisher`; give one"):
        zoo.c2d_r14(base_width=8, layout="mmaction2", publisher="release")
    with pytest.warns(UserWarning, match="override: `layout` is renamed `publisher`"):
        assert training.load_recipe(None, ["layout=release"]).publisher == "release"
    # `base_lr` was the rate at a batch of 64 whatever the batch: lr_at_batch_64
    with pytest.warns(UserWarning, match="override: `base_lr` is renamed `lr_at_batch_64`"):
        assert training.load_recipe(None, ["base_lr=0.02"]).lr_at_batch_64 == 0.02
    with pytest.warns(UserWarning, match=r"--set: `layout` is renamed `publisher`"):
        assert cli._builder_options("c2d_r14", ["layout=release"]) == {"publisher": "release"}
