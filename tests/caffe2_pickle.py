"""Write Caffe2 checkpoints the way the original release wrote them.

The release's `.pkl` files come from Python 2's `cPickle.dump(dict(blobs=...),
f, HIGHEST_PROTOCOL)`: protocol 2 with Python 2 `str` (byte strings:
SHORT_BINSTRING / BINSTRING) for names and array data, arrays reduced by
`numpy.core.multiarray._reconstruct` with the state
`(1, shape, dtype, is_fortran, data)`, dtypes by `numpy.dtype(code, 0, 1)`
with the state `(3, '<', None, None, None, -1, -1, 0)`, and every object
memoized (BINPUT, BINGET on a second use). Python 3's pickle writes other
opcodes and other globals (`numpy._core`, `_codecs.encode`), so this module
emits the opcodes itself: the test files are what a loader meets in the
field, not what is easy to read.
"""

import struct

import numpy as np


class _Writer:
    def __init__(self):
        self.out = bytearray(b"\x80\x02")  # PROTO 2
        self.memo = {}

    def _put(self, key):
        index = len(self.memo)
        self.memo[key] = index
        self.out += b"q" + bytes([index]) if index < 256 else b"r" + struct.pack("<I", index)

    def _get(self, key):
        index = self.memo[key]
        self.out += b"h" + bytes([index]) if index < 256 else b"j" + struct.pack("<I", index)

    def global_(self, module, name):
        key = ("global", module, name)
        if key in self.memo:
            return self._get(key)
        self.out += b"c" + module.encode() + b"\n" + name.encode() + b"\n"
        self._put(key)

    def str_(self, value):  # a Python 2 str: bytes
        data = value if isinstance(value, bytes) else value.encode("latin1")
        if len(data) < 256:
            self.out += b"U" + bytes([len(data)]) + data
        else:
            self.out += b"T" + struct.pack("<i", len(data)) + data
        self._put(("str", id(value), len(self.memo)))

    def int_(self, value):
        if 0 <= value < 256:
            self.out += b"K" + bytes([value])
        elif 0 <= value < 65536:
            self.out += b"M" + struct.pack("<H", value)
        elif -2**31 <= value < 2**31:
            self.out += b"J" + struct.pack("<i", value)
        else:
            data = value.to_bytes((value.bit_length() + 8) // 8, "little", signed=True)
            self.out += b"\x8a" + bytes([len(data)]) + data

    def float_(self, value):
        self.out += b"G" + struct.pack(">d", value)

    def tuple_(self, items):
        if len(items) <= 3:
            for item in items:
                self.value(item)
            self.out += {0: b")", 1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(items)]
        else:
            self.out += b"("
            for item in items:
                self.value(item)
            self.out += b"t"
        self._put(("tuple", len(self.memo)))

    def dtype(self, dtype):
        self.global_("numpy", "dtype")
        self.tuple_((dtype.str[1:], 0, 1))  # e.g. ('f4', 0, 1)
        self.out += b"R"
        self._put(("dtype", len(self.memo)))
        self.tuple_((3, "<", None, None, None, -1, -1, 0))
        self.out += b"b"  # BUILD

    def array(self, array):
        array = np.ascontiguousarray(array)
        self.global_("numpy.core.multiarray", "_reconstruct")
        self.global_("numpy", "ndarray")
        self.tuple_((0,))
        self.str_(b"b")
        self.out += b"\x87R"  # TUPLE3, REDUCE
        self._put(("array", len(self.memo)))
        self.out += b"("
        self.int_(1)
        self.tuple_(tuple(array.shape))
        self.dtype(array.dtype)
        self.out += b"\x89"  # NEWFALSE: C order
        self.str_(array.astype(array.dtype.newbyteorder("<")).tobytes())
        self.out += b"t"
        self._put(("state", len(self.memo)))
        self.out += b"b"

    def value(self, value):
        if value is None:
            self.out += b"N"
        elif isinstance(value, bool):
            self.out += b"\x88" if value else b"\x89"
        elif isinstance(value, int):
            self.int_(value)
        elif isinstance(value, float):
            self.float_(value)
        elif isinstance(value, (str, bytes)):
            self.str_(value)
        elif isinstance(value, tuple):
            self.tuple_(value)
        elif isinstance(value, np.ndarray):
            self.array(value)
        elif isinstance(value, dict):
            self.out += b"}"
            self._put(("dict", len(self.memo)))
            if value:
                self.out += b"("
                for key, item in value.items():
                    self.value(key)
                    self.value(item)
                self.out += b"u"  # SETITEMS
        else:
            raise TypeError(f"cannot write {type(value).__name__} as Python 2 would")


def dumps(value):
    """The bytes Python 2's `cPickle.dumps(value, 2)` gives for dicts of str,
    numbers, tuples and numpy arrays."""
    writer = _Writer()
    writer.value(value)
    writer.out += b"."
    return bytes(writer.out)


def write_checkpoint(path, blobs, wrap=True):
    """A release-style checkpoint: `{"blobs": blobs}` (or the flat dict of
    vnl's modify_blob_rm.py with `wrap=False`)."""
    with open(path, "wb") as f:
        f.write(dumps({"blobs": blobs} if wrap else blobs))
    return str(path)
