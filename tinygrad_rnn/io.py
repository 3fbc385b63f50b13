"""``tr.save`` / ``tr.load``: checkpoints as a ``.npz`` archive plus a JSON manifest — never pickle.

A checkpoint is a zip archive (NumPy's ``.npz``) with one member per array, named by its flattened key
path (``arrays/model/lstm.weight_ih_l0``, list items by index), and a member ``__manifest__``: UTF-8
JSON stored as a 1-D ``uint8`` array, that holds the structure (dicts, lists, tuples), every scalar
(None, bool, int, float incl. inf/nan, str) and, per array, its dtype, device, shape and whether it
was a Tensor, a Parameter (with ``requires_grad``) or a NumPy array. Dict keys may be str or int (an
optimizer's ``state_dict`` indexes parameters by int). Reading uses ``allow_pickle=False`` and checks
the manifest against the archive, so loading never runs code: a truncated, foreign or tampered file
raises ``ValueError``. A tensor referenced twice is stored twice (sharing is not preserved).

Writing is atomic: the archive is written through a file object into a temporary file in the target's
folder, flushed to disk, then ``os.replace``d onto the target. A failure at any point leaves an
existing checkpoint untouched and no temporary file behind.

Devices on load (``map_location``):
    - ``None`` (default): each tensor goes back to the device it was saved from; a tensor saved on
      ``"cuda"`` loads on ``"cpu"`` when CUDA is not usable here, with a ``UserWarning``.
    - ``"cpu"`` / ``"cuda"`` (or a ``tr.device``): every tensor goes there.
    - a dict such as ``{"cuda": "cpu"}``: saved device -> target device; others stay where they were.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
import zipfile
from typing import Any

import numpy as np

from .backend import canonical_device, cuda_is_available, to_numpy
from .tensor import Tensor

FORMAT = "tinygrad_rnn.checkpoint"
VERSION = 1
MANIFEST_KEY = "__manifest__"
_MAX_DEPTH = 200   # nesting levels; far beyond any checkpoint, far below Python's recursion limit
# Plain numeric and bool dtypes only: no object, string, void or datetime arrays in a checkpoint.
_DTYPES = frozenset(np.dtype(t).str for t in ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                                              "uint32", "uint64", "float16", "float32", "float64",
                                              "complex64", "complex128"))

__all__ = ["save", "load"]


# ----------------------------------------------------------------------------------------- save
def _escape(part: str) -> str:
    return part.replace("%", "%25").replace("/", "%2F")


class _Encoder:
    """Walk an object once: collect its arrays under flattened keys, and describe the rest as JSON."""

    def __init__(self) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        self._active: set[int] = set()

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
        if isinstance(obj, (dict, list, tuple)):
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
                    return {"type": "dict", "items": items}
                kind = "list" if isinstance(obj, list) else "tuple"
                return {"type": kind, "items": [self.encode(v, path + (str(i),)) for i, v in enumerate(obj)]}
            finally:
                self._active.discard(id(obj))
        raise TypeError(f"tr.save: cannot save an object of type {type(obj).__name__} at {where}; supported: "
                        "Tensor, numpy array/scalar, dict (str/int keys), list, tuple, str, int, float, bool, None")

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
        raise TypeError(f"{fn}: path must be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    return path


def save(obj: Any, path: str | os.PathLike) -> None:
    """Save ``obj`` (nested dicts/lists/tuples of tensors, arrays, numbers, bools, None, strings) to ``path``.

    The file is written under exactly the name given (no suffix is added), atomically: through a temporary
    file in the same folder, renamed into place only once it is complete.

    Raises:
        TypeError: an unsupported object or dict key (nothing is written).
        FileNotFoundError: the target folder does not exist.

    Example::

        tr.save({"model": model.state_dict(), "optim": opt.state_dict(), "rng": tr.get_rng_state()}, "ckpt.npz")
    """
    path = _check_path(path, "tr.save")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"tr.save: folder {folder!r} does not exist (create it first)")
    if os.path.isdir(path):
        raise IsADirectoryError(f"tr.save: path {path!r} is a directory")
    enc = _Encoder()
    root = enc.encode(obj, ())
    manifest = json.dumps({"format": FORMAT, "version": VERSION, "root": root}, allow_nan=False)
    arrays = {MANIFEST_KEY: np.frombuffer(manifest.encode("utf-8"), dtype=np.uint8), **enc.arrays}
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


# ----------------------------------------------------------------------------------------- load
class _Decoder:
    """Rebuild an object from a manifest node, checking every field against the archive."""

    def __init__(self, archive, names: set[str], map_location, source: str) -> None:
        self.archive = archive
        self.names = names
        self.map_location = map_location
        self.source = source
        self._warned = False

    def fail(self, msg: str) -> ValueError:
        return ValueError(f"tr.load: {self.source} is not a valid tinygrad_rnn checkpoint: {msg}")

    def field(self, node: dict, name: str, types, where: str):
        if name not in node:
            raise self.fail(f"manifest entry at {where} lacks {name!r}")
        value = node[name]
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in _as_tuple(types)):
            raise self.fail(f"manifest entry at {where}: {name!r} has type {type(value).__name__}")
        return value

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
        if kind in ("list", "tuple"):
            items = self.field(node, "items", list, where)
            out = [self.decode(v, f"{where}/{i}", depth + 1) for i, v in enumerate(items)]
            return out if kind == "list" else tuple(out)
        if kind == "dict":
            out = {}
            for item in self.field(node, "items", list, where):
                if not (isinstance(item, list) and len(item) == 2 and isinstance(item[0], (str, int))
                        and not isinstance(item[0], bool)):
                    raise self.fail(f"manifest entry at {where}: dict items must be [key, value] with a str/int key")
                out[item[0]] = self.decode(item[1], f"{where}/{item[0]}", depth + 1)
            return out
        if kind == "array":
            return self.array(node, where)
        raise self.fail(f"manifest entry at {where} has unknown type {kind!r}")

    def array(self, node: dict, where: str):
        key = self.field(node, "key", str, where)
        dtype = self.field(node, "dtype", str, where)
        shape = self.field(node, "shape", list, where)
        how = self.field(node, "kind", str, where)
        if key == MANIFEST_KEY or key not in self.names:
            raise self.fail(f"manifest entry at {where} refers to array {key!r}, which the archive does not hold")
        if dtype not in _DTYPES:
            raise self.fail(f"manifest entry at {where} has unsupported dtype {dtype!r}")
        try:
            arr = self.archive[key]
        except Exception as e:   # object arrays (pickles), corrupt or truncated members
            raise self.fail(f"array {key!r} cannot be read ({type(e).__name__}: {e})") from None
        if arr.dtype.str != dtype or list(arr.shape) != shape:
            raise self.fail(f"array {key!r} is {arr.dtype.str}{list(arr.shape)}, the manifest says {dtype}{shape}")
        if not arr.flags.writeable:
            arr = arr.copy()
        if how == "ndarray":
            return arr
        if how == "numpy_scalar":
            if arr.ndim != 0:
                raise self.fail(f"numpy scalar {key!r} has shape {arr.shape}")
            return arr[()]
        if how not in ("tensor", "parameter"):
            raise self.fail(f"manifest entry at {where} has unknown array kind {how!r}")
        saved_device = self.field(node, "device", str, where)
        requires_grad = self.field(node, "requires_grad", bool, where)
        if saved_device not in ("cpu", "cuda"):
            raise self.fail(f"manifest entry at {where} has unknown device {saved_device!r}")
        t = Tensor._make(arr, "cpu", False, None, 0).to(self.device_for(saved_device))
        if requires_grad and arr.dtype.kind not in "fc":
            raise self.fail(f"manifest entry at {where}: requires_grad on a {arr.dtype} array")
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
                              stacklevel=4)
                self._warned = True
            return "cpu"
        return saved


def _as_tuple(types) -> tuple:
    return types if isinstance(types, tuple) else (types,)


def load(path: str | os.PathLike, map_location=None) -> Any:
    """Load what :func:`save` wrote. Never unpickles: foreign or tampered files raise ``ValueError``.

    Args:
        path: the checkpoint file.
        map_location: ``None`` (each tensor on its saved device; CUDA tensors fall back to the CPU, with a
            warning, where CUDA is not usable), a device (``"cpu"``, ``"cuda"``) for every tensor, or a
            dict mapping saved device to target device.

    Returns:
        The saved object: dicts, lists, tuples, Tensors (Parameters stay Parameters), NumPy arrays and
        scalars, numbers, bools, None and strings.

    Example::

        ckpt = tr.load("ckpt.npz", map_location="cpu")
        model.load_state_dict(ckpt["model"])
    """
    path = _check_path(path, "tr.load")
    if map_location is not None and not isinstance(map_location, dict):
        canonical_device(map_location)   # a bad device fails before the file is read
    if isinstance(map_location, dict):
        for k, v in map_location.items():
            canonical_device(k)
            canonical_device(v)
    source = repr(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if head != b"PK\x03\x04" and head != b"PK\x05\x06":
        raise ValueError(f"tr.load: {source} is not a tinygrad_rnn checkpoint (not a .npz/zip archive; files "
                         "from torch.save or pickle are not read, by design)")
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as e:
        raise ValueError(f"tr.load: {source} is not a readable checkpoint archive ({type(e).__name__}: {e})") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):  # pragma: no cover - the zip magic was checked
        raise ValueError(f"tr.load: {source} is not a .npz archive")
    with archive:
        try:
            names = set(archive.files)
        except (zipfile.BadZipFile, OSError) as e:  # pragma: no cover - np.load already parsed the directory
            raise ValueError(f"tr.load: {source}: damaged archive ({e})") from None
        dec = _Decoder(archive, names, map_location, source)
        if MANIFEST_KEY not in names:
            raise dec.fail(f"it has no {MANIFEST_KEY!r} member (a plain .npz? use numpy.load for those)")
        try:
            raw = archive[MANIFEST_KEY]
        except Exception as e:
            raise dec.fail(f"the manifest cannot be read ({type(e).__name__}: {e})") from None
        if raw.dtype != np.uint8 or raw.ndim != 1:
            raise dec.fail(f"the manifest is a {raw.dtype} array of shape {raw.shape}, expected 1-D uint8")
        try:
            manifest = json.loads(raw.tobytes().decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise dec.fail(f"the manifest is not valid JSON ({type(e).__name__})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise dec.fail("the manifest lacks the tinygrad_rnn format tag")
        if manifest.get("version") != VERSION:
            raise dec.fail(f"unsupported checkpoint version {manifest.get('version')!r} (this reads {VERSION})")
        if "root" not in manifest:
            raise dec.fail("the manifest has no 'root'")
        try:
            return dec.decode(manifest["root"])
        except RecursionError:
            raise dec.fail("manifest nested too deeply") from None
