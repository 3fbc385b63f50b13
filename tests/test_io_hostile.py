"""Hostile checkpoints (issue 11, item 6): zip bombs, aliased and duplicate names, unloadable keys,
members that are not arrays, file modes and temporary files. Every malformed file -> ValueError."""

import io
import json
import os
import pathlib
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import tinygrad_rnn as tr

ROOT = pathlib.Path(__file__).resolve().parents[1]
GiB = 1 << 30


def _manifest_bytes(root) -> bytes:
    return json.dumps({"format": "tinygrad_rnn.checkpoint", "version": 1, "root": root}).encode()


def _npy_header(dtype: str, shape: tuple) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, {"descr": dtype, "fortran_order": False, "shape": shape})
    return buf.getvalue()


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def _node(key="arrays/x", dtype="<f4", shape=(2,)):
    return {"type": "array", "key": key, "dtype": dtype, "shape": list(shape), "kind": "tensor",
            "device": "cpu", "requires_grad": False}


def _write_zip(path, members, compression=zipfile.ZIP_STORED):
    """A zip of (name, bytes or iterable of byte chunks) in order; names may repeat."""
    with zipfile.ZipFile(path, "w", compression=compression, compresslevel=1) as z:
        for name, data in members:
            with pytest.warns(UserWarning, match="Duplicate name") if name in z.NameToInfo else _nothing():
                with z.open(name, "w", force_zip64=True) as m:
                    for chunk in ([data] if isinstance(data, bytes) else data):
                        m.write(chunk)


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _manifest_member(root):
    return ("__manifest__.npy", _npy(np.frombuffer(_manifest_bytes(root), np.uint8)))


def _rejected(path, match):
    with pytest.raises(ValueError, match=match):
        tr.load(path)


# ----------------------------------------------------------------------------------------- what tr.save writes
@pytest.mark.cpu_only   # archive layout of host arrays; no device involved
def test_save_writes_one_stored_member_per_array(tmp_path):
    obj = {"a": tr.ones(3), "b": [np.arange(4), tr.zeros(2, 2)], "n": 3}
    tr.save(obj, tmp_path / "c.npz")
    with zipfile.ZipFile(tmp_path / "c.npz") as z:
        infos = z.infolist()
    assert [i.filename for i in infos] == ["__manifest__.npy", "arrays/a.npy", "arrays/b/0.npy", "arrays/b/1.npy"]
    assert all(i.compress_type == zipfile.ZIP_STORED and i.file_size == i.compress_size for i in infos)


@pytest.mark.cpu_only   # key text only; the arrays are tiny host tensors
def test_keys_round_trip_exactly_whatever_their_text(tmp_path):
    keys = ["w", "w.npy", "w.npy.npy", "a.b.c", "a/b", "a%2Fb", "a\\b", "../up", ".", "..", "", " ", "arrays/w",
            "__manifest__", "__manifest__.npy", "ünï/cødé ✓", "日本語", "tab\tnew\nline", "a\x00x", "\x00", "%00"]
    obj = {k: tr.full((2,), float(i)) for i, k in enumerate(keys)}
    obj["nested"] = {k: np.full(1, i) for i, k in enumerate(keys)}
    tr.save(obj, tmp_path / "k.npz")
    back = tr.load(tmp_path / "k.npz")
    assert list(back) == list(obj) and list(back["nested"]) == list(obj["nested"])
    for i, k in enumerate(keys):
        assert back[k].numpy().tolist() == [float(i)] * 2, repr(k)
        assert back["nested"][k].tolist() == [i], repr(k)
    with zipfile.ZipFile(tmp_path / "k.npz") as z:
        names = z.namelist()
    assert len(set(names)) == len(names) == 2 * len(keys) + 1
    assert not any("\x00" in n or "/../" in n or n.endswith("/..npy") for n in names)


@pytest.mark.cpu_only   # key text only
def test_w_and_w_npy_do_not_alias(tmp_path):
    """NumPy's NpzFile maps "w" to member "w.npy" too; the reader looks members up by exact name."""
    tr.save({"w": tr.ones(2), "w.npy": tr.full((2,), 2.0)}, tmp_path / "a.npz")
    back = tr.load(tmp_path / "a.npz")
    assert back["w"].numpy().tolist() == [1, 1] and back["w.npy"].numpy().tolist() == [2, 2]


# ----------------------------------------------------------------------------------------- malformed archives
@pytest.mark.cpu_only   # hostile bytes are parsed on the host
def test_duplicate_member_names_are_refused(tmp_path):
    path = tmp_path / "dup.npz"
    _write_zip(path, [_manifest_member(_node()), ("arrays/x.npy", _npy(np.ones(2, np.float32))),
                      ("arrays/x.npy", _npy(np.full(2, 7, np.float32)))])
    _rejected(path, r"two members named 'arrays/x.npy'")


@pytest.mark.cpu_only   # hostile bytes are parsed on the host
def test_member_referenced_twice_is_refused(tmp_path):
    path = tmp_path / "twice.npz"
    _write_zip(path, [_manifest_member({"type": "list", "items": [_node(), _node()]}),
                      ("arrays/x.npy", _npy(np.ones(2, np.float32)))])
    _rejected(path, r"'arrays/x' is referenced twice")


@pytest.mark.cpu_only   # hostile bytes are parsed on the host
def test_compressed_members_are_refused(tmp_path):
    path = tmp_path / "deflated.npz"
    _write_zip(path, [_manifest_member(_node()), ("arrays/x.npy", _npy(np.ones(2, np.float32)))],
               compression=zipfile.ZIP_DEFLATED)
    _rejected(path, r"member '__manifest__.npy' is compressed")


@pytest.mark.cpu_only   # hostile bytes are parsed on the host
@pytest.mark.parametrize("data,match", [
    (b"not an npy file at all", r"'arrays/x' cannot be read \(ValueError"),
    (b"", r"'arrays/x' cannot be read"),
    (_npy(np.ones(2, np.float32))[:-3], r"declares <f4\[2\] = 8 bytes, but the entry holds 5"),
    (_npy(np.ones(2, np.float32)) + b"junk", r"declares <f4\[2\] = 8 bytes, but the entry holds 12"),
    (_npy_header("<f4", (2 ** 40,)) + bytes(8), r"declares <f4\[1099511627776\]"),
    (_npy_header("|O", (2,)) + bytes(16), r"dtype object"),
    (_npy(np.array(["ab", "c"])), r"dtype <U2"),
    (b"\x93NUMPY\x09\x00" + bytes(20), r"cannot be read"),
], ids=["text", "empty", "short", "trailing", "huge-header", "object", "unicode", "bad-version"])
def test_members_that_are_not_plain_arrays(tmp_path, data, match):
    path = tmp_path / "m.npz"
    _write_zip(path, [_manifest_member(_node()), ("arrays/x.npy", data)])
    _rejected(path, match)


@pytest.mark.cpu_only   # hostile bytes are parsed on the host
def test_corrupt_member_bytes_fail_the_crc(tmp_path):
    path = tmp_path / "c.npz"
    tr.save({"x": tr.arange(1000, dtype=tr.float32)}, path)
    data = bytearray(path.read_bytes())
    i = data.index(np.arange(1000, dtype=np.float32).tobytes()[400:408])
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    _rejected(path, r"'arrays/x' cannot be read \(BadZipFile: Bad CRC")


@pytest.mark.cpu_only   # hostile bytes are parsed on the host
def test_members_claiming_more_than_the_file_are_refused(tmp_path):
    """A central directory whose entries claim more bytes than the file holds (overlapping entries)."""
    path = tmp_path / "o.npz"
    tr.save({"x": tr.ones(64)}, path)
    data = bytearray(path.read_bytes())
    cd = data.rindex(b"PK\x01\x02")            # the last central-directory entry: arrays/x.npy
    data[cd + 20: cd + 28] = (0x7FFF0000).to_bytes(4, "little") * 2   # compressed and uncompressed size
    path.write_bytes(bytes(data))
    _rejected(path, r"claim 2147418\d+ bytes in all, more than the \d+ bytes of the file")


@pytest.mark.cpu_only   # hostile bytes are parsed on the host
def test_member_names_that_are_not_utf8(tmp_path):
    path = tmp_path / "u.npz"
    tr.save({"x": tr.ones(2)}, path)
    data = bytearray(path.read_bytes().replace(b"arrays/x.npy", b"arrays/\xff.npy"))
    cd = data.rindex(b"PK\x01\x02")
    data[cd + 9] |= 0x08                      # general-purpose flags: bit 11 says "names are UTF-8"
    path.write_bytes(bytes(data))
    _rejected(path, r"not a readable checkpoint archive \(UnicodeDecodeError")


# ----------------------------------------------------------------------------------------- zip bombs: memory
_MEASURE = textwrap.dedent("""
    import json, resource, sys, tracemalloc
    import tinygrad_rnn as tr
    out = []
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    for path in sys.argv[1:]:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        try:
            tr.load(path)
            err = None
        except Exception as e:
            err = f"{type(e).__name__}: {e}"
        out.append({"path": path, "error": err, "peak": tracemalloc.get_traced_memory()[1] - base})
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0
    print(json.dumps({"cases": out, "rss_kib": rss}))
""")


def _bombs(tmp_path) -> dict:
    """Each kind of bomb, as the issue describes it: every one would load about 1 GiB."""
    n = GiB // 4                                               # float32 elements in 1 GiB
    paths = {}
    zero = bytes(1 << 24)
    # 1. a ~1 MiB file whose array member inflates to 1 GiB (the manifest stored, so it passes its own checks)
    paths["deflate"] = tmp_path / "deflate.npz"
    with zipfile.ZipFile(paths["deflate"], "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as z:
        z.writestr(zipfile.ZipInfo("__manifest__.npy"), _manifest_member(_node(shape=(n,)))[1])   # stored
        with z.open("arrays/x.npy", "w", force_zip64=True) as member:                        # deflated
            member.write(_npy_header("<f4", (n,)))
            for _ in range(GiB // len(zero)):
                member.write(zero)
    # 2. a 4 MiB stored member referenced 256 times by the manifest
    paths["refs"] = tmp_path / "refs.npz"
    m = 1 << 20
    _write_zip(paths["refs"], [_manifest_member({"type": "list", "items": [_node(shape=(m,))] * 256}),
                               ("arrays/x.npy", _npy(np.zeros(m, np.float32)))])
    # 3. an .npy header declaring 1 GiB in a tiny entry
    paths["header"] = tmp_path / "header.npz"
    _write_zip(paths["header"], [_manifest_member(_node(shape=(n,))),
                                 ("arrays/x.npy", _npy_header("<f4", (n,)) + bytes(16))])
    return paths


@pytest.mark.cpu_only   # measures host memory of the loader in a subprocess
def test_zip_bombs_are_refused_without_allocating(tmp_path):
    paths = _bombs(tmp_path)
    assert all(p.stat().st_size < 5 * (1 << 20) for p in paths.values())      # small files...
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    res = subprocess.run([sys.executable, "-c", _MEASURE, *map(str, paths.values())], capture_output=True,
                         text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout.strip().splitlines()[-1])
    expected = {"deflate": "'arrays/x.npy' is compressed", "refs": "referenced twice", "header": "declares <f4"}
    for (kind, match), case in zip(expected.items(), report["cases"]):
        assert case["error"] is not None and case["error"].startswith("ValueError") and match in case["error"], \
            (kind, case)
        assert case["peak"] < 50 * (1 << 20), (kind, case["peak"])            # ...that load nothing big
    assert report["rss_kib"] < 50 * 1024, report["rss_kib"]


# ----------------------------------------------------------------------------------------- file modes, temp files
def _mode(path) -> int:
    return os.stat(path).st_mode & 0o777


@pytest.mark.cpu_only   # file-system permissions; no tensor
@pytest.mark.parametrize("umask,expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_checkpoints_get_the_mode_open_would_give(tmp_path, umask, expected):
    old = os.umask(umask)
    try:
        tr.save({"x": 1}, tmp_path / "c.npz")
        if _has_safetensors():
            tr.save({"w": tr.ones(2)}, tmp_path / "s.safetensors")
        with open(tmp_path / "ref.txt", "w"):
            pass
    finally:
        os.umask(old)
    assert _mode(tmp_path / "c.npz") == _mode(tmp_path / "ref.txt") == expected
    if _has_safetensors():
        assert _mode(tmp_path / "s.safetensors") == expected


def _has_safetensors() -> bool:
    try:
        import safetensors.numpy  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.cpu_only   # file-system permissions; no tensor
@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_an_existing_checkpoint_keeps_its_mode(tmp_path, umask):
    path = tmp_path / "c.npz"
    old = os.umask(umask)
    try:
        for mode in (0o644, 0o600, 0o640, 0o664):
            tr.save({"x": 1}, path)
            os.chmod(path, mode)
            tr.save({"x": 2}, path)
            assert _mode(path) == mode and tr.load(path) == {"x": 2}
    finally:
        os.umask(old)


@pytest.mark.cpu_only   # file names of temporary files; no tensor
def test_temp_files_are_named_and_others_are_left_alone(tmp_path, monkeypatch):
    path = tmp_path / "model.ckpt"
    foreign = tmp_path / ".model.ckpt.tmp-1-deadbeef"         # another process's save in flight
    foreign.write_bytes(b"in flight")
    seen = []
    real = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        assert os.path.exists(src)
        return real(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    tr.save({"x": 1}, path)
    monkeypatch.undo()
    assert len(seen) == 1 and seen[0].startswith(f".model.ckpt.tmp-{os.getpid()}-")
    assert sorted(os.listdir(tmp_path)) == [foreign.name, "model.ckpt"]
    assert foreign.read_bytes() == b"in flight"

    def boom(*args):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        tr.save({"x": 2}, path)
    monkeypatch.undo()
    assert sorted(os.listdir(tmp_path)) == [foreign.name, "model.ckpt"] and tr.load(path) == {"x": 1}


@pytest.mark.cpu_only   # a killed save: the temporary file it leaves behind names itself
def test_a_killed_save_leaves_a_recognisable_temp_file(tmp_path):
    code = textwrap.dedent(f"""
        import os, numpy as np, tinygrad_rnn as tr
        real = np.lib.format.write_array
        def die(*a, **k):
            os._exit(3)
        np.lib.format.write_array = die
        tr.save({{"x": tr.ones(3)}}, {str(tmp_path / "c.npz")!r})
    """)
    res = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert res.returncode == 3
    (left,) = os.listdir(tmp_path)
    assert left.startswith(".c.npz.tmp-") and left.split("-")[1].isdigit()


# ----------------------------------------------------------------------------------------- file objects
def test_file_objects_bytesio_and_open_files(tmp_path, device):
    obj = {"w": tr.randn(3, 2, device=device), "k": [1, "two"]}
    buf = io.BytesIO()
    tr.save(obj, buf)
    assert not buf.closed
    buf.seek(0)
    back = tr.load(buf)
    assert back["k"] == [1, "two"] and back["w"].device == device
    np.testing.assert_array_equal(back["w"].numpy(), obj["w"].numpy())
    with open(tmp_path / "f.ckpt", "wb") as f:
        tr.save(obj, f)
    with open(tmp_path / "f.ckpt", "rb") as f:
        np.testing.assert_array_equal(tr.load(f, map_location="cpu")["w"].numpy(), obj["w"].numpy())
    assert tr.load(tmp_path / "f.ckpt")["k"] == [1, "two"]


@pytest.mark.cpu_only   # argument validation of file objects
def test_text_files_and_unreadable_streams(tmp_path):
    with open(tmp_path / "t.txt", "w") as f:
        with pytest.raises(TypeError, match="binary mode"):
            tr.save({"x": 1}, f)
    with pytest.raises(ValueError, match="not a tinygrad_rnn checkpoint"):
        tr.load(io.BytesIO(b"hello"))
    with pytest.raises(TypeError, match="weights_only must be a bool"):
        tr.load(io.BytesIO(b""), weights_only="yes")


@pytest.mark.cpu_only   # non-seekable stream of host data
def test_non_seekable_streams(tmp_path):
    buf = io.BytesIO()
    tr.save({"x": tr.arange(4)}, buf)

    class Pipe(io.RawIOBase):
        def __init__(self, data):
            self.data = io.BytesIO(data)

        def readable(self):
            return True

        def seekable(self):
            return False

        def readinto(self, b):
            return self.data.readinto(b)

    assert tr.load(io.BufferedReader(Pipe(buf.getvalue())))["x"].numpy().tolist() == [0, 1, 2, 3]
