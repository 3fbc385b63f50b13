"""The tensor-level PyTorch surface that ported programs call (issue 16): ``tr.cuda``, ``tr.backends``,
``tr.accelerator``, default devices, ``inference_mode``, legacy constructors, ``Variable``, the deprecated
``add_(Number, Tensor)`` overload, in-place shape methods, ``normal``, ``meshgrid``, ``Size``, dtypes and
NumPy-style keyword aliases. Values are checked against golden PyTorch results (``tests/fixtures/port.npz``,
made by ``tests/fixtures/make_port_fixtures.py``) and against live torch where it is installed; the
differentiable ops are on the op table (``tests/fixtures/make_op_fixtures.py``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import pickle
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest
from conftest import fixture_module, require

import tinygrad_rnn as tr

fx = fixture_module("make_port_fixtures")


@functools.lru_cache(maxsize=1)
def golden() -> dict:
    with np.load(fx.FIXTURE, allow_pickle=False) as f:
        return {k: f[k] for k in f.files}


@contextlib.contextmanager
def default_device(device):
    tr.set_default_device(device)
    try:
        yield
    finally:
        tr.set_default_device(None)


# --------------------------------------------------------------------- torch.cuda, backends, accelerator


def test_cuda_queries_answer_truly(device):
    try:
        import cupy
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:       # no CuPy, or CuPy without a driver
        count = 0
    assert tr.cuda.device_count() == count
    assert tr.cuda.is_available() is tr.cuda_is_available() is tr.accelerator.is_available()
    assert tr.accelerator.device_count() == count
    if device == "cuda":
        assert tr.cuda.is_available() and tr.cuda.current_device() == 0
        x = tr.ones(1000, device="cuda") * 2
        tr.cuda.synchronize()
        assert x.sum().item() == 2000.0
        assert isinstance(tr.cuda.get_device_name(), str)
        assert tr.accelerator.current_accelerator() == "cuda"
        assert tr.accelerator.current_accelerator(check_available=True) == "cuda"


@pytest.mark.cpu_only      # the answers without a GPU: only meaningful where CUDA is not usable
def test_cuda_without_a_gpu_is_false_zero_and_clear_errors():
    if tr.cuda.is_available():
        pytest.skip("a GPU is usable here")
    assert tr.cuda.device_count() == 0 and tr.accelerator.current_accelerator(check_available=True) is None
    for fn in (tr.cuda.current_device, tr.cuda.synchronize):
        with pytest.raises(RuntimeError, match="CUDA is not available"):
            fn()
    tr.cuda.empty_cache()        # a no-op without CUDA, as in PyTorch


@pytest.mark.cpu_only      # seeding: no array op runs on a device
def test_cuda_manual_seed_checks_the_seed_and_leaves_the_cpu_generator_alone():
    tr.manual_seed(3)
    state = tr.get_rng_state()
    tr.cuda.manual_seed(123)
    tr.cuda.manual_seed_all(5)
    assert tr.get_rng_state() == state
    for fn in (tr.cuda.manual_seed, tr.cuda.manual_seed_all):
        with pytest.raises(TypeError, match="seed must be an int"):
            fn(1.5)


@pytest.mark.cpu_only      # module attributes only
def test_cudnn_flags_are_accepted_and_documented_as_without_effect():
    cudnn = tr.backends.cudnn
    old = (cudnn.enabled, cudnn.benchmark, cudnn.deterministic)
    assert old == (True, False, False)         # PyTorch's defaults
    try:
        cudnn.benchmark, cudnn.deterministic, cudnn.enabled = True, True, False
        x = tr.randn(3, 4)
        assert tr.allclose((x * 2).sum(), x.sum() * 2)
    finally:
        cudnn.enabled, cudnn.benchmark, cudnn.deterministic = old
    assert cudnn.is_available() is False and cudnn.version() is None
    assert "no effect" in cudnn.__doc__.replace("\n", " ") or "change nothing" in cudnn.__doc__.replace("\n", " ")
    assert tr.backends.mps.is_available() is False


# --------------------------------------------------------------------- devices


def test_set_default_device_places_new_tensors_and_parameters(device):
    assert tr.get_default_device() == "cpu"
    with default_device(device):
        assert tr.get_default_device() == device
        assert tr.zeros(2).device == device and tr.tensor([1.0]).device == device
        assert tr.nn.Linear(2, 3).weight.device == device
        assert tr.randn(2).device == device
    assert tr.get_default_device() == "cpu" and tr.zeros(1).device == "cpu"


@pytest.mark.cpu_only      # argument checking, no array op
def test_set_default_device_rejects_bad_devices_before_changing_anything():
    with pytest.raises(ValueError, match="device"):
        tr.set_default_device("tpu")
    if not tr.cuda.is_available():
        with pytest.raises(RuntimeError, match="cuda"):
            tr.set_default_device("cuda")
    assert tr.get_default_device() == "cpu"


def test_torch_device_objects_are_taken_everywhere(device):
    torch = require("torch")
    for spec in (("cpu",), ("cuda",), ("cuda:0",), ("cuda", 0)):
        ours, ref = tr.device(*spec), torch.device(*spec)
        assert repr(ours) == repr(ref) and ours.type == ref.type and ours.index == ref.index
    d = tr.device(device)
    x = tr.tensor([1.0, 2.0], device=d)
    assert x.device == device and x.to(d).device == device and tr.zeros(2).to(d).device == device
    m = tr.nn.Linear(2, 1).to(d)
    assert m.weight.device == device and m(x).device == device
    assert repr(tr.ones(1, device=device).device) == ("device(type='cpu')" if device == "cpu"
                                                      else "device(type='cuda', index=0)")
    with pytest.raises(ValueError, match="index"):
        tr.device("cuda", -1)


# --------------------------------------------------------------------- inference_mode


def test_inference_mode_context_and_decorators(device):
    x = tr.randn(3, device=device, requires_grad=True)
    with tr.inference_mode():
        assert not tr.is_grad_enabled() and tr.is_inference_mode_enabled()
        y = x * 2
    assert not y.requires_grad and tr.is_grad_enabled() and not tr.is_inference_mode_enabled()

    @tr.inference_mode()
    def f(t):
        return t * 3

    @tr.inference_mode
    def g(t):
        return t * 3

    assert not f(x).requires_grad and not g(x).requires_grad and f.__name__ == "f"
    assert tr.is_grad_enabled()
    with tr.inference_mode(False):
        assert (x * 2).requires_grad
    with tr.no_grad():
        with tr.inference_mode(False):       # mode=False leaves grad mode as it is
            assert not (x * 2).requires_grad
        with tr.inference_mode():
            pass
        assert not tr.is_grad_enabled()
    with pytest.raises(ZeroDivisionError):
        with tr.inference_mode():
            raise ZeroDivisionError
    assert tr.is_grad_enabled()
    with pytest.raises(TypeError, match="mode must be a bool"):
        tr.inference_mode("yes")


@pytest.mark.cpu_only      # grad-mode bookkeeping across threads, no array op on a device
def test_inference_mode_depth_is_per_thread():
    seen = []
    with tr.inference_mode():
        t = threading.Thread(target=lambda: seen.append(tr.is_inference_mode_enabled()))
        t.start()
        t.join()
    assert seen == [False]


# --------------------------------------------------------------------- legacy constructors and Variable


LEGACY = [("LongTensor", ([1, 2],)), ("LongTensor", ([1.7, -2.2],)), ("FloatTensor", ([1, 2],)),
          ("DoubleTensor", ([[1, 2], [3, 4]],)), ("BoolTensor", ([1, 0, 2],)), ("LongTensor", ()),
          ("IntTensor", ([3],)), ("ByteTensor", ([3, 4],))]


@pytest.mark.cpu_only      # compares with live torch on the host; the device variant is below
def test_legacy_constructors_match_torch():
    torch = require("torch")
    for name, args in LEGACY:
        ours, ref = getattr(tr, name)(*args), getattr(torch, name)(*args)
        assert str(ours.dtype) == str(ref.dtype) and ours.tolist() == ref.tolist(), (name, args)
        assert ours.type() == ref.type() and repr(ours) == repr(ref)
    for name, size in (("LongTensor", (2, 3)), ("FloatTensor", (4,)), ("DoubleTensor", (tr.Size([2, 1]),))):
        ours = getattr(tr, name)(*size)
        ref = getattr(torch, name)(*[torch.Size(s) if isinstance(s, tr.Size) else s for s in size])
        assert ours.shape == tuple(ref.shape) and str(ours.dtype) == str(ref.dtype)
    x = tr.zeros(2)
    assert isinstance(x, tr.FloatTensor) and not isinstance(x, tr.LongTensor)
    assert isinstance(tr.tensor([1]), tr.LongTensor)
    assert x.type(tr.LongTensor).dtype == tr.int64 and x.type("torch.DoubleTensor").dtype == tr.float64
    with pytest.raises(TypeError, match="dtype"):
        tr.FloatTensor(tr.tensor([1, 2]))          # PyTorch refuses a tensor of another dtype too
    with pytest.raises(TypeError):
        torch.FloatTensor(torch.tensor([1, 2]))


def test_legacy_constructor_on_the_default_device(device):
    with default_device(device):
        x = tr.LongTensor([3, 1, 2])
        assert x.device == device and x.dtype == tr.int64 and x.tolist() == [3, 1, 2]
        assert tr.FloatTensor(2, 2).device == device and tr.FloatTensor(2, 2).tolist() == [[0.0, 0.0], [0.0, 0.0]]
    assert x.type() == ("torch.LongTensor" if device == "cpu" else "torch.cuda.LongTensor")


def test_variable_returns_a_tensor_that_honours_requires_grad(device):
    data = tr.tensor([1.0, 2.0], device=device)
    v = tr.autograd.Variable(data, requires_grad=True)
    assert type(v) is tr.Tensor and v.requires_grad and v.is_leaf
    assert isinstance(data, tr.autograd.Variable) and isinstance(v, tr.autograd.Variable)
    (v * v).sum().backward()
    np.testing.assert_allclose(v.grad.numpy(), [2.0, 4.0])
    w = tr.autograd.Variable(data)
    assert not w.requires_grad
    with tr.no_grad():
        w.add_(1.0)              # shares storage with data, as PyTorch
    assert data.tolist() == [2.0, 3.0]
    from tinygrad_rnn.autograd import Variable
    assert Variable is tr.autograd.Variable
    with pytest.raises(TypeError, match="Tensor"):
        tr.autograd.Variable([1.0])


# --------------------------------------------------------------------- the deprecated alpha overloads


@pytest.mark.parametrize("name", list(fx.ALPHA_CASES))
def test_deprecated_alpha_overload_values_and_warning(name, device):
    g = golden()
    with default_device(device):
        values, texts = fx.alpha_run(tr, name)
    np.testing.assert_allclose(values, g[f"alpha/{name}/values"], rtol=1e-12)
    assert texts == list(g[f"alpha/{name}/warnings"]) and len(texts) == 1


@pytest.mark.cpu_only      # starts a fresh torch process (PyTorch warns once per process)
def test_deprecated_add__warning_text_equals_live_torch():
    require("torch")
    values, texts = fx.torch_alpha_run("add_inplace")
    ours_values, ours_texts = fx.alpha_run(tr, "add_inplace")
    np.testing.assert_allclose(ours_values, values, rtol=1e-12)
    assert ours_texts == texts


def test_alpha_keyword_and_current_overloads_do_not_warn(device):
    x, y = tr.ones(3, device=device), tr.ones(3, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.add(y, alpha=2).tolist() == [3.0] * 3
        assert x.add(2).tolist() == [3.0] * 3 and x.add(2.5, alpha=2).tolist() == [6.0] * 3
        x.add_(y, alpha=-0.5)
        assert tr.add(x, y, alpha=2).tolist() == [2.5] * 3
    assert x.tolist() == [0.5] * 3


# --------------------------------------------------------------------- in-place shape methods


def test_inplace_shape_methods_change_this_tensor(device):
    torch = require("torch")
    a = np.arange(6.0).reshape(2, 3)
    for n, call in ((1, lambda t: t.unsqueeze_(1)), (1, lambda t: t.squeeze_()), (1, lambda t: t.t_()),
                    (1, lambda t: t.transpose_(0, 1)), (2, lambda t: t.unsqueeze_(0).squeeze_(0)),
                    (1, lambda t: t.resize_(3, 2)), (1, lambda t: t.resize_(4)), (1, lambda t: t.resize_(2, 2))):
        ours, ref = tr.tensor(a, device=device), torch.tensor(a)
        v0 = ours._version.value
        assert call(ours) is ours
        call(ref)
        assert ours.shape == tuple(ref.shape) and ours.tolist() == ref.tolist()
        assert ours._version.value == v0 + n == ref._version + v0
    grown = tr.tensor([1.0, 2.0], device=device).resize_(2, 2)
    assert grown.shape == (2, 2) and grown.tolist()[0] == [1.0, 2.0]      # new elements: zeros here


def test_inplace_shape_methods_autograd(device):
    x = tr.tensor([[1.0, 2.0, 3.0]], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        x.unsqueeze_(0)
    assert x.shape == (1, 3)
    y = x * 2
    y.squeeze_(0)
    assert y.shape == (3,) and y.grad_fn is not None
    (y * tr.tensor([1.0, 10.0, 100.0], device=device)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[2.0, 20.0, 200.0]])
    with tr.no_grad():
        x.t_()
    assert x.shape == (3, 1) and x.requires_grad
    with pytest.raises(RuntimeError, match="cannot resize variables that require grad"):
        x.resize_(3)
    with pytest.raises(IndexError):
        tr.zeros(2, 3, device=device).transpose_(0, 2)
    with pytest.raises(ValueError, match="<= 2 dimensions"):
        tr.zeros(1, 2, 3, device=device).t_()


# --------------------------------------------------------------------- normal, meshgrid, einsum errors


def test_normal_overloads_shapes_statistics_and_gradients(device):
    torch = require("torch")
    with default_device(device):
        tr.manual_seed(0)
        a = tr.normal(2.0, 3.0, size=(20000,))
        tr.manual_seed(0)
        b = tr.normal(2.0, 3.0, (20000,))
        assert a.dtype == tr.float32 and a.device == device and a.equal(b)
        assert abs(a.mean().item() - 2.0) < 0.1 and abs(a.std().item() - 3.0) < 0.1
        mean = tr.zeros(2, 3, dtype=tr.float64, requires_grad=True)
        std = tr.full((3,), 2.0, dtype=tr.float64, requires_grad=True)
        y = tr.normal(mean, std)
        assert y.shape == (2, 3) and y.dtype == tr.float64 and y.requires_grad
        y.sum().backward()
    # PyTorch's normal(mean, std) keeps the graph but its gradients are zero (no reparameterisation)
    tm = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    ts = torch.full((3,), 2.0, dtype=torch.float64, requires_grad=True)
    ty = torch.normal(tm, ts)
    assert ty.requires_grad
    ty.sum().backward()
    for ours, ref in ((mean, tm), (std, ts)):
        assert ours.grad.shape == tuple(ref.grad.shape)
        np.testing.assert_array_equal(ours.grad.numpy(), ref.grad.numpy())
    assert tr.normal(tr.zeros(4, device=device)).shape == (4,)
    assert tr.normal(1.0, tr.ones(3, device=device)).shape == (3,)
    with pytest.raises(TypeError, match="size"):
        tr.normal(0.0, 1.0)
    with pytest.raises(ValueError, match="std"):
        tr.normal(0.0, -1.0, size=(2,))


def test_meshgrid_default_indexing_warns_like_torch(device):
    torch = require("torch")
    x, y = tr.arange(3, device=device), tr.arange(2, device=device)
    with pytest.warns(UserWarning, match="it will be required to pass the indexing argument"):
        gx, gy = tr.meshgrid(x, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rx, ry = torch.meshgrid(torch.arange(3), torch.arange(2))
    assert gx.tolist() == rx.tolist() and gy.tolist() == ry.tolist()
    with pytest.raises(ValueError, match="indexing"):
        tr.meshgrid(x, y, indexing="ji")
    with pytest.raises(ValueError, match="1-D"):
        tr.meshgrid(tr.zeros(2, 2, device=device), indexing="ij")


def test_einsum_and_triangle_errors(device):
    a, b = tr.ones(2, 3, device=device), tr.ones(4, 5, device=device)
    with pytest.raises(ValueError, match="size 4 in operand 1 but 3"):
        tr.einsum("ij,jk->ik", a, b)
    with pytest.raises(ValueError, match="2 operand"):
        tr.einsum("ij,jk->ik", a)
    with pytest.raises(ValueError, match="name 3"):
        tr.einsum("ijk", a)
    with pytest.raises(ValueError, match="does not appear"):
        tr.einsum("ij->iz", a)
    with pytest.raises(ValueError, match="invalid subscript"):
        tr.einsum("i1", a)
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        tr.ones(3, device=device).tril()
    with pytest.raises(TypeError, match="diagonal"):
        a.triu(0.5)


# --------------------------------------------------------------------- Size, dtypes, keyword aliases


def test_size_is_a_tuple_with_numel(device):
    torch = require("torch")
    ours, ref = tr.zeros(2, 3, 4, device=device).size(), torch.zeros(2, 3, 4).size()
    assert isinstance(ours, tuple) and ours == ref == (2, 3, 4) and repr(ours) == repr(ref)
    assert ours.numel() == ref.numel() == 24 and tr.Size([]).numel() == 1
    assert isinstance(ours[1:], tr.Size) and ours[1:] == (3, 4) and ours[0] == 2
    assert repr(ours + (5,)) == repr(ref + (5,))
    assert tr.zeros(2, 3, device=device).size(-1) == 3


@pytest.mark.cpu_only      # dtype objects only
def test_dtypes_print_as_torch_and_stand_for_numpy_dtypes():
    torch = require("torch")
    for name in ("float32", "float64", "float16", "int64", "int32", "int16", "int8", "uint8", "bool",
                 "float", "double", "half", "long", "int", "short"):
        assert str(getattr(tr, name)) == str(getattr(torch, name)) == repr(getattr(tr, name)), name
    assert tr.float32 == np.float32 and np.dtype("float32") == tr.float32 and tr.float32 != tr.float64
    assert np.dtype(tr.int64) == np.int64 and tr.zeros(2).numpy().astype(tr.float64).dtype == np.float64
    assert tr.float32 != "float32"                 # as torch: a name is not a dtype
    assert tr.float32.is_floating_point and not tr.int64.is_floating_point and tr.float64.itemsize == 8
    assert pickle.loads(pickle.dumps(tr.float64)) is tr.float64 and {np.dtype("int64"): 1}[tr.long] == 1
    x = tr.tensor([1.0])
    assert x.dtype is tr.float32 and str(x.double().dtype) == "torch.float64" and tr.get_default_dtype() is tr.float32
    assert str(tr.tensor([1]).dtype) == str(torch.tensor([1]).dtype)


def test_numpy_keyword_aliases(device):
    torch = require("torch")
    a = np.random.default_rng(0).standard_normal((3, 4))
    x, t = tr.tensor(a, device=device), torch.tensor(a)
    cases = [lambda m, v: v.sum(axis=0, keepdims=True), lambda m, v: v.argmax(axis=1),
             lambda m, v: m.argmax(v, axis=0, keepdims=True), lambda m, v: v.max(axis=1)[0],
             lambda m, v: v.mean(axis=1), lambda m, v: m.sum(v, axis=1), lambda m, v: v.std(axis=0),
             lambda m, v: v.softmax(axis=0), lambda m, v: v.logsumexp(axis=1), lambda m, v: v.unsqueeze(axis=0),
             lambda m, v: m.cat([v, v], axis=1), lambda m, v: m.stack([v, v], axis=0), lambda m, v: v.amax(axis=0),
             lambda m, v: v.all(axis=0), lambda m, v: v.sort(axis=0)[0], lambda m, v: v.narrow(axis=0, start=1,
                                                                                               length=2)]
    for k, case in enumerate(cases):
        np.testing.assert_allclose(np.asarray(case(tr, x).tolist()), np.asarray(case(torch, t).tolist()),
                                   rtol=1e-12, err_msg=str(k))
    with pytest.raises(TypeError, match="both dim= and its alias axis="):
        x.sum(dim=0, axis=0)


# --------------------------------------------------------------------- the subprocess check of imports


@pytest.mark.cpu_only      # imports in a fresh interpreter: no array op
def test_torch_style_imports_work():
    code = ("import tinygrad_rnn as torch; from tinygrad_rnn.autograd import Variable; "
            "import tinygrad_rnn.backends.cudnn as cudnn; from tinygrad_rnn.nn.utils.rnn import pack_sequence, "
            "unpack_sequence, unpad_sequence; import json; "
            "print(json.dumps([torch.cuda.is_available(), cudnn.benchmark, str(torch.float32)]))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    avail, bench, name = json.loads(out.stdout.strip().splitlines()[-1])
    assert bench is False and name == "torch.float32" and avail == tr.cuda.is_available()
