"""The publisher record: one frozen record per published implementation,
read by the builders, the loaders and the clip alike."""

import dataclasses

import pytest

from keras_nonlocal import zoo
from keras_nonlocal.weights import converters
from keras_nonlocal.zoo import publishers


def test_one_frozen_record_per_publisher():
    assert list(zoo.PUBLISHERS) == ["paper", "release", "pyslowfast", "pytorchvideo",
                                    "mmaction2"]
    record = zoo.PUBLISHERS["release"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.stride_on = "1x1"
    with pytest.raises(TypeError):
        record.time["8x8"] = None
    for publisher in zoo.PUBLISHERS.values():
        assert set(publisher.time) == set(zoo.SAMPLINGS)
        names = publisher.checkpoint_names
        assert names is None or issubclass(names, converters.CheckpointNames)
    with pytest.raises(ValueError, match=r"Did you mean 'pytorchvideo'.*Received: "
                                         r"publisher='pytorchvidoe'"):
        publishers.publisher("pytorchvidoe")


@pytest.mark.parametrize("layout,sampling,pool1,conv1,strided", [
    ("paper", "32x2", (3, 2), 2, "conv3_block1_1_conv"),
    ("release", "32x2", (2, 2), 2, "conv3_block1_2_conv"),
    ("release", "8x8", (1, 1), 1, "conv3_block1_2_conv"),
    ("pyslowfast", "8x8", (1, 1), 1, "conv3_block1_2_conv"),
    ("mmaction2", "32x2", (1, 2), 2, "conv3_block1_2_conv"),
])
def test_the_builders_build_what_the_record_says(layout, sampling, pool1, conv1, strided):
    model = zoo.nl_i3d_r50(publisher=layout, sampling=sampling, base_width=8, classes=2)
    assert model.get_layer("pool1_pool").pool_size[0] == pool1[0]
    assert model.get_layer("pool1_pool").strides[0] == pool1[1]
    assert model.get_layer("conv1_conv").strides[0] == conv1
    assert model.get_layer(strided).strides == (1, 2, 2)
    padded = zoo.PUBLISHERS[layout].pool_padding == "symmetric"
    assert ("pool1_pad" in [layer.name for layer in model.layers]) == padded
    block = model.get_layer("conv3_block2_nonlocal")
    for key, value in zoo.PUBLISHERS[layout].nonlocal_block.items():
        assert getattr(block, key) == value


def test_a_local_file_is_read_as_its_names_publisher():
    release, names = publishers.checkpoint_names("caffe2", ["res_conv1_bn_s", "pred_w"])
    assert release.name == "release" and names.name == "release"  # not PySlowFast
    pytorchvideo, names = publishers.checkpoint_names("pytorch", ["blocks.0.conv.weight"])
    assert pytorchvideo.file_sampling == "8x8" and names.head == 5  # no res5 at block 5: no pool
    mmaction2, _ = publishers.checkpoint_names("pytorch", ["backbone.conv1.conv.weight"])
    assert mmaction2.name == "mmaction2"
    with pytest.raises(ValueError, match=r"Unknown tensor names in a pytorch file \(supported: "
                                         r"release, pytorchvideo, mmaction2\)\. Received: x, y"):
        publishers.checkpoint_names("pytorch", ["x", "y"])
