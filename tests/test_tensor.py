"""Tensor basics: PyTorch's dtype promotion, reflected operators, random ops, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tr

f32, f64, i64, i32 = np.dtype("float32"), np.dtype("float64"), np.dtype("int64"), np.dtype("int32")


# --------------------------------------------------------------------- construction and promotion

@pytest.mark.parametrize("data,dtype", [
    ([1.0, 2.0], f32), (1.5, f32), ([1, 2], i64), (3, i64), (True, np.dtype(bool)),
    (np.ones(2), f64), (np.ones(2, np.float32), f32), (np.arange(3, dtype=np.int32), i32), (np.float64(2.0), f64),
])
def test_tensor_dtype_inference(data, dtype, device):
    t = tr.tensor(data, device=device)
    assert t.dtype == dtype and t.device == device
    assert tr.Tensor([1, 2]).dtype == f32                # torch.Tensor(data) is always float32


def T(values, dtype, device="cpu"):
    return tr.tensor(np.asarray(values), dtype=dtype, device=device)


@pytest.mark.parametrize("make,dtype", [
    (lambda d: T([1.0, 2.0], f32, d) * 2.5, f32),          # a Python float never upcasts a float tensor
    (lambda d: 2.5 * T([1.0, 2.0], f32, d), f32),
    (lambda d: T([1.0], f32, d) + np.float64(2.0), f32),   # nor does a NumPy scalar
    (lambda d: T([1, 2], i64, d) + 2.5, f32),              # an int tensor with a float scalar -> float32
    (lambda d: T([1, 2], i64, d) * 2, i64),
    (lambda d: T([1, 2], i32, d) * 2, i32),
    (lambda d: T([1, 2], i64, d) / 2, f32),                # true division of ints -> float32
    (lambda d: T([1.0], f64, d) * 1.5, f64),
    (lambda d: T([1.0], f32, d) + T(2.0, f64, d), f32),    # a 0-d tensor acts like a scalar
    (lambda d: T([1, 2], i64, d) + T(2.5, f32, d), f32),   # ... but still lifts the category
    (lambda d: T(1, i64, d) + T(2.5, f64, d), f64),        # 0-d with 0-d: normal promotion
    (lambda d: T([1], i32, d) + T(5, i64, d), i32),
    (lambda d: T([1.0], f32, d) + T([1.0], f64, d), f64),  # two dimensioned tensors: normal promotion
    (lambda d: T([True], bool, d) + 1, i64),
    (lambda d: 2 ** T([1, 2], i64, d), i64),
    (lambda d: 2.0 ** T([1, 2], i64, d), f32),
    (lambda d: T([1.0, 2.0], f32, d) ** 2, f32),
])
def test_type_promotion_follows_pytorch(make, dtype, device):
    assert make(device).dtype == dtype


def test_numpy_arrays_keep_float64_in_ops(device):
    x = tr.tensor([1.0, 2.0], device=device)
    assert (x + np.ones(2)).dtype == f64
    y = np.ones(2) + x                                     # ndarray <op> Tensor defers to the Tensor
    assert isinstance(y, tr.Tensor) and y.dtype == f64 and y.device == device
    np.testing.assert_array_equal(y.numpy(), [2.0, 3.0])


# cpu_only: live torch on the host; the GPU counterpart is test_type_promotion_follows_pytorch[cuda-*]
@pytest.mark.cpu_only
def test_promotion_matches_torch_live():
    from conftest import require
    torch = require("torch")
    cases = [(np.float32, [1.0], 2.5), (np.int64, [1, 2], 2.5), (np.int32, [1], 7), (np.bool_, [True], 1),
             (np.int64, [3], 2.0)]
    for dt, data, scalar in cases:
        ours = tr.tensor(np.asarray(data, dt))
        ref = torch.tensor(np.asarray(data, dt))
        for op in (lambda a, s: a + s, lambda a, s: a * s, lambda a, s: s + a, lambda a, s: s * a, lambda a, s: a / s):
            assert str(op(ours, scalar).dtype) == str(op(ref, scalar).dtype), (dt, scalar)


# --------------------------------------------------------------------- reflected operators

def test_reflected_operators(device):
    x = tr.tensor(np.array([1.0, 2.0]), device=device, requires_grad=True)
    W = tr.tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), device=device, requires_grad=True)
    y = (2 - x) + (3 / x) + (2 ** x) + (1.5 * x) + (x @ W).sum() + (0.5 + x)
    y.sum().backward()
    xv = np.array([1.0, 2.0])
    np.testing.assert_allclose(y.numpy(), (2 - xv) + 3 / xv + 2 ** xv + 1.5 * xv + (xv @ W.numpy()).sum() + 0.5 + xv)
    np.testing.assert_allclose(x.grad.numpy(), -1 - 3 / xv ** 2 + np.log(2) * 2 ** xv + 1.5 + 2 * W.numpy().sum(1) + 1)
    np.testing.assert_allclose(W.grad.numpy(), 2 * np.repeat(xv[:, None], 2, axis=1))   # y.sum() counts it twice
    z = np.array([[1.0, 0.0]]) @ W                          # ndarray @ Tensor
    assert isinstance(z, tr.Tensor)
    np.testing.assert_allclose(z.numpy(), [[1.0, 2.0]])


# --------------------------------------------------------------------- dropout and multinomial

def test_dropout_is_reproducible_scaled_and_differentiable(device):
    x = tr.tensor(np.ones((200, 50)), device=device, requires_grad=True)
    a = tr.dropout(x, 0.3, generator=tr.Generator().manual_seed(7))
    b = tr.dropout(x, 0.3, generator=tr.Generator().manual_seed(7))
    c = tr.dropout(x, 0.3, generator=tr.Generator().manual_seed(8))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(a.numpy(), c.numpy())
    vals = np.unique(a.numpy())
    np.testing.assert_allclose(vals, [0.0, 1 / 0.7])
    assert abs((a.numpy() == 0).mean() - 0.3) < 0.02
    a.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), a.numpy())     # dx = mask / (1 - p)
    tr.manual_seed(3)
    d1 = x.dropout(0.5).numpy()
    tr.manual_seed(3)
    np.testing.assert_array_equal(x.dropout(0.5).numpy(), d1)    # the default generator is seeded too


def test_dropout_identity_cases_and_bad_p(device):
    x = tr.tensor(np.ones(4), device=device)
    assert tr.dropout(x, 0.5, training=False) is x
    assert tr.dropout(x, 0.0) is x
    np.testing.assert_array_equal(tr.dropout(x, 1.0).numpy(), np.zeros(4))
    for p in (-0.1, 1.5, "0.5"):
        with pytest.raises(ValueError, match="p must be a probability"):
            tr.dropout(x, p)


def test_multinomial_statistics(device):
    w = tr.tensor([[0.1, 0.2, 0.7], [0.5, 0.0, 0.5]], device=device)
    g = tr.Generator().manual_seed(0)
    s = tr.multinomial(w, 4000, replacement=True, generator=g)
    assert s.shape == (2, 4000) and s.dtype == i64 and s.device == device
    freq0 = np.bincount(s.numpy()[0], minlength=3) / 4000
    freq1 = np.bincount(s.numpy()[1], minlength=3) / 4000
    np.testing.assert_allclose(freq0, [0.1, 0.2, 0.7], atol=0.03)
    np.testing.assert_allclose(freq1, [0.5, 0.0, 0.5], atol=0.03)
    assert freq1[1] == 0.0                                       # zero weight is never drawn
    s2 = tr.multinomial(w, 4000, replacement=True, generator=tr.Generator().manual_seed(0))
    np.testing.assert_array_equal(s.numpy(), s2.numpy())


def test_multinomial_without_replacement(device):
    w = tr.tensor([1.0, 1.0, 8.0, 0.0], device=device)
    g = tr.Generator().manual_seed(1)
    draws = np.array([tr.multinomial(w, 3, generator=g).numpy() for _ in range(2000)])
    assert all(len(set(d)) == 3 for d in draws) and not (draws == 3).any()
    first = np.bincount(draws[:, 0], minlength=4) / 2000
    np.testing.assert_allclose(first, [0.1, 0.1, 0.8, 0.0], atol=0.03)
    with pytest.raises(ValueError, match="without replacement"):
        tr.multinomial(w, 5)
    with pytest.raises(ValueError, match="non-negative"):
        tr.multinomial(tr.tensor([1.0, -1.0], device=device), 1)


# --------------------------------------------------------------------- bad input

def test_matmul_shape_mismatch_names_shapes(device):
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(2, 3\).*3 != 2"):
        tr.zeros(2, 3, device=device) @ tr.zeros(2, 3, device=device)
    with pytest.raises(ValueError, match="at least 1 dimension"):
        tr.tensor(1.0, device=device) @ tr.zeros(1, device=device)


def test_wrong_dtype_errors(device):
    with pytest.raises(TypeError, match="torch.float32 and torch.float64"):
        tr.zeros(2, device=device) @ tr.zeros(2, dtype=tr.float64, device=device)
    with pytest.raises(TypeError, match="only floating-point.*int64"):
        tr.tensor([1, 2], requires_grad=True, device=device)
    with pytest.raises(TypeError, match="index must be an integer Tensor.*float32"):
        tr.zeros(3, device=device).gather(0, tr.tensor([0.0], device=device))
    with pytest.raises(TypeError, match="mask: expected a bool Tensor.*int64"):
        tr.zeros(3, device=device).masked_fill(tr.tensor([1, 0, 1], device=device), 0.0)
    with pytest.raises(TypeError, match="dtype"):
        tr.zeros(2, dtype="not-a-dtype", device=device)
    with pytest.raises(TypeError, match="holding <U"):
        tr.tensor(["a", "b"], device=device)


def test_mixed_devices_name_both(device):
    x = tr.ones(2)
    if device == "cuda":
        y = tr.ones(2, device="cuda")       # a real CUDA tensor
    else:
        y = tr.ones(2)
        y._device = tr.device("cuda")       # a fake CUDA tensor: only the device check is exercised
    with pytest.raises(tr.DeviceError, match=r"'cpu'.*'cuda'"):
        x + y
    with pytest.raises(RuntimeError):       # DeviceError is also a RuntimeError, as torch raises
        x * y
    with pytest.raises(ValueError):         # ... and a ValueError, as DESIGN.md asks
        tr.cat([x, y])
    idx = tr.tensor([1, 0])
    if device == "cuda":
        idx = idx.to("cuda")
    else:
        idx._device = tr.device("cuda")
    with pytest.raises(tr.DeviceError, match=r"gather: index is on 'cuda'.*'cpu'"):
        x.gather(0, idx)                    # as torch: gather makes no implicit copy of its index


def test_out_of_range_indices(device):
    x = tr.zeros(2, 3, device=device)
    with pytest.raises(IndexError, match=r"index 5 is out of range for dim 1 of size 3"):
        x[0, 5]
    with pytest.raises(IndexError, match=r"index 4 is out of range.*size 2"):
        x[tr.tensor([0, 4], device=device)]
    with pytest.raises(IndexError, match=r"index 3 is out of range.*size 3"):
        x.gather(1, tr.tensor([[0, 3], [1, 1]], device=device))
    with pytest.raises(IndexError, match=r"dimension out of range.*\[-2, 1\].*got 2"):
        x.sum(2)
    with pytest.raises(IndexError, match="too many indices"):
        x[0, 0, 0]
    with pytest.raises(IndexError, match="boolean mask of shape"):
        x[tr.tensor([True, False, True], device=device)]


def test_backward_on_non_scalar_needs_gradient(device):
    x = tr.tensor([1.0, 2.0], requires_grad=True, device=device)
    with pytest.raises(RuntimeError, match=r"scalar outputs.*shape \(2,\).*gradient="):
        (x * 2).backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(3,\), expected.*\(2,\)"):
        (x * 2).backward(tr.ones(3, device=device))
    with pytest.raises(RuntimeError, match="does not require grad"):
        tr.ones(2, device=device).sum().backward()
    assert x.grad is None


def test_second_backward_through_freed_graph_says_what_to_do(device):
    x = tr.tensor([1.0, 2.0], requires_grad=True, device=device)
    h = x.exp()
    y = (h * h).sum()
    y.backward()
    with pytest.raises(RuntimeError, match=r"second time.*retain_graph=True.*detach\(\)"):
        y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * np.exp(2 * np.array([1.0, 2.0])), rtol=1e-6)   # unchanged


def test_bad_shapes_and_values(device):
    def z(*shape):
        return tr.zeros(*shape, device=device)

    with pytest.raises(ValueError, match=r"shape \(4, 2\) is invalid for input of size 6"):
        z(2, 3).reshape(4, 2)
    with pytest.raises(ValueError, match=r"tensor 0 has shape \(2, 3\), tensor 1 has shape \(2, 2\)"):
        tr.cat([z(2, 3), z(2, 2)])
    with pytest.raises(ValueError, match=r"expand: size 4 does not match 3"):
        z(2, 3).expand(2, 4)
    with pytest.raises(ValueError, match="split: sizes"):
        z(4).split([1, 2])
    with pytest.raises(ValueError, match="clamp"):
        z(2).clamp()
    with pytest.raises(ValueError, match="pad: expected an even number"):
        z(2).pad((1,))
    with pytest.raises(ValueError, match="item"):
        z(2).item()


# --------------------------------------------------------------------- small API checks

def test_size_numel_item_repr_and_len(device):
    x = tr.tensor([[1.0, 2.0, 3.0]], requires_grad=True, device=device)
    assert x.size() == (1, 3) and x.size(-1) == 3 and x.numel() == 3 and x.ndim == 2 and len(x) == 1
    assert tr.tensor(2.5, device=device).item() == 2.5 and isinstance(tr.tensor(3, device=device).item(), int)
    assert "requires_grad=True" in repr(x) and "grad_fn=<MulBackward0>" in repr(x * 2)
    assert x.is_leaf and not (x * 2).is_leaf


def test_max_dim_returns_values_and_indices(device):
    x = tr.tensor([[1.0, 5.0, 3.0], [7.0, 0.0, 7.0]], device=device)
    out = x.max(dim=1)
    values, indices = out
    assert out.values is values and out.indices is indices
    np.testing.assert_array_equal(values.numpy(), [5.0, 7.0])
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    assert indices.dtype == i64


def test_zero_dim_results_hold_arrays_so_in_place_ops_work(device):
    # NumPy returns scalars (not 0-d arrays) from full reductions and 0-d arithmetic
    a = tr.tensor([2.0, 3.0], requires_grad=True, device=device)
    s = (a * 3).sum()
    assert isinstance(s.numpy(), np.ndarray)
    p = tr.tensor(2.0, device=device) * tr.tensor(3.0, device=device)
    p.add_(1.0)
    assert p.item() == 7.0


def test_clone_owns_its_storage_and_passes_gradients(device):
    a = tr.tensor([1.0, 2.0], dtype=tr.float64, requires_grad=True, device=device)
    b = a.clone()
    assert b.grad_fn is not None and b.numpy() is not a.numpy()
    b.mul_(3.0)                                  # in place on the clone: a is untouched
    assert a.tolist() == [1.0, 2.0]
    b.sum().backward()
    assert a.grad.tolist() == [3.0, 3.0]
    assert tr.gradcheck(lambda x: x.clone() * x, (a.detach().requires_grad_(),))
