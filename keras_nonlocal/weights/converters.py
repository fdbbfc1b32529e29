"""Published tensor names onto a zoo model: strict, by name, checked first.

Every weight of the model is named in the source's scheme and filled from the
file; every tensor of the file must be used, except the kinds a format
carries beside the weights (Caffe2's `*_momentum`, `lr`, `model_iter`;
PyTorch's `num_batches_tracked`); shapes are compared. Any mismatch raises
before a single weight is assigned, naming the tensors.

Layouts differ: convolutions are `(O, I, T, H, W)` in Caffe2 and PyTorch and
`(T, H, W, I, O)` in Keras; fully connected weights `(out, in)` against
Keras' `(in, out)`; the 1x1x1 convolutions of a non-local block are Keras
`Dense` layers here.
"""

import re

import keras
import numpy as np

from keras_nonlocal.layers.affine import Affine
from keras_nonlocal.layers.nonlocal_block import NonLocalBase

BN_PARAMS = ("gamma", "beta", "moving_mean", "moving_variance")
_BLOCK = re.compile(r"^conv([2-5])_block(\d+)_([0-3])_(conv|bn)$")
_NONLOCAL = re.compile(r"^conv([2-5])_block(\d+)_nonlocal$")


class CheckpointNames:
    """How a publisher names the tensors of a video ResNet: the interface every
    naming scheme implements.

    `stage` is 2..5 (res2..res5, None for the stem), `block` is 1-based as
    the Keras layer names count (`conv3_block2_...`), `j` the unit of a
    bottleneck (0: the shortcut, 1..3: its convs). A scheme without names
    for a part (pytorchvideo's files have no non-local blocks) returns None
    for it, and a model with that part does not fit its files: the loader
    lists those weights as missing.
    """

    name = None
    # The publisher (`zoo.PUBLISHERS`) whose network a file in these names is
    # read as unless `publisher=` says otherwise (the release's Caffe2 names are
    # also PySlowFast's; a file is the release's network by default).
    publisher = None
    _BN = {}

    @classmethod
    def recognizes(cls, file_format, keys):
        """Whether a file of `file_format` (`"caffe2"`, `"pytorch"`) with the
        tensor names `keys` is written in this scheme."""
        raise NotImplementedError

    @classmethod
    def from_keys(cls, keys):
        """The scheme for a file with these tensor names (a scheme whose
        counting depends on the network reads it from the names)."""
        return cls()

    def conv(self, stage, block, j):
        """The conv kernel of a unit."""
        raise NotImplementedError

    def bn(self, stage, block, j, param):
        """A BN tensor (`BN_PARAMS`) of a unit."""
        raise NotImplementedError

    def fc(self, param):
        """The classifier's `"kernel"` or `"bias"`."""
        raise NotImplementedError

    def nonlocal_(self, stage, block, part, param):
        """A non-local block's projection (`theta`, `phi`, `g`, `out`) tensor."""
        return None

    def nonlocal_bn(self, stage, block, param):
        """A non-local block's BN tensor."""
        return None

    def ignored(self, key):
        """Whether a tensor of the file is not a weight (optimizer state, counters)."""
        return False


class ReleaseNames(CheckpointNames):
    """The original Caffe2 release (video-nonlocal-net), also PySlowFast's
    Caffe2 files: `res3_1_branch2a_w`, `nonlocal_conv3_1_theta_w`, `pred_w`."""

    name = "release"
    publisher = "release"
    _BN = dict(zip(BN_PARAMS, ("s", "b", "rm", "riv")))

    @classmethod
    def recognizes(cls, file_format, keys):
        return file_format == "caffe2"

    def _unit(self, stage, block, j):
        if stage is None:
            return "conv1", "res_conv1"
        unit = f"res{stage}_{block - 1}_branch" + ("1" if j == 0 else "2" + "abc"[j - 1])
        return unit, unit

    def conv(self, stage, block, j):
        return self._unit(stage, block, j)[0] + "_w"

    def bn(self, stage, block, j, param):
        return f"{self._unit(stage, block, j)[1]}_bn_{self._BN[param]}"

    def nonlocal_(self, stage, block, part, param):
        return f"nonlocal_conv{stage}_{block - 1}_{part}_{'w' if param == 'kernel' else 'b'}"

    def nonlocal_bn(self, stage, block, param):
        return f"nonlocal_conv{stage}_{block - 1}_bn_{self._BN[param]}"

    def fc(self, param):
        return "pred_w" if param == "kernel" else "pred_b"

    def ignored(self, key):
        return key.endswith("_momentum") or key in ("lr", "model_iter")


class _TorchNames(CheckpointNames):
    _BN = dict(zip(BN_PARAMS, ("weight", "bias", "running_mean", "running_var")))

    def ignored(self, key):
        return key.endswith("num_batches_tracked")


class PytorchvideoNames(_TorchNames):
    """pytorchvideo's `create_resnet` (its hub's `c2d_r50`, `i3d_r50`):
    `blocks.0.conv.weight`, `blocks.1.res_blocks.0.branch2.conv_a.weight`,
    `blocks.6.proj.weight` (block 2 is the temporal pool). No non-local
    blocks: its hub builds none."""

    name = "pytorchvideo"
    publisher = "pytorchvideo"

    @classmethod
    def recognizes(cls, file_format, keys):
        return file_format == "pytorch" and any(k.startswith("blocks.0.") for k in keys)

    @classmethod
    def from_keys(cls, keys):
        # With the pool, block 2 is the pool and res5 is block 5 (head 6);
        # without it res5 is block 4 and block 5 the head.
        return cls(any(k.startswith(("blocks.5.res_blocks.", "blocks.6.")) for k in keys))

    def __init__(self, pool2=True):
        self.stages = {2: 1, 3: 3, 4: 4, 5: 5} if pool2 else {2: 1, 3: 2, 4: 3, 5: 4}
        self.head = 6 if pool2 else 5

    def _unit(self, stage, block, j):
        if stage is None:
            return "blocks.0.conv", "blocks.0.norm"
        prefix = f"blocks.{self.stages[stage]}.res_blocks.{block - 1}."
        if j == 0:
            return prefix + "branch1_conv", prefix + "branch1_norm"
        return prefix + f"branch2.conv_{'abc'[j - 1]}", prefix + f"branch2.norm_{'abc'[j - 1]}"

    def conv(self, stage, block, j):
        return self._unit(stage, block, j)[0] + ".weight"

    def bn(self, stage, block, j, param):
        return f"{self._unit(stage, block, j)[1]}.{self._BN[param]}"

    def fc(self, param):
        return f"blocks.{self.head}.proj." + ("weight" if param == "kernel" else "bias")


class MmactionNames(_TorchNames):
    """mmaction2's `ResNet3d` recognizers: `backbone.layer2.1.conv1.conv.weight`,
    `backbone.layer2.1.non_local_block.phi.0.conv.weight`, `cls_head.fc_cls.weight`."""

    name = "mmaction2"
    publisher = "mmaction2"
    _PARTS = {"theta": "theta.conv", "phi": "phi.0.conv", "g": "g.0.conv", "out": "conv_out.conv"}

    @classmethod
    def recognizes(cls, file_format, keys):
        return file_format == "pytorch" and any(k.startswith("backbone.conv1.") for k in keys)

    def _unit(self, stage, block, j):
        if stage is None:
            return "backbone.conv1"
        prefix = f"backbone.layer{stage - 1}.{block - 1}."
        return prefix + ("downsample" if j == 0 else f"conv{j}")

    def conv(self, stage, block, j):
        return self._unit(stage, block, j) + ".conv.weight"

    def bn(self, stage, block, j, param):
        return f"{self._unit(stage, block, j)}.bn.{self._BN[param]}"

    def nonlocal_(self, stage, block, part, param):
        return (f"backbone.layer{stage - 1}.{block - 1}.non_local_block.{self._PARTS[part]}."
                + ("weight" if param == "kernel" else "bias"))

    def nonlocal_bn(self, stage, block, param):
        return f"backbone.layer{stage - 1}.{block - 1}.non_local_block.conv_out.bn.{self._BN[param]}"

    def fc(self, param):
        return "cls_head.fc_cls." + ("weight" if param == "kernel" else "bias")


def _conv_kernel(value):
    return np.transpose(value, (2, 3, 4, 1, 0))


def _dense_from_conv(value):
    return np.reshape(value, value.shape[:2]).T


def _transpose(value):
    return np.transpose(value)


def _same(value):
    return value


def targets(model, names):
    """`[(variable, source key, transform)]` for every weight of a zoo model."""
    found = []
    for layer in model.layers:
        if not layer.weights:
            continue
        if isinstance(layer, NonLocalBase):
            stage, block = (int(g) for g in _NONLOCAL.match(layer.name).groups())
            for part in ("theta", "phi", "g", "out"):
                dense = getattr(layer, part, None)
                if dense is None:
                    continue
                found.append((dense.kernel, names.nonlocal_(stage, block, part, "kernel"),
                              _dense_from_conv))
                if dense.use_bias:
                    found.append((dense.bias, names.nonlocal_(stage, block, part, "bias"),
                                  _same))
            if getattr(layer, "concat_project", None) is not None:
                raise ValueError(f"{layer.name}: no published checkpoint has concatenation "
                                 f"blocks. Received: mode='concatenation'")
            if layer.normalization == "batch_norm":
                for param in BN_PARAMS:
                    found.append((getattr(layer.bn, param),
                                  names.nonlocal_bn(stage, block, param), _same))
            elif layer.normalization == "affine":  # a frozen BN: its scale and bias
                for weight, param in ((layer.bn.scale, "gamma"), (layer.bn.bias, "beta")):
                    found.append((weight, names.nonlocal_bn(stage, block, param), _same))
            continue
        if layer.name == "predictions":
            found.append((layer.kernel, names.fc("kernel"), _transpose))
            found.append((layer.bias, names.fc("bias"), _same))
            continue
        match = _BLOCK.match(layer.name)
        if match:
            stage, block, j, kind = int(match[1]), int(match[2]), int(match[3]), match[4]
        elif layer.name in ("conv1_conv", "conv1_bn"):
            stage, block, j, kind = None, None, None, layer.name.split("_")[1]
        else:
            raise ValueError(f"{model.name}: layer {layer.name} has no counterpart in published "
                             f"checkpoints. Received: {layer.name}")
        if kind == "conv":
            found.append((layer.kernel, names.conv(stage, block, j), _conv_kernel))
        elif isinstance(layer, Affine):  # a frozen BN: the file's scale and bias
            for weight, param in ((layer.scale, "gamma"), (layer.bias, "beta")):
                found.append((weight, names.bn(stage, block, j, param), _same))
        else:
            for param in BN_PARAMS:
                found.append((getattr(layer, param), names.bn(stage, block, j, param), _same))
    return found


def assign(model, tensors, names, source, skip=()):
    """Fills every weight of `model` from `tensors` (named as `names` says).

    Args:
        model: a zoo model built with the source's architecture.
        tensors: `{name: ndarray}` from `readers.read_tensors`.
        names: a naming scheme (a `CheckpointNames`).
        source: the file, for messages.
        skip: layer names left as they are (a new classifier), whose tensors
            in the file are then unused on purpose.

    Raises:
        ValueError: naming every weight without a tensor, every tensor of the
            file left unused and every shape mismatch, before any assignment.
    """
    planned, missing, mismatched, used = [], [], [], set()
    skipped = set()
    for variable, key, transform in targets(model, names):
        if variable.path.split("/")[0] in skip:
            skipped.add(key)
            continue
        if key is None:
            missing.append(f"{variable.path} <- (none: {names.name}'s checkpoints name no such "
                           f"tensor)")
            continue
        if key not in tensors:
            missing.append(f"{variable.path} <- {key}")
            continue
        used.add(key)
        value = transform(np.asarray(tensors[key]))
        if tuple(value.shape) != tuple(variable.shape):
            mismatched.append(f"{variable.path} {tuple(variable.shape)} <- {key} "
                              f"{tuple(tensors[key].shape)}")
            continue
        planned.append((variable, value))
    if "predictions" in skip:  # a new classifier: the file's is unused on purpose
        skipped.update(names.fc(p) for p in ("kernel", "bias"))
    unused = sorted(k for k in tensors
                    if k not in used and k not in skipped and not names.ignored(k))
    if missing or unused or mismatched:
        lines = ([f"missing in the file: {m}" for m in missing]
                 + [f"unused tensor of the file: {u}" for u in unused]
                 + [f"shape mismatch: {m}" for m in mismatched])
        shown = "\n  ".join(lines[:40]) + ("\n  ..." if len(lines) > 40 else "")
        raise ValueError(
            f"{source} does not fit {model.name} ({names.name} names): {len(missing)} weights "
            f"without a tensor, {len(unused)} tensors unused, {len(mismatched)} shapes differ:"
            f"\n  {shown}")
    for variable, value in planned:
        variable.assign(value.astype(keras.backend.standardize_dtype(variable.dtype)))
    return len(planned)
