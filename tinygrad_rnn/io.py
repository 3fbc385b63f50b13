"""``tr.save`` / ``tr.load``: checkpoints as a zip archive of ``.npy`` members plus a JSON manifest — never pickle.

A checkpoint is a zip archive (readable as NumPy's ``.npz``) with one uncompressed member per array,
named by its flattened key path (``arrays/model/lstm.weight_ih_l0.npy``, list items by index; ``%``,
``/``, ``\\``, control characters and ``.``/``..`` parts are %-escaped), and a member
``__manifest__.npy``: UTF-8 JSON stored as a 1-D ``uint8`` array, that holds the structure (dicts,
``OrderedDict``s, lists, tuples, sets), every scalar (None, bool, int, float incl. inf/nan, str), and
per array its member, dtype, device, shape and whether it was a Tensor, a Parameter (with
``requires_grad``) or a NumPy array. Keys round-trip exactly, whatever their text: the manifest holds
them, member names only have to be unique. Dict keys may be str or int (an optimizer's ``state_dict``
indexes parameters by int). The same Tensor (or array, or module) object saved twice is stored once
and loads as one object, as ``torch.save`` keeps identity; distinct tensors that share storage are
stored separately.

A whole :class:`~tinygrad_rnn.nn.Module` can be saved (``tr.save(model, f)``): the manifest names its
class (``"module.QualName"``) and holds its attributes, parameters, buffers and sub-modules. ``tr.load``
rebuilds it only when the class is allowed (``tr.serialization.add_safe_globals``; this package's own
``nn`` classes are allowed by default), without running the class's ``__init__`` — see
:mod:`tinygrad_rnn.serialization`.

Loading files written by anyone: the reader parses the zip directory and the ``.npy`` headers itself
(``zipfile`` + ``numpy.lib.format``; no pickle, no ``NpzFile`` name mapping) and refuses, before it
allocates any array, compressed or encrypted members, duplicate member names, members whose sizes add
up to more than the file holds, a member referenced twice by the manifest, and a member whose ``.npy``
header declares another size than the entry holds. So an array never takes more memory than its bytes
in the file, and a malformed file of any kind raises ``ValueError`` naming what is wrong.

Writing to a path is atomic: the archive goes to a temporary file ``.NAME.tmp-<pid>-<random>`` in the
target's folder, is flushed to disk, then ``os.replace``d onto the target. A new file gets the mode
``open(path, "w")`` would give (``0o666`` less the umask); an existing checkpoint keeps its mode. A
failure leaves an existing checkpoint untouched and removes this save's temporary file; a process
killed mid-save leaves its temporary file behind, named as above (other processes' temporary files
are never deleted: one may be a save in flight). A file object (``io.BytesIO``, ``open(p, "wb")``) is
written in place, and left open.

``.safetensors``: a path ending in ``.safetensors`` saves/loads a flat ``{name: tensor}`` dict (a
``state_dict``) in that format through the optional ``safetensors`` package, and reads files that
PyTorch (``safetensors.torch.save_file``) and other tools write.

Devices on load (``map_location``):
    - ``None`` (default): each tensor goes back to the device it was saved from; a tensor saved on
      ``"cuda"`` loads on ``"cpu"`` when CUDA is not usable here, with a ``UserWarning``.
    - ``"cpu"`` / ``"cuda"`` (or a ``tr.device``): every tensor goes there.
    - a dict such as ``{"cuda": "cpu"}``: saved device -> target device; others stay where they were.
"""

from __future__ import annotations

import io
import json
import math
import os
import secrets
import stat
import struct
import warnings
import zipfile
from collections import OrderedDict
from typing import Any, BinaryIO

import numpy as np

from . import serialization
from .backend import canonical_device, cuda_is_available, to_numpy
from .tensor import Tensor

FORMAT = "tinygrad_rnn.checkpoint"
VERSION = 1
MANIFEST_KEY = "__manifest__"
_MAX_DEPTH = 200   # nesting levels; far beyond any checkpoint, far below Python's recursion limit
_CHUNK = 1 << 22   # array bytes are read in 4 MiB pieces straight into the array's own buffer
# Plain numeric and bool dtypes only: no object, string, void or datetime arrays in a checkpoint.
_DTYPES = frozenset(np.dtype(t).str for t in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                                              "uint32", "uint64", "float16", "float32", "float64",
                                              "complex64", "complex128"))

__all__ = ["save", "load"]


# ----------------------------------------------------------------------------------------- save
def _escape(part: str) -> str:
    """A key as one part of a member name: unique, printable, no path separators, never ``.``/``..``."""
    out = "".join(f"%{ord(c):02X}" if c in "%/\\" or ord(c) < 0x20 or ord(c) == 0x7F else c for c in part)
    return {".": "%2E", "..": "%2E%2E"}.get(out, out)


def _is_module_class(cls: type) -> bool:
    from .nn.module import Module
    return issubclass(cls, Module)


def _is_module(obj) -> bool:
    from .nn.module import Module
    return isinstance(obj, Module)


class _Encoder:
    """Walk an object once: collect its arrays under flattened keys, and describe the rest as JSON."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._active: set[int] = set()
        self._ids: dict[int, int] = {}     # id(obj) -> its number, for objects saved once and referenced after
        self._keep: list = []              # keeps those objects alive while ids are in use

    def encode(self, obj: Any, path: tuple[str, ...]) -> dict:
        where = "/".join(path) or "<root>"
        if len(path) > _MAX_DEPTH:
            raise ValueError(f"tr.save: the object is nested deeper than {_MAX_DEPTH} levels at {where}")
        if obj is None:
            return {"type": "none"}
        if isinstance(obj, np.generic):   # before bool/int/float: np.float64 is a float subclass
            node = self._array(np.asarray(obj), path)
            node["kind"] = "numpy_scalar"
            return node
        if isinstance(obj, bool):
            return {"type": "bool", "value": obj}
        if isinstance(obj, int):
            return {"type": "int", "value": obj}
        if isinstance(obj, float):
            return {"type": "float", "value": obj if math.isfinite(obj) else repr(obj)}
        if isinstance(obj, str):
            return {"type": "str", "value": obj}
        if isinstance(obj, (Tensor, np.ndarray)) or _is_module(obj):
            if id(obj) in self._ids:
                return {"type": "ref", "id": self._ids[id(obj)]}
            self._ids[id(obj)] = n = len(self._ids)
            self._keep.append(obj)
            node = self._object(obj, path, where)
            node["id"] = n
            return node
        if isinstance(obj, type) and _is_module_class(obj):   # a module class held as an attribute
            return {"type": "class", "class": serialization.qualified_name(obj)}     # (Recurrent's cell)
        if isinstance(obj, (dict, list, tuple, set, frozenset)):
            if id(obj) in self._active:
                raise ValueError(f"tr.save: the object contains itself (a reference cycle) at {where}")
            self._active.add(id(obj))
            try:
                if isinstance(obj, dict):
                    items = []
                    for k, v in obj.items():
                        if isinstance(k, bool) or not isinstance(k, (str, int)):
                            raise TypeError(f"tr.save: dict keys must be str or int, got {type(k).__name__} "
                                            f"({k!r}) at {where}")
                        items.append([k, self.encode(v, path + (_escape(str(k)),))])
                    return {"type": "odict" if isinstance(obj, OrderedDict) else "dict", "items": items}
                if isinstance(obj, (set, frozenset)):
                    items = [self.encode(v, path + (str(i),)) for i, v in enumerate(obj)]
                    if any(n["type"] not in ("none", "bool", "int", "float", "str") for n in items):
                        raise TypeError(f"tr.save: sets may hold only None, bool, int, float and str (at {where})")
                    return {"type": "frozenset" if isinstance(obj, frozenset) else "set", "items": items}
                kind = "list" if isinstance(obj, list) else "tuple"
                return {"type": kind, "items": [self.encode(v, path + (str(i),)) for i, v in enumerate(obj)]}
            finally:
                self._active.discard(id(obj))
        raise TypeError(f"tr.save: cannot save an object of type {type(obj).__name__} at {where}; supported: "
                        "Tensor, nn.Module (and Module classes), numpy array/scalar, dict (str/int keys), list, "
                        "tuple, set, str, int, float, bool, None")

    def _object(self, obj, path: tuple[str, ...], where: str) -> dict:
        if isinstance(obj, Tensor):
            node = self._array(to_numpy(obj.detach()._data), path)
            node["kind"] = "parameter" if _is_parameter(obj) else "tensor"
            node["device"] = str(obj.device)
            node["requires_grad"] = bool(obj.requires_grad)
            return node
        if isinstance(obj, np.ndarray):
            node = self._array(obj, path)
            node["kind"] = "ndarray"
            return node
        state = []    # the module's __dict__, as PyTorch pickles it: registries, training flag, attributes
        for name, value in obj.__dict__.items():
            state.append([name, self.encode(value, path + (_escape(name),))])
        return {"type": "module", "class": serialization.qualified_name(type(obj)), "state": state}

    def _array(self, arr: np.ndarray, path: tuple[str, ...]) -> dict:
        if arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "<" and not np.little_endian):
            arr = arr.astype(arr.dtype.newbyteorder("="))   # stored in native order
        if arr.dtype.str not in _DTYPES:
            raise TypeError(f"tr.save: arrays of dtype {arr.dtype} cannot be saved (at {'/'.join(path) or '<root>'}); "
                            "only bool, integer, float and complex arrays")
        key = base = "/".join(("arrays",) + path)
        n = 1
        while key in self.arrays or key == MANIFEST_KEY:   # e.g. dict keys 1 and "1" flatten alike
            key, n = f"{base}~{n}", n + 1
        self.arrays[key] = arr
        return {"type": "array", "key": key, "dtype": arr.dtype.str, "shape": list(arr.shape)}


def _is_parameter(obj: Tensor) -> bool:
    try:
        from .nn.module import Parameter
    except ImportError:  # pragma: no cover - nn is part of the package
        return False
    return isinstance(obj, Parameter)


def _check_path(path, fn: str) -> str:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"{fn}: f must be a str, an os.PathLike or a binary file object, got {type(path).__name__}")
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return path


def _check_binary(f, fn: str, mode: str) -> None:
    if isinstance(f, io.TextIOBase):
        raise TypeError(f"{fn}: the file object is open in text mode; open it in binary mode ({mode!r})")


def _write_archive(f: BinaryIO, obj: Any) -> None:
    """The manifest and the arrays as uncompressed ``.npy`` members of a zip archive written to ``f``."""
    enc = _Encoder()
    root = enc.encode(obj, ())
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "root": root}, allow_nan=False)
    arrays = {MANIFEST_KEY: np.frombuffer(manifest.encode("utf-8"), dtype=np.uint8), **enc.arrays}
    del enc, root
    _write_members(f, arrays)


def _write_members(f: BinaryIO, arrays: dict[str, np.ndarray]) -> None:
    with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as z:
        for key, arr in arrays.items():
            with z.open(key + ".npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)


def _temp_name(folder: str, base: str) -> str:
    return os.path.join(folder, f".{base[:180]}.tmp-{os.getpid()}-{secrets.token_hex(4)}")


def _atomic_write(path: str, write, fn: str) -> None:
    """Call ``write(file)`` on a fresh temporary file beside ``path``, fsync it, and rename it onto ``path``."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"{fn}: folder {folder!r} does not exist (create it first)")
    if os.path.isdir(path):
        raise IsADirectoryError(f"{fn}: path {path!r} is a directory")
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode) & 0o777   # an existing checkpoint keeps its mode
    except FileNotFoundError:
        mode = None                                          # a new one: 0o666 less the umask, as open()
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = _temp_name(folder, os.path.basename(path))
        try:
            fd = os.open(tmp, flags, 0o666)
            break
        except FileExistsError:
            continue
    else:  # pragma: no cover - 100 collisions of 32 random bits
        raise FileExistsError(f"{fn}: could not create a temporary file in {folder!r}")
    try:
        if mode is not None:
            os.chmod(tmp, mode)
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)       # this save's own temporary file, never another's
        except OSError:
            pass
        raise
    try:                         # make the rename itself durable (best effort: not every system allows it)
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def save(obj: Any, f: str | os.PathLike | BinaryIO) -> None:
    """Save ``obj`` to ``f`` (``torch.save``): a path, or a binary file object such as ``io.BytesIO``.

    ``obj`` may be nested dicts/lists/tuples/sets of tensors, arrays, numbers, bools, None and strings
    (a ``state_dict``, an optimizer's, a training checkpoint), or a whole ``nn.Module``. A path is
    written under exactly the name given (no suffix is added), atomically; a path ending in
    ``.safetensors`` writes a flat ``{str: tensor}`` dict in the safetensors format (needs the
    ``safetensors`` package). A file object is written at its position and left open.

    Raises:
        TypeError: an unsupported object, dict key or dtype (nothing is written).
        FileNotFoundError: the target folder does not exist.

    Example::

        tr.save({"model": model.state_dict(), "optim": opt.state_dict(), "rng": tr.get_rng_state()}, "ckpt.npz")
        tr.save(model, "model.ckpt")                       # whole module; tr.load rebuilds allowed classes
        tr.save(model.state_dict(), "model.safetensors")
    """
    if hasattr(f, "write") and not isinstance(f, (str, os.PathLike)):
        _check_binary(f, "tr.save", "wb")
        _write_archive(f, obj)
        return
    path = _check_path(f, "tr.save")
    if path.endswith(".safetensors"):
        payload = _safetensors_bytes(obj)
        _atomic_write(path, lambda fh: fh.write(payload), "tr.save")
        return
    enc = _Encoder()                      # encode first: a bad object raises before the file is touched
    root = enc.encode(obj, ())
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "root": root}, allow_nan=False)
    arrays = {MANIFEST_KEY: np.frombuffer(manifest.encode("utf-8"), dtype=np.uint8), **enc.arrays}
    _atomic_write(path, lambda fh: _write_members(fh, arrays), "tr.save")


# ----------------------------------------------------------------------------------------- safetensors
def _safetensors():
    try:
        import safetensors.numpy as st
    except ImportError:
        raise ImportError("tr.save/tr.load of a .safetensors file needs the safetensors package: "
                          "pip install safetensors (or the 'safetensors' extra of tinygrad-rnn)") from None
    return st


def _safetensors_bytes(obj: Any) -> bytes:
    if not isinstance(obj, dict):
        raise TypeError(f"tr.save: a .safetensors file holds a flat dict of tensors (a state_dict), "
                        f"got {type(obj).__name__}")
    arrays = {}
    for k, v in obj.items():
        if not isinstance(k, str):
            raise TypeError(f"tr.save: .safetensors keys must be str, got {type(k).__name__} ({k!r})")
        if isinstance(v, Tensor):
            a = to_numpy(v.detach()._data)
        elif isinstance(v, np.ndarray):
            a = v
        else:
            raise TypeError(f"tr.save: .safetensors values must be tensors, got {type(v).__name__} at {k!r}")
        if a.dtype.kind not in "biuf":
            raise TypeError(f"tr.save: .safetensors cannot hold dtype {a.dtype} (at {k!r}); "
                            "only bool, integer and float tensors")
        if a.dtype.byteorder == ">" or (a.dtype.byteorder == "<" and not np.little_endian):
            a = a.astype(a.dtype.newbyteorder("="))
        arrays[k] = a if a.flags.c_contiguous else np.array(a, order="C")
    return _safetensors().save(arrays)


def _load_safetensors(data: bytes | str, source: str, device_for) -> dict:
    st = _safetensors()
    try:
        arrays = st.load(data) if isinstance(data, bytes) else st.load_file(data)
    except Exception as e:   # SafetensorError, unsupported dtypes (bf16), truncated or foreign bytes
        raise ValueError(f"tr.load: {source} is not a readable safetensors file ({type(e).__name__}: {e})") from None
    for k, a in arrays.items():     # bfloat16 and other extension dtypes: ml_dtypes (onnx imports it)
        if a.dtype.kind not in "biuf":  # lets safetensors read them, as NumPy void-kind arrays
            raise ValueError(f"tr.load: {source} is not a readable safetensors file for this project: {k!r} "
                             f"has dtype {a.dtype} (only NumPy's bool, integer and float dtypes)")
    dev = device_for("cpu")
    out = {}
    for k, a in arrays.items():
        if not a.flags.writeable:
            a = a.copy()
        out[k] = Tensor._make(a, "cpu", False, None, 0).to(dev)
    return out


def _looks_like_safetensors(head: bytes) -> bool:
    return len(head) >= 9 and head[8:9] == b"{" and 0 < struct.unpack("<Q", head[:8])[0] < (1 << 32)


# ----------------------------------------------------------------------------------------- load
class _Archive:
    """The zip directory and ``.npy`` headers of a checkpoint, checked before any array is allocated."""

    def __init__(self, stream: BinaryIO, source: str) -> None:
        self.source = source
        start = stream.tell()
        size = stream.seek(0, os.SEEK_END) - start
        stream.seek(start)
        try:
            self.zip = zipfile.ZipFile(stream)
            infos = self.zip.infolist()
        except Exception as e:   # BadZipFile, a bad UTF-8 name, a truncated directory, ...
            raise ValueError(f"tr.load: {source} is not a readable checkpoint archive ({type(e).__name__}: {e})") \
                from None
        self.members: dict[str, zipfile.ZipInfo] = {}
        for info in infos:
            if info.filename in self.members:
                raise self.fail(f"it holds two members named {info.filename!r}")
            self.members[info.filename] = info
        self.infos = infos
        self.size = size

    def fail(self, msg: str) -> ValueError:
        return ValueError(f"tr.load: {self.source} is not a valid tinygrad_rnn checkpoint: {msg}")

    def check_members(self) -> None:
        total = 0
        for info in self.infos:
            name = info.filename
            if info.compress_type != zipfile.ZIP_STORED:
                raise self.fail(f"member {name!r} is compressed (zip method {info.compress_type}); tr.save never "
                                "compresses, and compressed members are refused (a small file could inflate "
                                "to any size)")
            if info.flag_bits & 0x1:
                raise self.fail(f"member {name!r} is encrypted")
            if info.file_size != info.compress_size:
                raise self.fail(f"member {name!r} is stored with {info.compress_size} bytes but claims "
                                f"{info.file_size}")
            total += info.compress_size
        if total > self.size:
            raise self.fail(f"its members claim {total} bytes in all, more than the {self.size} bytes of the "
                            "file (overlapping members)")

    def header(self, key: str) -> tuple:
        """``(shape, fortran_order, dtype, data_offset)`` of member ``key + ".npy"``, checked against its size."""
        info = self.members[key + ".npy"]
        what = "the manifest" if key == MANIFEST_KEY else f"array {key!r}"
        try:
            with self.zip.open(info) as m:
                version = np.lib.format.read_magic(m)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(m)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(m)
                else:
                    raise ValueError(f".npy format version {version} (this reads 1.0 and 2.0)")
                offset = m.tell()
        except Exception as e:   # not a .npy member, a bad header, a damaged zip entry
            raise self.fail(f"{what} cannot be read ({type(e).__name__}: {e})") from None
        if dtype.hasobject or dtype.str not in _DTYPES:
            raise self.fail(f"{what} cannot be read: it has dtype {dtype} (only plain numeric and bool "
                            "arrays; object arrays would need pickle)")
        declared = math.prod(shape) * dtype.itemsize
        held = info.file_size - offset
        if declared != held:
            raise self.fail(f"{what}: its .npy header declares {dtype.str}{list(shape)} = {declared} bytes, "
                            f"but the entry holds {held} bytes after the header")
        return shape, fortran, dtype, offset

    def read(self, key: str, header: tuple) -> np.ndarray:
        shape, fortran, dtype, offset = header
        nbytes = math.prod(shape) * dtype.itemsize
        flat = np.empty(nbytes, np.uint8)
        view = memoryview(flat)
        try:
            with self.zip.open(self.members[key + ".npy"]) as m:
                m.read(offset)
                pos = 0
                while pos < nbytes:
                    chunk = m.read(min(_CHUNK, nbytes - pos))
                    if not chunk:
                        raise EOFError(f"the entry ends after {pos} of {nbytes} bytes")
                    view[pos:pos + len(chunk)] = chunk
                    pos += len(chunk)
                m.read(1)          # reach the end of the entry: zipfile checks its CRC there
        except Exception as e:
            what = "the manifest" if key == MANIFEST_KEY else f"array {key!r}"
            raise self.fail(f"{what} cannot be read ({type(e).__name__}: {e})") from None
        return flat.view(dtype).reshape(shape, order="F" if fortran else "C")


class _Decoder:
    """Rebuild an object from a manifest node, checking every field against the archive.

    ``scan`` walks the manifest first: every array it refers to is checked (member present, referenced
    once, header and size) and every module class looked up, before ``decode`` allocates anything.
    """

    def __init__(self, archive: _Archive, map_location, source: str) -> None:
        self.archive = archive
        self.map_location = map_location
        self.source = source
        self._warned = False
        self.headers: dict[str, tuple] = {}
        self.objects: dict[int, Any] = {}

    def fail(self, msg: str) -> ValueError:
        return ValueError(f"tr.load: {self.source} is not a valid tinygrad_rnn checkpoint: {msg}")

    def field(self, node: dict, name: str, types, where: str):
        if name not in node:
            raise self.fail(f"manifest entry at {where} lacks {name!r}")
        value = node[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
            raise self.fail(f"manifest entry at {where}: {name!r} has type {type(value).__name__}")
        return value

    # ------------------------------------------------------------- pass 1: check, allocate nothing
    def scan(self, node, where: str = "<root>", depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            raise self.fail(f"manifest nested deeper than {_MAX_DEPTH} levels")
        if not isinstance(node, dict):
            return                                   # decode names the problem
        kind = node.get("type")
        if kind == "array":
            self.check_array(node, where)
        elif kind in ("list", "tuple", "set", "frozenset") and isinstance(node.get("items"), list):
            for i, v in enumerate(node["items"]):
                self.scan(v, f"{where}/{i}", depth + 1)
        elif kind == "class":
            self.resolve(self.field(node, "class", str, where), where)
        elif kind in ("dict", "odict", "module"):
            items = node.get("items" if kind != "module" else "state")
            if kind == "module":
                self.resolve(self.field(node, "class", str, where), where)
            for item in items if isinstance(items, list) else ():
                if isinstance(item, list) and len(item) == 2:
                    self.scan(item[1], f"{where}/{item[0]}", depth + 1)

    def check_array(self, node: dict, where: str) -> None:
        key = self.field(node, "key", str, where)
        dtype = self.field(node, "dtype", str, where)
        shape = self.field(node, "shape", list, where)
        if key == MANIFEST_KEY or key + ".npy" not in self.archive.members:
            raise self.fail(f"manifest entry at {where} refers to array {key!r}, which the archive does not hold")
        if key in self.headers:
            raise self.fail(f"array {key!r} is referenced twice by the manifest (tr.save stores each array "
                            "once; a member used twice could make a small file load as a huge one)")
        if dtype not in _DTYPES:
            raise self.fail(f"manifest entry at {where} has unsupported dtype {dtype!r}")
        header = self.archive.header(key)
        shape_h, _, dtype_h, _ = header
        if dtype_h.str != dtype or list(shape_h) != shape:
            raise self.fail(f"array {key!r} is {dtype_h.str}{list(shape_h)}, the manifest says {dtype}{shape}")
        self.headers[key] = header

    def resolve(self, name: str, where: str) -> type:
        from .nn.module import Module
        cls = serialization.lookup(name)
        if cls is None:
            short = name.rpartition(".")[2] or name
            raise serialization.UnpicklingError(
                f"tr.load: {self.source} holds a module of class {name!r} (at {where}), which is not an allowed "
                f"class: a checkpoint names classes, it never carries code, and tr.load rebuilds only classes "
                f"you allow. If you trust this file, allow the class: "
                f"tr.serialization.add_safe_globals([{short}]) or `with tr.serialization.safe_globals([{short}]): "
                f"tr.load(...)` (weights_only=False does not lift this)")
        if not (isinstance(cls, type) and issubclass(cls, Module)):
            raise serialization.UnpicklingError(
                f"tr.load: {self.source} names {name!r} (at {where}) as a module class, but the allowed object "
                f"{cls!r} is not a tr.nn.Module subclass; only modules are rebuilt")
        return cls

    # ------------------------------------------------------------- pass 2: build
    def decode(self, node, where: str = "<root>", depth: int = 0):
        if depth > _MAX_DEPTH:
            raise self.fail(f"manifest nested deeper than {_MAX_DEPTH} levels")
        if not isinstance(node, dict):
            raise self.fail(f"manifest entry at {where} is a {type(node).__name__}, expected an object")
        kind = self.field(node, "type", str, where)
        if kind == "none":
            return None
        if kind == "bool":
            return self.field(node, "value", bool, where)
        if kind == "int":
            return self.field(node, "value", int, where)
        if kind == "float":
            value = self.field(node, "value", (int, float, str), where)
            if isinstance(value, str):
                if value not in ("inf", "-inf", "nan"):
                    raise self.fail(f"manifest entry at {where}: bad float {value!r}")
                return float(value)
            return float(value)
        if kind == "str":
            return self.field(node, "value", str, where)
        if kind in ("list", "tuple", "set", "frozenset"):
            items = self.field(node, "items", list, where)
            out = [self.decode(v, f"{where}/{i}", depth + 1) for i, v in enumerate(items)]
            if kind in ("set", "frozenset"):
                if not all(v is None or isinstance(v, (bool, int, float, str)) for v in out):
                    raise self.fail(f"manifest entry at {where}: a set may hold only None, bool, int, float, str")
                return set(out) if kind == "set" else frozenset(out)
            return out if kind == "list" else tuple(out)
        if kind in ("dict", "odict"):
            out = {} if kind == "dict" else OrderedDict()
            for item in self.field(node, "items", list, where):
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], (str, int))
                        and not isinstance(item[0], bool)):
                    raise self.fail(f"manifest entry at {where}: dict items must be [key, value] with a str/int key")
                out[item[0]] = self.decode(item[1], f"{where}/{item[0]}", depth + 1)
            return out
        if kind == "class":
            return self.resolve(self.field(node, "class", str, where), where)
        if kind == "ref":
            ref = self.field(node, "id", int, where)
            if ref not in self.objects:
                raise self.fail(f"manifest entry at {where} refers to object {ref}, which comes later or nowhere")
            return self.objects[ref]
        if kind in ("array", "module"):
            ref = node.get("id")
            if ref is not None and (not isinstance(ref, int) or isinstance(ref, bool) or ref in self.objects):
                raise self.fail(f"manifest entry at {where}: bad or repeated object id {ref!r}")
            obj = self.array(node, where) if kind == "array" else self.module(node, where, ref, depth)
            if ref is not None:
                self.objects[ref] = obj
            return obj
        raise self.fail(f"manifest entry at {where} has unknown type {kind!r}")

    def module(self, node: dict, where: str, ref, depth: int):
        from .nn.module import Module, Parameter
        cls = self.resolve(self.field(node, "class", str, where), where)
        obj = object.__new__(cls)        # as PyTorch's unpickler: no __init__ of the class runs
        Module.__init__(obj)             # the base registries (this package's code), then the saved state
        if ref is not None:
            self.objects[ref] = obj      # before its state: a sub-module may refer back to it
        state = {}
        for item in self.field(node, "state", list, where):
            if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)):
                raise self.fail(f"manifest entry at {where}: module state items must be [name, value]")
            state[item[0]] = self.decode(item[1], f"{where}/{item[0]}", depth + 1)
        checks = (("_parameters", OrderedDict, (Parameter, type(None))),
                  ("_buffers", OrderedDict, (Tensor, type(None))),
                  ("_modules", OrderedDict, (Module, type(None))),
                  ("_non_persistent_buffers_set", set, (str,)))
        for name, container, types in checks:
            value = state.get(name, obj.__dict__[name])
            items = value.values() if isinstance(value, dict) else value
            if not isinstance(value, container) or not all(isinstance(v, types) for v in items):
                raise self.fail(f"module at {where}: {name!r} is not an {container.__name__} of "
                                f"{' / '.join(t.__name__ for t in types)}")
        if not isinstance(state.get("training", True), bool):
            raise self.fail(f"module at {where}: 'training' is not a bool")
        obj.__dict__.update(state)
        for name, p in obj._parameters.items():
            if p is not None and p._name is None:
                p._name = name
        return obj

    def array(self, node: dict, where: str):
        key = self.field(node, "key", str, where)
        how = self.field(node, "kind", str, where)
        if key not in self.headers:   # pragma: no cover - scan checked every array node
            raise self.fail(f"manifest entry at {where} refers to an unchecked array {key!r}")
        if how not in ("ndarray", "numpy_scalar", "tensor", "parameter"):
            raise self.fail(f"manifest entry at {where} has unknown array kind {how!r}")
        if how in ("tensor", "parameter"):
            saved_device = self.field(node, "device", str, where)
            requires_grad = self.field(node, "requires_grad", bool, where)
            if saved_device not in ("cpu", "cuda"):
                raise self.fail(f"manifest entry at {where} has unknown device {saved_device!r}")
            if requires_grad and self.headers[key][2].kind not in "fc":
                raise self.fail(f"manifest entry at {where}: requires_grad on a {self.headers[key][2]} array")
        elif how == "numpy_scalar" and len(self.headers[key][0]) != 0:
            raise self.fail(f"numpy scalar {key!r} has shape {self.headers[key][0]}")
        arr = self.archive.read(key, self.headers[key])
        if how == "ndarray":
            return arr
        if how == "numpy_scalar":
            return arr[()]
        t = Tensor._make(arr, "cpu", False, None, 0).to(self.device_for(saved_device))
        if how == "parameter":
            from .nn.module import Parameter
            return Parameter(t, requires_grad=requires_grad)
        return t.requires_grad_(requires_grad) if requires_grad else t

    def device_for(self, saved: str) -> str:
        loc = self.map_location
        if isinstance(loc, dict):
            loc = loc.get(saved, saved)
        if loc is not None:
            return canonical_device(loc)
        if saved == "cuda" and not cuda_is_available():
            if not self._warned:
                warnings.warn(f"tr.load: {self.source} holds tensors saved on 'cuda', but CUDA is not usable here; "
                              "loading them on 'cpu' (pass map_location='cpu' to silence this)", UserWarning,
                              stacklevel=5)
                self._warned = True
            return "cpu"
        return saved


def _as_tuple(types) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def _load_archive(stream: BinaryIO, source: str, map_location) -> Any:
    archive = _Archive(stream, source)
    with archive.zip:
        dec = _Decoder(archive, map_location, source)
        if MANIFEST_KEY + ".npy" not in archive.members:
            raise dec.fail(f"it has no {MANIFEST_KEY!r} member (a plain .npz? use numpy.load for those)")
        archive.check_members()
        header = archive.header(MANIFEST_KEY)
        if header[2] != np.uint8 or len(header[0]) != 1:
            raise dec.fail(f"the manifest is a {header[2]} array of shape {header[0]}, expected 1-D uint8")
        raw = archive.read(MANIFEST_KEY, header)
        try:
            manifest = json.loads(raw.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise dec.fail(f"the manifest is not valid JSON ({type(e).__name__})") from None
        del raw
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise dec.fail("the manifest lacks the tinygrad_rnn format tag")
        if manifest.get("version") != VERSION:
            raise dec.fail(f"unsupported checkpoint version {manifest.get('version')!r} (this reads {VERSION})")
        if "root" not in manifest:
            raise dec.fail("the manifest has no 'root'")
        try:
            dec.scan(manifest["root"])
            return dec.decode(manifest["root"])
        except RecursionError:
            raise dec.fail("manifest nested too deeply") from None


def load(f: str | os.PathLike | BinaryIO, map_location=None, *, weights_only: bool | None = None) -> Any:
    """Load what :func:`save` wrote (``torch.load``). Never unpickles: foreign or tampered files raise ``ValueError``.

    Args:
        f: a path, or a binary file object (``io.BytesIO``, ``open(p, "rb")``) positioned at the checkpoint.
            A path ending in ``.safetensors`` (or a file object holding that format) is read as safetensors.
        map_location: ``None`` (each tensor on its saved device; CUDA tensors fall back to the CPU, with a
            warning, where CUDA is not usable), a device (``"cpu"``, ``"cuda"``) for every tensor, or a
            dict mapping saved device to target device. safetensors files load on the CPU unless mapped.
        weights_only: accepted for PyTorch code. Loading is always "weights only": ``True``, ``False`` and
            ``None`` behave the same — whole modules are rebuilt only for allowed classes
            (:mod:`tinygrad_rnn.serialization`), and nothing in a file is ever run.

    Returns:
        The saved object: dicts, OrderedDicts, lists, tuples, sets, Tensors (Parameters stay Parameters),
        modules, NumPy arrays and scalars, numbers, bools, None and strings; for safetensors a dict of tensors.

    Raises:
        ValueError: the file is not a well-formed checkpoint (what is wrong is named).
        tr.serialization.UnpicklingError: a module class that is not allowed (a ``ValueError`` too).

    Example::

        ckpt = tr.load("ckpt.npz", map_location="cpu")
        model.load_state_dict(ckpt["model"])
        with tr.serialization.safe_globals([WordLM]):
            model = tr.load("model.ckpt")
    """
    if weights_only is not None and not isinstance(weights_only, bool):
        raise TypeError(f"tr.load: weights_only must be a bool or None, got {type(weights_only).__name__}")
    if map_location is not None and not isinstance(map_location, dict):
        canonical_device(map_location)   # a bad device fails before the file is read
    if isinstance(map_location, dict):
        for k, v in map_location.items():
            canonical_device(k)
            canonical_device(v)
    if hasattr(f, "read") and not isinstance(f, (str, os.PathLike)):
        _check_binary(f, "tr.load", "rb")
        source = f"file object {getattr(f, 'name', type(f).__name__)!r}"
        stream = f if _seekable(f) else io.BytesIO(f.read())
        return _load_stream(stream, source, map_location, None)
    path = _check_path(f, "tr.load")
    with open(path, "rb") as stream:
        return _load_stream(stream, repr(path), map_location, path)


def _seekable(f) -> bool:
    try:
        return bool(f.seekable())
    except (AttributeError, OSError, ValueError):
        return False


def _load_stream(stream: BinaryIO, source: str, map_location, path: str | None) -> Any:
    start = stream.tell()
    head = stream.read(16)
    stream.seek(start)
    if head[:4] != b"PK\x03\x04" and head[:4] != b"PK\x05\x06":
        if (path is not None and path.endswith(".safetensors")) or (path is None and _looks_like_safetensors(head)):
            dec = _Decoder(None, map_location, source)   # only for its device mapping
            return _load_safetensors(path if path is not None else stream.read(), source, dec.device_for)
        raise ValueError(f"tr.load: {source} is not a tinygrad_rnn checkpoint (not a .npz/zip archive; files "
                         "from torch.save or pickle are not read, by design)")
    return _load_archive(stream, source, map_location)
