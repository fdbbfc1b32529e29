"""Reading published checkpoint files safely, without their frameworks.

Two formats carry the published C2D / I3D / NL-I3D weights:

- Caffe2 pickles (`.pkl`, the original release and PySlowFast's Caffe2 rows):
  Python 2 pickles of `{"blobs": {name: ndarray}}` (or the flat dict).
- PyTorch files (`.pyth`, `.pth`): `torch.save` zip archives (a `data.pkl`
  whose tensors point to raw storages in `data/`).

Unpickling is code execution, so neither is read with `pickle.load`: a
restricted unpickler resolves only what arrays and tensors need (numpy's
array and scalar reconstructors, dtypes, `collections.OrderedDict`, torch's
tensor rebuilders and storage types, `_codecs.encode`), builds NumPy arrays
itself (PyTorch need not be installed) and refuses a file that names
anything else. Formats are told by content, never by extension: a `.pkl`
on the PySlowFast zoo was once a tar archive, another a PyTorch file.
"""

import collections
import io
import os
import pickle
import zipfile

import numpy as np


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read (unknown, truncated, unsafe)."""


class UnsafeCheckpointError(CheckpointError):
    """A checkpoint whose pickle names something other than data."""


def _numpy_global(name):
    core = getattr(np, "_core", None) or np.core
    return getattr(core.multiarray, name)


# What a pickled NumPy array or scalar needs (Python 2 spells the module
# numpy.core.multiarray; NumPy 2 moved it to numpy._core).
_NUMPY = {
    (module, name): lambda name=name: _numpy_global(name)
    for module in ("numpy.core.multiarray", "numpy._core.multiarray")
    for name in ("_reconstruct", "scalar")
}
_NUMPY.update({("numpy", "ndarray"): lambda: np.ndarray, ("numpy", "dtype"): lambda: np.dtype})


def _encode(text, encoding="latin1"):
    """`_codecs.encode`: how protocol-2 pickles from Python 3 store bytes."""
    return text.encode(encoding)


class _RestrictedUnpickler(pickle.Unpickler):
    """Resolves only the globals in `allowed` ({(module, name): factory})."""

    allowed = _NUMPY

    def __init__(self, file, path, **kwargs):
        super().__init__(file, **kwargs)
        self.path = path

    def find_class(self, module, name):
        factory = self.allowed.get((module, name))
        if factory is None:
            raise UnsafeCheckpointError(
                f"{self.path}: refusing to load: the pickle names {module}.{name}, which is not "
                "array data (unpickling it could run code). Received: "
                f"{os.path.basename(str(self.path))}")
        return factory()


# ---------------------------------------------------------------- Caffe2


def read_caffe2(path):
    """The blobs of a Caffe2 pickle: `{name: ndarray}` (non-array entries such
    as a Python int `model_iter` come back as 0-d arrays)."""
    with open(path, "rb") as f:
        try:
            content = _RestrictedUnpickler(f, path, encoding="latin1").load()
        except UnsafeCheckpointError:
            raise
        except (EOFError, pickle.UnpicklingError, ValueError, TypeError, IndexError,
                MemoryError, AttributeError) as error:
            raise CheckpointError(f"{path}: truncated or corrupt Caffe2 pickle "
                                  f"({type(error).__name__}: {error}). Received: {path}") from None
    if isinstance(content, dict) and isinstance(content.get("blobs"), dict):
        content = content["blobs"]  # checkpoints.save_model_params; a flat dict otherwise
    if not isinstance(content, dict):
        raise CheckpointError(f"{path}: a Caffe2 checkpoint is a dict of blobs; this pickle "
                              f"holds a {type(content).__name__}. Received: {path}")
    return {str(k): np.asarray(v) for k, v in content.items()}


# ---------------------------------------------------------------- PyTorch

_TORCH_DTYPES = {
    "DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
    "BFloat16Storage": "bfloat16",
}


class _StorageType:
    def __init__(self, dtype):
        self.dtype = dtype


def _rebuild_tensor(storage, offset, size, stride, *unused):
    """`torch._utils._rebuild_tensor_v2` as a NumPy array (a copy)."""
    size, stride = tuple(size), tuple(stride)
    if not size:
        return np.array(storage[offset])  # a 0-d array (e.g. num_batches_tracked)
    view = np.lib.stride_tricks.as_strided(
        storage[offset:], shape=size, strides=[s * storage.itemsize for s in stride])
    return np.array(view)


def _rebuild_parameter(data, *unused):
    return data


_TORCH = dict(_NUMPY)
_TORCH.update({
    ("collections", "OrderedDict"): lambda: collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): lambda: _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): lambda: _rebuild_parameter,
    ("_codecs", "encode"): lambda: _encode,
})
_TORCH.update({("torch", name): (lambda d=dtype: _StorageType(d))
               for name, dtype in _TORCH_DTYPES.items()})


class _TorchUnpickler(_RestrictedUnpickler):
    allowed = _TORCH

    def __init__(self, file, path, archive, prefix):
        super().__init__(file, path, encoding="utf-8")
        self.archive, self.prefix, self.storages = archive, prefix, {}

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and pid and pid[0] == "storage"):
            raise UnsafeCheckpointError(f"{self.path}: unknown persistent id {pid!r}. "
                                        f"Received: {os.path.basename(str(self.path))}")
        storage_type, key, numel = pid[1], str(pid[2]), pid[4]
        if key not in self.storages:
            raw = self.archive.read(f"{self.prefix}/data/{key}")
            dtype = storage_type.dtype
            if dtype == "bfloat16":  # no NumPy bfloat16: widen the upper 16 bits
                bits = np.frombuffer(raw, "<u2").astype(np.uint32) << 16
                array = bits.view(np.float32)
            else:
                array = np.frombuffer(raw, np.dtype(dtype).newbyteorder("<"))
            if array.size != numel:
                raise CheckpointError(f"{self.path}: storage {key} holds {array.size} values, "
                                      f"{numel} expected. Received: {self.path}")
            self.storages[key] = array
        return self.storages[key]


def read_torch(path):
    """The object a `torch.save` zip archive holds, tensors as NumPy arrays."""
    try:
        archive = zipfile.ZipFile(path)
        pickles = [n for n in archive.namelist() if n.endswith("/data.pkl") or n == "data.pkl"]
        if len(pickles) != 1:
            raise CheckpointError(f"{path}: a zip archive, but not a PyTorch checkpoint "
                                  f"(no single data.pkl). Received: {path}")
        prefix = pickles[0][: -len("/data.pkl")] if "/" in pickles[0] else ""
        order = archive.read(f"{prefix}/byteorder").decode() if (
            f"{prefix}/byteorder" in archive.namelist()) else "little"
        if order != "little":
            raise CheckpointError(f"{path}: big-endian tensors are not supported. Received: {path}")
        with archive:
            return _TorchUnpickler(io.BytesIO(archive.read(pickles[0])), path, archive,
                                   prefix).load()
    except CheckpointError:
        raise
    except (zipfile.BadZipFile, EOFError, KeyError, pickle.UnpicklingError, ValueError,
            TypeError, IndexError, MemoryError, AttributeError, OSError) as error:
        raise CheckpointError(f"{path}: truncated or corrupt PyTorch file "
                              f"({type(error).__name__}: {error}). Received: {path}") from None


# ---------------------------------------------------------------- sniffing

# The first object of a pre-1.6 (non-zip) torch.save file.
_LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C


def sniff(path):
    """The format of a checkpoint file by its first bytes: `"caffe2"`,
    `"pytorch"` or a CheckpointError saying what it is instead."""
    if not os.path.isfile(path):
        raise CheckpointError(f"Checkpoint file not found. Received: {path!r}")
    with open(path, "rb") as f:
        head = f.read(512)
    if not head:
        raise CheckpointError(f"{path}: an empty file. Received: {path}")
    if head.startswith(b"PK\x03\x04"):
        return "pytorch"
    if head.startswith(b"\x1f\x8b"):
        raise CheckpointError(f"{path}: a gzip (or .tar.gz) archive, not a checkpoint; unpack "
                              f"it and pass the file inside. Received: {path}")
    if len(head) > 262 and head[257:262] == b"ustar":
        raise CheckpointError(f"{path}: a tar archive, not a checkpoint (some PySlowFast .pkl "
                              f"downloads were); unpack it. Received: {path}")
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        if head[2:3] == b"\x8a" and int.from_bytes(head[4:4 + head[3]], "little") == (
                _LEGACY_TORCH_MAGIC):
            raise CheckpointError(f"{path}: a PyTorch file in the pre-1.6 (non-zip) format; "
                                  f"re-save it with torch.save in a recent PyTorch. "
                                  f"Received: {path}")
        return "caffe2"
    raise CheckpointError(f"{path}: neither a Caffe2 pickle nor a PyTorch checkpoint "
                          f"(starts with {head[:8]!r}). Received: {path}")


def read_tensors(path):
    """`(format, {name: ndarray})` of any supported checkpoint file.

    PyTorch files: the state dict under `model_state` (PySlowFast,
    pytorchvideo), `state_dict` (mmaction2), `model`, or the file itself.
    """
    kind = sniff(path)
    if kind == "caffe2":
        return kind, read_caffe2(path)
    content = read_torch(path)
    if isinstance(content, dict):
        for key in ("model_state", "state_dict", "model"):
            if isinstance(content.get(key), dict):
                content = content[key]
                break
    if not isinstance(content, dict) or not all(isinstance(v, np.ndarray)
                                                for v in content.values()):
        raise CheckpointError(f"{path}: no state dict (a dict of tensors) in this PyTorch "
                              f"file. Received: {path}")
    return kind, {str(k): v for k, v in content.items()}
