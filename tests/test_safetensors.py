"""``tr.save`` / ``tr.load`` of a ``state_dict`` to a ``.safetensors`` path (issue 16, interchange), through the
optional ``safetensors`` package: round trips, files PyTorch writes (live and a committed golden file), errors."""

import io
import os

import numpy as np
import pytest
from conftest import fixture_module, require

import tinygrad_rnn as tr

FIX = fixture_module("make_safetensors_fixtures")


@pytest.fixture(autouse=True)
def _needs_safetensors():
    require("safetensors")


def test_round_trip_of_a_state_dict(tmp_path, device):
    sd = dict(tr.nn.LSTM(3, 4, num_layers=2, bidirectional=True).to(device).state_dict())
    sd.update({"half": tr.ones(2, 2, dtype=tr.float16, device=device), "ids": tr.arange(5, device=device),
               "mask": tr.tensor([True, False], device=device), "np": np.arange(6, dtype=np.int32).reshape(2, 3),
               "t": tr.randn(3, 4, device=device).t(), "scalar": tr.tensor(1.5, device=device)})
    tr.save(sd, tmp_path / "m.safetensors")
    back = tr.load(tmp_path / "m.safetensors")
    assert set(back) == set(sd)
    for k, v in sd.items():
        ref = v.numpy() if isinstance(v, tr.Tensor) else v
        b = back[k]
        assert isinstance(b, tr.Tensor) and b.device == "cpu" and not b.requires_grad
        assert b.dtype == ref.dtype and b.shape == ref.shape, k
        np.testing.assert_array_equal(b.numpy(), ref)
    b = back["ids"]
    b.add_(1)                                                      # writable, usable at once
    if device == "cuda":
        assert tr.load(tmp_path / "m.safetensors", map_location="cuda")["ids"].device == "cuda"
    with open(tmp_path / "m.safetensors", "rb") as f:               # a file object holding safetensors
        np.testing.assert_array_equal(tr.load(f)["np"].numpy(), sd["np"])


def test_golden_file_written_by_pytorch(device):
    """A file from safetensors.torch.save_file (tests/fixtures/make_safetensors_fixtures.py)."""
    back = tr.load(FIX.FIXTURE, map_location=device)
    with np.load(FIX.EXPECTED, allow_pickle=False) as ref:
        expected = {k[len("tensor/"):]: ref[k] for k in ref.files if k.startswith("tensor/")}
        x, y, h, c = (ref[k] for k in ("x", "y", "h", "c"))
    assert set(back) == set(expected)
    for k, v in expected.items():
        assert back[k].dtype == v.dtype and back[k].shape == v.shape and back[k].device == device, k
        np.testing.assert_array_equal(back[k].numpy(), v)
    lstm = tr.nn.LSTM(3, 4, num_layers=2, batch_first=True).to(device)
    lstm.load_state_dict({k: v for k, v in back.items() if not k.startswith("extra.")})
    out, (hn, cn) = lstm(tr.tensor(x, device=device))
    for got, want in ((out, y), (hn, h), (cn, c)):
        np.testing.assert_allclose(got.detach().numpy(), want, rtol=1e-5, atol=1e-6)


@pytest.mark.cpu_only   # interchange with torch on the host, live
def test_files_move_both_ways_with_pytorch_live(tmp_path):
    torch = require("torch")
    from safetensors.torch import load_file, save_file

    torch.manual_seed(0)            # seeded: the float32 tolerances below hold for these draws every run
    tlstm, data = FIX.tensors(torch)
    save_file(data, tmp_path / "t.safetensors")
    back = tr.load(tmp_path / "t.safetensors")
    for k, v in data.items():
        np.testing.assert_array_equal(back[k].numpy(), v.numpy())
    lstm = tr.nn.LSTM(3, 4, num_layers=2, batch_first=True)
    lstm.load_state_dict({k: v for k, v in back.items() if not k.startswith("extra.")})
    x = torch.randn(2, 6, 3)
    with torch.no_grad():
        want = tlstm(x)[0].numpy()
    np.testing.assert_allclose(lstm(tr.tensor(x.numpy()))[0].detach().numpy(), want, rtol=1e-5, atol=1e-6)
    # and back: ours written, torch reads it
    mine = tr.nn.GRU(3, 5, bidirectional=True)
    tr.save(mine.state_dict(), tmp_path / "ours.safetensors")
    tgru = torch.nn.GRU(3, 5, bidirectional=True)
    tgru.load_state_dict(load_file(tmp_path / "ours.safetensors"))
    with torch.no_grad():
        want = tgru(x)[0].numpy()
    np.testing.assert_allclose(mine(tr.tensor(x.numpy()))[0].detach().numpy(), want, rtol=1e-5, atol=1e-6)
    # bfloat16 has no NumPy dtype: a clear ValueError
    save_file({"b": torch.ones(2, dtype=torch.bfloat16)}, tmp_path / "bf16.safetensors")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        tr.load(tmp_path / "bf16.safetensors")


@pytest.mark.cpu_only   # argument validation before anything is written
@pytest.mark.parametrize("obj,match", [
    ([tr.ones(2)], "flat dict of tensors"),
    ({1: tr.ones(2)}, "keys must be str"),
    ({"a": {"b": tr.ones(2)}}, "values must be tensors, got dict at 'a'"),
    ({"a": 3}, "values must be tensors, got int"),
    ({"a": np.ones(2, np.complex64)}, "cannot hold dtype complex64"),
])
def test_what_safetensors_cannot_hold(tmp_path, obj, match):
    with pytest.raises(TypeError, match=match):
        tr.save(obj, tmp_path / "x.safetensors")
    assert not os.listdir(tmp_path)


@pytest.mark.cpu_only   # hostile bytes parsed on the host
def test_malformed_safetensors_files(tmp_path):
    tr.save({"w": tr.ones(100)}, tmp_path / "ok.safetensors")
    data = (tmp_path / "ok.safetensors").read_bytes()
    header_len = int.from_bytes(data[:8], "little")
    cases = {"truncated": data[:-10], "empty": b"", "text": b"hello world",
             "huge-header": (1 << 40).to_bytes(8, "little") + data[8:],
             "lying-shape": data.replace(b"[100]", b"[999]")}
    assert b"[100]" in data[:8 + header_len]
    for name, raw in cases.items():
        (tmp_path / f"{name}.safetensors").write_bytes(raw)
        with pytest.raises(ValueError, match="not a readable safetensors file"):
            tr.load(tmp_path / f"{name}.safetensors")
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        tr.load(io.BytesIO(cases["lying-shape"]))
