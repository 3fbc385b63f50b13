"""Devices and array modules: names, the default device, CUDA errors without CuPy, moving tensors."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn import backend


@pytest.mark.cpu_only   # maps device names to strings: no array is made
@pytest.mark.parametrize("name,canon", [("cpu", "cpu"), ("CPU", "cpu"), ("cuda", "cuda"), ("cuda:0", "cuda"),
                                        (tr.device("cpu"), "cpu")])
def test_canonical_device_names(name, canon):
    assert backend.canonical_device(name) == canon


@pytest.mark.cpu_only   # argument validation: raises before any array is made
@pytest.mark.parametrize("bad", ["tpu", "cuda:1", "mps"])
def test_bad_device_names_are_clear(bad):
    with pytest.raises(tr.DeviceError, match=repr(bad).replace("'", ".")):
        tr.zeros(2, device=bad)


def test_device_object_is_a_str_with_type(device):
    d = tr.ones(1, device=device).device
    assert d == device and isinstance(d, str) and d.type == device and repr(d) == f"device(type='{device}')"


def test_default_device_from_environment(monkeypatch, device):
    monkeypatch.setenv("TINYGRAD_RNN_DEVICE", device)
    assert tr.zeros(1).device == device and tr.tensor([1.0]).device == device
    assert backend.device_of(tr.zeros(1)._data) == device
    monkeypatch.setenv("TINYGRAD_RNN_DEVICE", "gpu0")
    with pytest.raises(tr.DeviceError, match="TINYGRAD_RNN_DEVICE.*'gpu0'"):
        tr.zeros(1)
    monkeypatch.delenv("TINYGRAD_RNN_DEVICE")
    assert backend.default_device() == "cpu"


@pytest.mark.cpu_only   # checks the error on a machine without CUDA; a GPU machine has nothing to check
def test_cuda_without_cupy_says_how_to_install():
    if tr.cuda_is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(tr.DeviceError, match=r"pip install 'tinygrad-rnn\[cuda12\]'"):
        tr.tensor([1.0], device="cuda")
    with pytest.raises(RuntimeError, match="CuPy"):      # also catchable as torch users do
        tr.ones(2).to("cuda")
    assert tr.cuda_is_available() is False


def test_numpy_is_always_numpy_and_to_moves(device):
    x = tr.tensor(np.arange(3.0), device=device, requires_grad=True)
    assert isinstance(x.numpy(), np.ndarray)
    y = x.to("cpu")
    assert y.device == "cpu" and isinstance(y._data, np.ndarray)
    (y * 2).sum().backward()                        # the move is differentiable
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])
    assert x.grad.device == device


def test_to_dtype_and_device_together(device):
    x = tr.tensor([1, 2], device=device)
    y = x.to(device, tr.float64)
    assert y.dtype == np.float64 and y.device == device
    assert x.to(x) is x and x.to(dtype=tr.int64) is x


def test_cpu_to_cpu_is_the_same_tensor(device):
    x = tr.ones(2, device=device)
    assert x.to(device) is x and getattr(x, device)() is x          # x.cpu() / x.cuda()
    assert x.to(tr.device(device)) is x and x.to(f"{device}:0") is x


def test_xp_helpers(device):
    assert backend.xp_for("cpu") is np
    a = np.ones(2)
    assert backend.device_of(a) == "cpu" and backend.is_device_array(a) and not backend.is_device_array([1])
    assert backend.to_numpy([1, 2]).tolist() == [1, 2] and backend.move(a, "cpu") is a
    d = backend.move(a, device)                    # to the device and back to the host
    assert backend.device_of(d) == device and backend.is_device_array(d) and backend.move(d, device) is d
    assert isinstance(backend.xp_for(device).asarray(d), type(d))
    back = backend.to_numpy(d)
    assert isinstance(back, np.ndarray) and back.tolist() == [1.0, 1.0] and backend.move(d, "cpu").tolist() == [1, 1]


@pytest.mark.cpu_only   # host malloc tuning: no device involved
def test_keep_host_memory_applies_on_glibc_and_honours_the_opt_out(monkeypatch):
    import ctypes
    import sys
    from tinygrad_rnn import backend
    if not sys.platform.startswith("linux") or not hasattr(ctypes.CDLL(None), "mallopt"):
        pytest.skip("needs glibc's mallopt")
    monkeypatch.delenv("TINYGRAD_RNN_KEEP_HOST_MEMORY", raising=False)
    for v in backend._MALLOC_ENV:
        monkeypatch.delenv(v, raising=False)
    assert backend.keep_host_memory() is True
    monkeypatch.setenv("TINYGRAD_RNN_KEEP_HOST_MEMORY", "0")
    assert backend.keep_host_memory() is False
    monkeypatch.delenv("TINYGRAD_RNN_KEEP_HOST_MEMORY")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000000")     # the user's own malloc tuning wins
    assert backend.keep_host_memory() is False
