"""The external implementations the weight tests compare against.

Each is the real package, installed by the Makefile: PySlowFast 1.0
(`slowfast==1.0`, `--no-deps`), mmaction2 1.2.0 (`--no-deps`, with mmengine
0.10.7 and mmcv-lite 2.1.0) and pytorchvideo 0.1.5. What each needs to run
here, and every patch made to a reference network, is stated where it is
done, with the reason:

- PySlowFast: `detectron2` is not on PyPI; only its AVA head imports
  `detectron2.layers.ROIAlign`, replaced by a stub class that is never built.
  `build_model` moves the model to CUDA: `ResNetModel(cfg)` is built directly.
- mmaction2: the 1.2.0 wheel lacks `mmaction/models/localizers/drn/`, which
  `localizers/__init__.py` imports; a placeholder module stands in (the
  localizer is never built).
- pytorchvideo: its models import `torchvision.ops.RoIAlign` for the
  detection head only (stubbed by `helpers.import_pytorchvideo_hub`).

Random weights: the references' own initialisations are degenerate for a
parity test (PySlowFast zero-initialises the last BN of every branch and of
every non-local block, so those blocks are identities; mmaction2's gives
logits of 100-1000 and NaN for dot-product blocks), so every tensor is drawn
anew from a seeded generator, scaled so that logits stay O(1-50) and every
non-local block changes its input.
"""

import os
import re
import sys
import types

import numpy as np

import caffe2_pickle

# ---------------------------------------------------------------- weights

_QK = re.compile(r"(theta|phi)(\.0)?(\.conv)?(_w|\.weight)$|conv_(theta|phi)\.weight$")
_FINAL_BN = re.compile(r"(branch2\.c_bn|_nonlocal\d+\.bn|conv3\.bn|conv_out\.bn|norm_c)\.weight$"
                       r"|(branch2c_bn|nonlocal_conv\d_\d+_bn)_s$")


def random_tensor(name, shape, rng):
    """A well-scaled random value for a tensor of any of the naming schemes:
    convolutions He-normal (theta/phi x0.1: the affinity neither overflows
    nor saturates), BN scales around 1 (0.1-0.4 for a branch's or a block's
    last BN), running variances in [0.5, 2], small biases and means."""
    if name.endswith(("running_var", "_riv")):
        return rng.uniform(0.5, 2.0, shape)
    if name.endswith(("running_mean", "_rm", "bias", "_b")) or (
            name.endswith("_bn_b")):
        return rng.normal(0.0, 0.1, shape)
    if len(shape) == 1:  # a BN scale
        return rng.uniform(0.1, 0.4, shape) if _FINAL_BN.search(name) else rng.uniform(0.5, 1.5, shape)
    fan_in = int(np.prod(shape[1:]))
    value = rng.normal(0.0, np.sqrt(2.0 / fan_in), shape)
    return value * 0.1 if _QK.search(name) else value


def randomize_torch(model, seed):
    """Every float parameter and buffer of a torch model, drawn anew."""
    import torch

    rng = np.random.default_rng(seed)
    state = {}
    for name, value in model.state_dict().items():
        if torch.is_floating_point(value):
            state[name] = torch.from_numpy(
                random_tensor(name, tuple(value.shape), rng).astype(np.float32))
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and all(m.endswith("num_batches_tracked") for m in missing)
    return model


def calibrate_bn(model, forward, x, skip=re.compile(r"conv_out\.bn$")):
    """Sets the trunk BNs' running statistics to those of one batch (mmaction2
    with random weights overflows otherwise); the non-local blocks' BNs keep
    their random values (with near-uniform attention their input hardly
    varies, and batch statistics would blow it up)."""
    import torch

    norms = [(n, m) for n, m in model.named_modules()
             if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    for name, module in norms:
        if not skip.search(name):
            module.reset_running_stats()
            module.momentum = None  # the cumulative average: one batch's statistics
    model.train()
    for name, module in norms:
        if skip.search(name):
            module.eval()
    with torch.no_grad():
        forward(model, x)
    model.eval()
    return model


# ------------------------------------------------ the original release's names

STAGES = {50: (3, 4, 6, 3)}
I3D_TEMPORAL = {2: [1, 1, 1], 3: [1, 0, 1, 0], 4: [1, 0, 1, 0, 1, 0], 5: [0, 1, 0]}


def release_blob_shapes(i3d, nonlocal_, classes=400):
    """`{blob: shape}` of a release R50 (video-nonlocal-net's resnet_helper,
    nonlocal_helper and model_builder_video), written from its code, not from
    any library's model."""
    shapes = {}

    def bn(prefix, channels):
        for suffix in ("s", "b", "rm", "riv"):
            shapes[f"{prefix}_{suffix}"] = (channels,)

    shapes["conv1_w"] = (64, 3, 5 if i3d else 1, 7, 7)
    bn("res_conv1_bn", 64)
    dim_in = 64
    for stage, blocks in zip((2, 3, 4, 5), STAGES[50]):
        dim_out, inner = 256 * 2 ** (stage - 2), 64 * 2 ** (stage - 2)
        for i in range(blocks):
            prefix = f"res{stage}_{i}"
            kt = 3 if i3d and I3D_TEMPORAL[stage][i] else 1
            shapes[prefix + "_branch2a_w"] = (inner, dim_in, kt, 1, 1)
            bn(prefix + "_branch2a_bn", inner)
            shapes[prefix + "_branch2b_w"] = (inner, inner, 1, 3, 3)
            bn(prefix + "_branch2b_bn", inner)
            shapes[prefix + "_branch2c_w"] = (dim_out, inner, 1, 1, 1)
            bn(prefix + "_branch2c_bn", dim_out)
            if i == 0:
                shapes[prefix + "_branch1_w"] = (dim_out, dim_in, 1, 1, 1)
                bn(prefix + "_branch1_bn", dim_out)
            dim_in = dim_out
            if nonlocal_ and stage in (3, 4) and i % 2 == 1:  # NONLOCAL.LAYER_MOD 2
                name = f"nonlocal_conv{stage}_{i}"
                for part in ("theta", "phi", "g"):
                    shapes[f"{name}_{part}_w"] = (dim_out // 2, dim_out, 1, 1, 1)
                    shapes[f"{name}_{part}_b"] = (dim_out // 2,)
                shapes[name + "_out_w"] = (dim_out, dim_out // 2, 1, 1, 1)
                shapes[name + "_out_b"] = (dim_out,)
                bn(name + "_bn", dim_out)
    shapes["pred_w"] = (classes, 2048)
    shapes["pred_b"] = (classes,)
    return shapes


def write_release_checkpoint(path, i3d, nonlocal_, seed):
    """A Caffe2 checkpoint as the release wrote it (Python 2 pickle,
    `{"blobs": ...}`), random weights plus the bookkeeping blobs a save
    holds (`model_iter`, `lr`, `*_momentum`; the momenta are 1-element
    stand-ins here, where a real save has full-size ones: loaders skip them
    by name, and the files stay half as large)."""
    rng = np.random.default_rng(seed)
    blobs = {}
    for name, shape in release_blob_shapes(i3d, nonlocal_).items():
        blobs[name] = random_tensor(name, shape, rng).astype(np.float32)
        if not name.endswith(("_rm", "_riv")):
            blobs[name + "_momentum"] = np.zeros((1,), np.float32)
    blobs["model_iter"] = np.array([400000], np.int64)
    blobs["lr"] = np.array([1e-4], np.float32)
    return caffe2_pickle.write_checkpoint(path, blobs)


# ---------------------------------------------------------------- PySlowFast


def import_pyslowfast():
    if "detectron2.layers" not in sys.modules:
        detectron2 = types.ModuleType("detectron2")
        layers = types.ModuleType("detectron2.layers")
        layers.ROIAlign = type("ROIAlign", (), {})  # AVA head only; never built here
        detectron2.layers = layers
        sys.modules.update({"detectron2": detectron2, "detectron2.layers": layers})
    from slowfast.config.defaults import get_cfg
    from slowfast.models.video_model_builder import ResNetModel
    from slowfast.utils import checkpoint

    return get_cfg, ResNetModel, checkpoint


def pyslowfast_model(arch, nonlocal_, geometry, logits=True):
    """PySlowFast 1.0's ResNetModel as its Kinetics/c2 configs build it
    (R50, 8x8, NONLOCAL softmax after res3 blocks 1, 3 and res4 1, 3, 5).

    Args:
        arch: "c2d", "i3d" or "c2d_nopool".
        geometry: "pyslowfast" (as it is: stem pool padded), "release_8x8"
            or "release_32x2" (patched to the original release's networks).

    Patches, each mirroring the network that made the release's files:
    - "release_8x8" (resnet_video.py): pool1 1x3x3 stride (1, 2, 2) with no
      padding (Caffe2; PySlowFast pads 1): 112 -> 55.
    - "release_32x2" (resnet_video_org.py): conv1 temporal stride 2 and pool1
      2x3x3 stride 2, unpadded. NUM_FRAMES stays 8 in the config so that its
      head pools (4, 7, 7), what the release's pool5 does at 32 frames.
    - `logits=True`: the 1.0 head applies its softmax in eval
      unconditionally (per window, then the windows' mean); `head.act`
      becomes the identity. `logits=False` keeps its softmax.
    """
    import torch.nn as nn

    get_cfg, resnet, _ = import_pyslowfast()
    cfg = get_cfg()
    cfg.MODEL.ARCH = arch
    cfg.MODEL.NUM_CLASSES = 400
    cfg.MODEL.DROPOUT_RATE = 0.5
    cfg.DATA.NUM_FRAMES = 8
    cfg.DATA.TRAIN_CROP_SIZE = 224
    cfg.DATA.INPUT_CHANNEL_NUM = [3]
    cfg.RESNET.DEPTH = 50
    cfg.RESNET.ZERO_INIT_FINAL_BN = True
    cfg.RESNET.TRANS_FUNC = "bottleneck_transform"
    cfg.RESNET.STRIDE_1X1 = False
    cfg.RESNET.NUM_BLOCK_TEMP_KERNEL = [[3], [4], [6], [3]]
    cfg.NONLOCAL.LOCATION = ([[[]], [[1, 3]], [[1, 3, 5]], [[]]] if nonlocal_
                             else [[[]], [[]], [[]], [[]]])
    cfg.NONLOCAL.GROUP = [[1], [1], [1], [1]]
    cfg.NONLOCAL.INSTANTIATION = "softmax"
    cfg.NUM_GPUS = 0
    model = resnet(cfg)
    stem = model.s1.pathway0_stem
    if geometry == "release_8x8":
        stem.pool_layer = nn.MaxPool3d((1, 3, 3), stride=(1, 2, 2), padding=0)
    elif geometry == "release_32x2":
        stem.conv.stride = (2, 2, 2)
        stem.pool_layer = nn.MaxPool3d((2, 3, 3), stride=(2, 2, 2), padding=0)
    else:
        assert geometry == "pyslowfast", geometry
    if logits:
        model.head.act = nn.Identity()
    return model.eval()


def pyslowfast_load_caffe2(model, path):
    """PySlowFast's own Caffe2 converter; it ignores what it cannot map, so
    coverage is checked here: every parameter and statistic filled."""
    import torch

    _, _, checkpoint = import_pyslowfast()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    checkpoint.load_checkpoint(path, model, data_parallel=False, convert_from_caffe2=True)
    after = model.state_dict()
    unchanged = [k for k, v in after.items() if not k.endswith("num_batches_tracked")
                 and torch.equal(v, before[k])]
    assert not unchanged, f"PySlowFast left unfilled: {unchanged[:5]}"
    return model


def pyslowfast_logits(model, clip):
    import torch

    with torch.no_grad():
        return model([torch.from_numpy(clip)]).numpy()


# ---------------------------------------------------------------- mmaction2

MMACTION_CONFIGS = {
    None: "i3d_imagenet-pretrained-r50_8xb8-32x2x1-100e_kinetics400-rgb.py",
    "dot_product": "i3d_imagenet-pretrained-r50-nl-dot-product_8xb8-32x2x1-100e_kinetics400-rgb.py",
    "embedded_gaussian": "i3d_imagenet-pretrained-r50-nl-embedded-gaussian_8xb8-32x2x1-100e_"
                         "kinetics400-rgb.py",
    "gaussian": "i3d_imagenet-pretrained-r50-nl-gaussian_8xb8-32x2x1-100e_kinetics400-rgb.py",
}


def import_mmaction():
    for name in ("mmaction.models.localizers.drn", "mmaction.models.localizers.drn.drn"):
        if name not in sys.modules:
            module = types.ModuleType(name)
            module.__path__ = []
            sys.modules[name] = module
    sys.modules["mmaction.models.localizers.drn.drn"].DRN = type("DRN", (), {})
    import mmaction
    import mmaction.models  # noqa: F401 -- registers the models
    from mmaction.registry import MODELS
    from mmengine.config import Config
    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope

    init_default_scope("mmaction")
    MMLogger.get_current_instance().setLevel("WARNING")
    return mmaction, MODELS, Config


def mmaction_model(nonlocal_mode, seed):
    """mmaction2's recognizer built from its own config file (shipped in the
    wheel's .mim folder), random weights, BN statistics from one batch.
    Patch: `pretrained=None` (the config names torchvision's ImageNet
    ResNet-50, which init_weights would download)."""
    import torch

    mmaction, registry, config = import_mmaction()
    folder = os.path.join(os.path.dirname(mmaction.__file__), ".mim", "configs", "recognition",
                          "i3d")
    cfg = config.fromfile(os.path.join(folder, MMACTION_CONFIGS[nonlocal_mode]))
    cfg.model.backbone.pretrained = None
    model = registry.build(cfg.model)
    randomize_torch(model, seed)
    calibration = torch.from_numpy(
        np.random.default_rng(seed + 1).normal(size=(2, 3, 32, 224, 224)).astype(np.float32))
    return calibrate_bn(model, mmaction_logits_torch, calibration)


def mmaction_logits_torch(model, x):
    return model(x[:, None], mode="tensor", stage="head")  # raw cls_score: (N, 400)


def mmaction_logits(model, clip):
    import torch

    with torch.no_grad():
        return mmaction_logits_torch(model, torch.from_numpy(clip)).numpy()


# ---------------------------------------------------------------- writing PyTorch files


def torch_save(path, content):
    import torch

    torch.save(content, path)
    return str(path)


def state_dict(model):
    return model.state_dict()
