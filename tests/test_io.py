"""tr.save / tr.load: round trips, atomic writes, devices, and foreign or malicious files (never run code)."""

import json
import math
import os
import pathlib
import pickle
import zipfile

import numpy as np
import pytest
from conftest import require

import tinygrad_rnn as tr

MARKER = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / "tinygrad_rnn_io_pwned"


class _Evil:
    """Unpickling this object would create MARKER."""

    def __reduce__(self):
        return (pathlib.Path.touch, (MARKER,))


def _write_npz(path, manifest, **arrays):
    """An archive in our layout with a hand-made manifest (a dict, or raw bytes)."""
    raw = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
    with open(path, "wb") as f:
        np.savez(f, __manifest__=np.frombuffer(raw, dtype=np.uint8), **arrays)


def _tensor_node(key="arrays/x", dtype="<f4", shape=(2,), **extra):
    node = {"type": "array", "key": key, "dtype": dtype, "shape": list(shape), "kind": "tensor",
            "device": "cpu", "requires_grad": False}
    node.update(extra)
    return node


def _manifest(root):
    return {"format": "tinygrad_rnn.checkpoint", "version": 1, "root": root}


def _assert_same(a, b):
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, tr.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.device == b.device
        assert a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, float) and math.isnan(a):
        assert math.isnan(b)
    else:
        assert a == b and (not isinstance(a, float) or math.copysign(1, a) == math.copysign(1, b))


# ----------------------------------------------------------------------------------------- round trips
def test_round_trip_of_nested_structures(tmp_path, device):
    d = device                                          # "scalar" stays on the CPU: a mixed checkpoint on cuda
    obj = {
        "weights": {"w": tr.randn(3, 4, device=d), "b": tr.zeros(4, dtype=tr.float64, requires_grad=True, device=d)},
        "ints": tr.arange(5, device=d), "mask": tr.tensor([True, False], device=d), "scalar": tr.tensor(2.5),
        "empty": tr.zeros(0, 3, device=d),
        "list": [1, 2.0, -0.0, float("inf"), float("-inf"), float("nan"), None, True, False, "ü/ñ", 2 ** 100],
        "tuple": (np.arange(6, dtype=np.int32).reshape(2, 3), np.float64(1.5), np.int64(-7), np.bool_(True)),
        "nested": [[{"deep": (tr.ones(1, device=d),)}], [], (), {}],
        0: "int key", 7: {"state": tr.ones(2, device=d)}, "7": "str key next to int key 7",
        "a/b": tr.full((2,), 3.0, device=d), "a%2Fb": tr.full((2,), 4.0, device=d), "": "empty key",
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)), "complex": np.array([1 + 2j]),
    }
    tr.save(obj, str(tmp_path / "ckpt.npz"))
    back = tr.load(str(tmp_path / "ckpt.npz"))
    _assert_same(obj, back)
    w = back["weights"]["w"]
    if device == "cpu":
        assert w._data.flags.writeable                  # usable for in-place training at once
    else:
        w.add_(1.0)                                     # (CuPy arrays have no writeable flag: use it in place)
        np.testing.assert_array_equal(w.numpy(), obj["weights"]["w"].numpy() + np.float32(1.0))


def test_top_level_tensor_and_parameters(tmp_path, device):
    t = tr.randn(2, 3, device=device)
    tr.save(t, tmp_path / "t.npz")
    _assert_same(t, tr.load(tmp_path / "t.npz"))
    lin = tr.nn.Linear(3, 2).to(device)
    p = lin.weight
    p._name = "weight"
    tr.save({"p": p, "sd": lin.state_dict()}, tmp_path / "p.npz")
    back = tr.load(tmp_path / "p.npz")
    assert isinstance(back["p"], tr.nn.Parameter) and back["p"].requires_grad and back["p"].device == device
    np.testing.assert_array_equal(back["p"].detach().numpy(), p.detach().numpy())
    lin2 = tr.nn.Linear(3, 2).to(device)
    lin2.load_state_dict(back["sd"])
    np.testing.assert_array_equal(lin2.weight.detach().numpy(), p.detach().numpy())
    assert lin2.weight.device == device


@pytest.mark.cpu_only   # paths and file names: no tensor is made
def test_path_types_and_exact_name(tmp_path):
    tr.save({"x": 1}, pathlib.Path(tmp_path) / "model.ckpt")
    assert os.listdir(tmp_path) == ["model.ckpt"]          # no suffix added, no temporary file left
    assert tr.load(pathlib.Path(tmp_path) / "model.ckpt") == {"x": 1}
    with pytest.raises(TypeError, match="must be a str, an os.PathLike or a binary file object"):
        tr.save({}, 3)
    with pytest.raises(TypeError, match="must be a str, an os.PathLike or a binary file object"):
        tr.load(None)


@pytest.mark.cpu_only   # file-system errors: no tensor is made
def test_missing_folder_and_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        tr.save({"x": 1}, tmp_path / "no" / "such" / "ckpt.npz")
    with pytest.raises(FileNotFoundError):
        tr.load(tmp_path / "absent.npz")
    with pytest.raises(IsADirectoryError):
        tr.save({"x": 1}, tmp_path)


@pytest.mark.cpu_only   # argument validation of Python objects: raises before any array is written
def test_unsupported_objects_write_nothing(tmp_path):
    path = tmp_path / "c.npz"
    tr.save({"ok": 1}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=r"type object at model/fn"):
        tr.save({"model": {"fn": object()}}, path)
    with pytest.raises(TypeError, match="dict keys must be str or int"):
        tr.save({(1, 2): 3}, path)
    with pytest.raises(TypeError, match="dtype <U1"):
        tr.save({"s": np.array(["a"])}, path)
    with pytest.raises(TypeError, match="dtype object"):
        tr.save({"o": np.array([{}], dtype=object)}, path)
    cyc = []
    cyc.append(cyc)
    with pytest.raises(ValueError, match="reference cycle"):
        tr.save(cyc, path)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["c.npz"]


# ----------------------------------------------------------------------------------------- atomicity
def test_failure_midway_leaves_the_old_checkpoint_and_no_temp_file(tmp_path, monkeypatch, device):
    path = tmp_path / "ckpt.npz"
    tr.save({"step": 1, "w": tr.ones(3, device=device)}, path)
    before = path.read_bytes()
    real = np.lib.format.write_array
    calls = []

    def failing(*args, **kwargs):      # the manifest and the first array are written, then the disk "fails"
        calls.append(1)
        if len(calls) == 3:
            raise OSError("No space left on device")
        return real(*args, **kwargs)

    monkeypatch.setattr(np.lib.format, "write_array", failing)
    with pytest.raises(OSError, match="No space left"):
        tr.save({"step": 2, "w": tr.zeros(3, device=device), "b": tr.zeros(2, device=device),
                 "c": tr.zeros(1, device=device)}, path)
    assert len(calls) == 3
    monkeypatch.undo()
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["ckpt.npz"]
    assert tr.load(path)["step"] == 1


@pytest.mark.cpu_only   # atomic rename of a file holding no tensor
def test_failure_at_rename_leaves_the_old_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    tr.save({"step": 1}, path)

    def boom(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        tr.save({"step": 2}, path)
    monkeypatch.undo()
    assert tr.load(path) == {"step": 1} and os.listdir(tmp_path) == ["ckpt.npz"]


@pytest.mark.cpu_only   # file replacement, no tensor
def test_overwrite_replaces_the_file(tmp_path):
    path = tmp_path / "ckpt.npz"
    tr.save({"step": 1}, path)
    tr.save({"step": 2}, path)
    assert tr.load(path) == {"step": 2}


# ----------------------------------------------------------------------------------------- devices
def test_map_location_and_cuda_fallback(tmp_path, device):
    path = tmp_path / "gpu.npz"
    _write_npz(path, _manifest(_tensor_node(device="cuda")), **{"arrays/x": np.ones(2, np.float32)})
    if not tr.cuda_is_available():
        with pytest.warns(UserWarning, match="loading them on 'cpu'"):
            t = tr.load(path)
        assert t.device == "cpu"
    if device == "cuda":                 # with CUDA: back on the saved device, and a CPU file mapped onto it
        t = tr.load(path)
        assert t.device == "cuda" and np.array_equal(t.numpy(), [1, 1])
        host = tmp_path / "cpu.npz"
        _write_npz(host, _manifest(_tensor_node()), **{"arrays/x": np.full(2, 3.0, np.float32)})
        for loc in ("cuda", {"cpu": "cuda"}, tr.device("cuda")):
            t = tr.load(host, map_location=loc)
            assert t.device == "cuda" and np.array_equal(t.numpy(), [3, 3]), loc
    t = tr.load(path, map_location="cpu")
    assert t.device == "cpu" and np.array_equal(t.numpy(), [1, 1])
    assert tr.load(path, map_location={"cuda": "cpu"}).device == "cpu"
    with pytest.raises(ValueError, match="device"):
        tr.load(path, map_location="tpu")


def test_device_round_trip(device, tmp_path):
    t = tr.randn(3, device=device)
    tr.save({"t": t}, tmp_path / "d.npz")
    assert tr.load(tmp_path / "d.npz")["t"].device == device
    back = tr.load(tmp_path / "d.npz", map_location="cpu")["t"]
    assert back.device == "cpu" and np.array_equal(back.numpy(), t.numpy())


# ----------------------------------------------------------------------------------------- foreign files
def _assert_rejected(path, match="tinygrad_rnn checkpoint|checkpoint archive"):
    MARKER.unlink(missing_ok=True)
    with pytest.raises(ValueError, match=match):
        tr.load(path)
    assert not MARKER.exists(), "loading ran code"


@pytest.mark.cpu_only   # untrusted bytes are parsed on the host and rejected before any tensor reaches a device
def test_random_bytes_empty_and_truncated_files(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "random.npz").write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    _assert_rejected(tmp_path / "random.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    _assert_rejected(tmp_path / "empty.npz")
    tr.save({"w": tr.randn(100, 100), "b": tr.randn(100)}, tmp_path / "full.npz")
    data = (tmp_path / "full.npz").read_bytes()
    for cut in (10, len(data) // 2, len(data) - 10):
        (tmp_path / "cut.npz").write_bytes(data[:cut])
        _assert_rejected(tmp_path / "cut.npz")
    (tmp_path / "random_zip.npz").write_bytes(b"PK\x03\x04" + rng.integers(0, 256, 500, dtype=np.uint8).tobytes())
    _assert_rejected(tmp_path / "random_zip.npz")


@pytest.mark.cpu_only   # malicious files are rejected while parsing on the host
def test_pickles_are_never_loaded(tmp_path):
    (tmp_path / "evil.pkl").write_bytes(pickle.dumps({"w": _Evil()}))
    _assert_rejected(tmp_path / "evil.pkl", match="not a .npz/zip archive")
    np.save(tmp_path / "evil.npy", np.array([_Evil()], dtype=object), allow_pickle=True)
    _assert_rejected(tmp_path / "evil.npy", match="not a .npz/zip archive")
    # an object array inside an archive whose manifest points at it
    with open(tmp_path / "obj.npz", "wb") as f:
        np.savez(f, __manifest__=np.frombuffer(json.dumps(_manifest(_tensor_node(dtype="<f4"))).encode(), np.uint8),
                 **{"arrays/x": np.array([_Evil(), 1], dtype=object)})
    _assert_rejected(tmp_path / "obj.npz", match="cannot be read|unsupported dtype|manifest says")
    # an object-array manifest
    with open(tmp_path / "objman.npz", "wb") as f:
        np.savez(f, __manifest__=np.array([_Evil()], dtype=object))
    _assert_rejected(tmp_path / "objman.npz", match="manifest cannot be read")


@pytest.mark.cpu_only   # foreign file rejected while parsing on the host
def test_plain_npz_without_manifest(tmp_path):
    np.savez(tmp_path / "plain.npz", w=np.ones(3))
    _assert_rejected(tmp_path / "plain.npz", match="no '__manifest__' member")


@pytest.mark.cpu_only   # foreign file rejected while parsing on the host
def test_torch_save_files_are_rejected(tmp_path):
    torch = require("torch")
    torch.save({"w": torch.ones(2)}, tmp_path / "t.pt")
    _assert_rejected(tmp_path / "t.pt", match="no '__manifest__' member")


@pytest.mark.cpu_only   # manifest validation on the host: rejected before any tensor is made
@pytest.mark.parametrize("manifest,arrays,match", [
    (_manifest(_tensor_node(key="arrays/missing")), {"arrays/x": np.ones(2, np.float32)}, "does not hold"),
    (_manifest(_tensor_node(key="__manifest__")), {}, "does not hold"),
    (_manifest(_tensor_node(dtype="|O")), {"arrays/x": np.ones(2, np.float32)}, "unsupported dtype"),
    (_manifest(_tensor_node(dtype="<f8")), {"arrays/x": np.ones(2, np.float32)}, "manifest says"),
    (_manifest(_tensor_node(shape=(3,))), {"arrays/x": np.ones(2, np.float32)}, "manifest says"),
    (_manifest(_tensor_node(dtype=4)), {"arrays/x": np.ones(2, np.float32)}, "'dtype' has type int"),
    (_manifest(_tensor_node(device="tpu")), {"arrays/x": np.ones(2, np.float32)}, "unknown device"),
    (_manifest(_tensor_node(kind="pickle")), {"arrays/x": np.ones(2, np.float32)}, "unknown array kind"),
    (_manifest(_tensor_node(requires_grad="yes")), {"arrays/x": np.ones(2, np.float32)}, "requires_grad"),
    (_manifest(_tensor_node(dtype="<i8", requires_grad=True)), {"arrays/x": np.ones(2, np.int64)}, "requires_grad"),
    (_manifest({"type": "code", "value": "import os"}), {}, "unknown type 'code'"),
    (_manifest({"type": "int", "value": "1"}), {}, "'value' has type str"),
    (_manifest({"type": "int", "value": True}), {}, "'value' has type bool"),
    (_manifest({"type": "float", "value": "1e5"}), {}, "bad float"),
    (_manifest({"type": "dict", "items": [[[1], {"type": "none"}]]}), {}, "dict items"),
    (_manifest({"type": "list", "items": {"a": 1}}), {}, "'items' has type dict"),
    (_manifest([1, 2]), {}, "expected an object"),
    (_manifest({"value": 1}), {}, "lacks 'type'"),
    ({"format": "something-else", "version": 1, "root": {"type": "none"}}, {}, "format tag"),
    ({"format": "tinygrad_rnn.checkpoint", "version": 99, "root": {"type": "none"}}, {}, "version 99"),
    ({"format": "tinygrad_rnn.checkpoint", "version": 1}, {}, "no 'root'"),
    (b"\xff\xfe not json", {}, "not valid JSON"),
    (b"[" * 100000 + b"]" * 100000, {}, "not valid JSON|format tag"),
], ids=lambda v: str(v)[:40] if isinstance(v, str) else None)
def test_tampered_manifests_raise_value_error(tmp_path, manifest, arrays, match):
    path = tmp_path / "bad.npz"
    _write_npz(path, manifest, **arrays)
    _assert_rejected(path, match=match)


@pytest.mark.cpu_only   # manifest validation on the host: rejected before any tensor is made
@pytest.mark.parametrize("depth", [300, 5000])
def test_deeply_nested_manifest(tmp_path, depth):
    root = '{"type": "list", "items": [' * depth + '{"type": "none"}' + "]}" * depth
    raw = ('{"format": "tinygrad_rnn.checkpoint", "version": 1, "root": ' + root + "}").encode()
    path = tmp_path / "deep.npz"
    _write_npz(path, raw)
    _assert_rejected(path, match="nested|not valid JSON")


@pytest.mark.cpu_only   # argument validation of nested lists: raises before anything is written
def test_too_deep_objects_are_refused_on_save(tmp_path):
    obj = None
    for _ in range(300):
        obj = [obj]
    with pytest.raises(ValueError, match="nested deeper than"):
        tr.save(obj, tmp_path / "deep.npz")
    assert not os.listdir(tmp_path)


@pytest.mark.cpu_only   # manifest validation on the host: rejected before any tensor is made
def test_manifest_of_wrong_array_type(tmp_path):
    with open(tmp_path / "m.npz", "wb") as f:
        np.savez(f, __manifest__=np.zeros((2, 2), np.float32))
    _assert_rejected(tmp_path / "m.npz", match="expected 1-D uint8")


def test_archive_is_a_plain_npz_that_numpy_reads(tmp_path, device):
    """The format is documented: NumPy alone reads the arrays and the manifest (saved from either device)."""
    tr.save({"model": {"w": tr.ones(2, 3, device=device)}, "step": 4}, tmp_path / "c.npz")
    with zipfile.ZipFile(tmp_path / "c.npz") as z:
        assert sorted(z.namelist()) == ["__manifest__.npy", "arrays/model/w.npy"]
    with np.load(tmp_path / "c.npz", allow_pickle=False) as z:
        manifest = json.loads(z["__manifest__"].tobytes())
        assert manifest["root"]["items"][1] == ["step", {"type": "int", "value": 4}]
        np.testing.assert_array_equal(z["arrays/model/w"], np.ones((2, 3), np.float32))
