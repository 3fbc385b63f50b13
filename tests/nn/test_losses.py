"""Losses against PyTorch (golden fixtures + live), gradcheck, edge cases and bad input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tinygrad_rnn as tr
import tinygrad_rnn.nn.functional as F
from conftest import fixture_module, require

fx = fixture_module("make_loss_fixtures")

GOLDEN = np.load(fx.FIXTURE, allow_pickle=False)
TOL = {"rtol": 1e-10, "atol": 1e-12}


def run_ours(case, arrays: dict, v: np.ndarray, device: str = "cpu") -> dict:
    tensors = {k: tr.tensor(a, device=device, requires_grad=k in case.grads) for k, a in arrays.items()}
    y = fx.call(case, tr, tensors)
    (y * tr.tensor(v, device=device)).sum().backward()
    out = {"out": y.detach().numpy(), "v": v}
    for k in case.grads:
        out[f"grad_{k}"] = tensors[k].grad.numpy()
    return out


def golden(case) -> tuple[dict, dict]:
    inputs = {k.split("/in_", 1)[1]: GOLDEN[k] for k in GOLDEN.files if k.startswith(case.name + "/in_")}
    expected = {k.split("/", 1)[1]: GOLDEN[k] for k in GOLDEN.files
                if k.startswith(case.name + "/") and "/in_" not in k}
    return inputs, expected


def assert_same(ours: dict, ref: dict, name: str) -> None:
    for k, a in ref.items():
        if k == "v":
            continue
        np.testing.assert_allclose(ours[k], a, **TOL, equal_nan=True, err_msg=f"{name}: {k}")
        assert ours[k].shape == a.shape, f"{name}: {k} shape {ours[k].shape} != {a.shape}"


@pytest.mark.parametrize("case", fx.LOSS_CASES, ids=lambda c: c.name)
def test_loss_matches_golden(case, device):
    inputs, expected = golden(case)
    assert_same(run_ours(case, inputs, expected["v"], device=device), expected, case.name)


# host-side re-check of the stored fixture against torch; test_loss_matches_golden[cuda] checks the GPU
@pytest.mark.cpu_only
@pytest.mark.parametrize("case", fx.LOSS_CASES, ids=lambda c: c.name)
def test_loss_matches_torch_live(case):
    require("torch")
    inputs = case.arrays()
    ref = fx.run_torch(case, inputs)
    assert_same(run_ours(case, inputs, ref["v"]), ref, case.name)


@pytest.mark.cpu_only      # NumPy only: the fixture's stored inputs equal the generator's
def test_fixture_inputs_are_regenerated_identically():
    # to the last few bits: np.exp (in the generator's softmax) rounds differently on CPUs with
    # other SIMD widths; the golden outputs are computed from the stored inputs, not from these
    for case in fx.LOSS_CASES[:: 10]:
        inputs, _ = golden(case)
        for k, a in case.arrays().items():
            assert inputs[k].dtype == a.dtype and inputs[k].shape == a.shape, k
            if a.dtype.kind == "f":
                np.testing.assert_array_max_ulp(inputs[k], a, maxulp=4)
            else:
                np.testing.assert_array_equal(inputs[k], a)


def test_losses_on_device(device):
    for name in ("ce_kd_mean_ls0.15_w_ign", "ce_prob_2d_sum_ls0.15_w", "nll_2d_mean_w_ign",
                 "bce_logits_mean_w_pw", "bce_mean_w", "mse_loss_mean", "l1_loss_sum"):
        case = next(c for c in fx.LOSS_CASES if c.name == name)
        inputs, expected = golden(case)
        assert_same(run_ours(case, inputs, expected["v"], device=device), expected, name)


# --------------------------------------------------------------------- gradcheck


def _t(a, rg=False, device="cpu"):
    return tr.tensor(np.asarray(a), device=device, requires_grad=rg)


def _rtol(device: str, rtol: float) -> float:
    """The cpu tolerance, or the float64 GPU tolerance (1e-10) where that is looser."""
    return rtol if device == "cpu" else max(rtol, 1e-10)


@pytest.mark.parametrize("name", ["ce_kd_mean_ls0.15_w_ign", "ce_2d_sum_ls0.2_ignore_index3",
                                  "ce_prob_kd_mean_ls0.15_w", "nll_kd_mean_w_ign", "nll_2d_none_w_ign",
                                  "mse_loss_mean", "bce_logits_mean_w_pw", "bce_sum_w"])
def test_gradcheck(name, device):
    case = next(c for c in fx.LOSS_CASES if c.name == name)
    arrays = case.arrays()
    keys = list(arrays)
    tensors = [_t(arrays[k], k in case.grads, device) for k in keys]

    def fn(*ts):
        return fx.call(case, tr, dict(zip(keys, ts)))
    assert tr.gradcheck(fn, tensors)


def test_gradcheck_l1_away_from_kink(device):
    x = _t(np.array([[0.5, -1.2], [2.0, 0.1]]), True, device)
    y = _t(np.array([[0.0, 0.3], [-1.0, 0.9]]), True, device)
    assert tr.gradcheck(lambda a, b: F.l1_loss(a, b, reduction="sum"), (x, y))


# --------------------------------------------------------------------- semantics beyond the table


def test_all_ignored_mean_is_nan_with_zero_gradients(device):
    x = _t(np.random.default_rng(0).standard_normal((3, 4)), True, device)
    t = tr.tensor([-100, -100, -100], device=device)
    loss = F.cross_entropy(x, t)
    assert np.isnan(loss.item())
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0.0)
    assert F.cross_entropy(x, t, reduction="sum").item() == 0.0


def test_bce_with_logits_is_stable_far_in_the_tails(device):
    x = _t(np.array([-800.0, -50.0, 50.0, 800.0]), True, device)
    t = _t(np.array([0.0, 0.0, 1.0, 1.0]), device=device)
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    expected = np.log1p(np.exp(-np.array([800.0, 50.0, 50.0, 800.0])))
    rtol = _rtol(device, 1e-12)
    np.testing.assert_allclose(loss.numpy(), expected, rtol=rtol, atol=0)   # torch cancels -50 to 0
    loss.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    wrong = F.binary_cross_entropy_with_logits(x, 1 - t, reduction="none").numpy()
    np.testing.assert_allclose(wrong, [800.0, 50.0, 50.0, 800.0], rtol=rtol)


def test_bce_clamps_log_at_minus_100(device):
    x = _t(np.array([0.0, 1.0]), True, device)
    loss = F.binary_cross_entropy(x, _t(np.array([1.0, 0.0]), device=device), reduction="none")
    np.testing.assert_array_equal(loss.numpy(), [100.0, 100.0])


def test_cross_entropy_equals_log_softmax_then_nll(device):
    rng = np.random.default_rng(1)
    x = _t(rng.standard_normal((4, 6)), device=device)
    t = tr.tensor([0, 5, 2, 2], device=device)
    a = F.cross_entropy(x, t).item()
    b = F.nll_loss(F.log_softmax(x, dim=1), t).item()
    assert abs(a - b) < (1e-14 if device == "cpu" else 1e-10 * abs(b))


def test_loss_modules_match_functional_and_register_buffers(device):
    rng = np.random.default_rng(2)
    x, t = _t(rng.standard_normal((5, 3)), device=device), tr.tensor([0, 1, 2, 1, 0], device=device)
    w = _t(np.array([1.0, 2.0, 0.5]), device=device)
    ce = tr.nn.CrossEntropyLoss(weight=w, ignore_index=1, label_smoothing=0.1, reduction="sum")
    assert ce(x, t).item() == F.cross_entropy(x, t, w, ignore_index=1, label_smoothing=0.1, reduction="sum").item()
    assert list(ce.state_dict()) == ["weight"]
    nll = tr.nn.NLLLoss(reduction="none")
    np.testing.assert_array_equal(nll(x, t).numpy(), F.nll_loss(x, t, reduction="none").numpy())
    y = _t(rng.standard_normal((5, 3)), device=device)
    assert tr.nn.MSELoss()(x, y).item() == F.mse_loss(x, y).item()
    assert tr.nn.L1Loss(reduction="sum")(x, y).item() == F.l1_loss(x, y, reduction="sum").item()
    p = _t(rng.uniform(0, 1, (5, 3)), device=device)
    pw = _t(np.array([1.0, 2.0, 3.0]), device=device)
    bl = tr.nn.BCEWithLogitsLoss(pos_weight=pw)
    assert bl(x, p).item() == F.binary_cross_entropy_with_logits(x, p, pos_weight=pw).item()
    assert list(bl.state_dict()) == ["pos_weight"]
    assert tr.nn.BCELoss()(p, p).item() == F.binary_cross_entropy(p, p).item()
    assert repr(tr.nn.CrossEntropyLoss()) == "CrossEntropyLoss()"


def test_legacy_size_average_and_reduce_flags(device):
    x, y = _t(np.array([1.0, 2.0]), device=device), _t(np.array([0.0, 0.0]), device=device)
    assert F.mse_loss(x, y, size_average=False).item() == 5.0
    assert F.mse_loss(x, y, reduce=False).shape == (2,)


def test_mse_broadcast_warns_like_torch(device):
    with pytest.warns(UserWarning, match="different to the input size"):
        out = F.mse_loss(_t(np.ones((2, 3)), device=device), _t(np.zeros((3,)), device=device))
    assert out.item() == 1.0


def test_float32_losses_stay_float32(device):
    x = tr.randn(4, 3, device=device)
    assert F.cross_entropy(x, tr.tensor([0, 1, 2, 0], device=device)).dtype == tr.float32
    assert F.binary_cross_entropy_with_logits(x, tr.rand(4, 3, device=device)).dtype == tr.float32


# --------------------------------------------------------------------- bad input


def test_target_index_out_of_range_names_index_and_classes(device):
    x = tr.randn(3, 4, device=device)
    with pytest.raises(IndexError, match=r"7.*4 classes"):
        F.cross_entropy(x, tr.tensor([0, 7, 1], device=device))
    with pytest.raises(IndexError, match=r"-2"):
        F.nll_loss(x, tr.tensor([0, -2, 1], device=device))
    with pytest.raises(IndexError):
        tr.nn.CrossEntropyLoss(ignore_index=0)(x, tr.tensor([0, 4, 0], device=device))
    F.cross_entropy(x, tr.tensor([-100, 3, 0], device=device))          # the ignored index may be anything


def test_mismatched_shapes_name_both_shapes(device):
    d = {"device": device}
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5,\)"):
        F.cross_entropy(tr.randn(3, 4, **d), tr.tensor([0, 1, 2, 3, 0], **d))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        F.nll_loss(tr.randn(2, 4, 3, **d), tr.tensor([[0, 1]], **d))
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(3, 4\)"):
        F.binary_cross_entropy_with_logits(tr.randn(3, 4, **d), tr.rand(3, 2, **d))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(2, 4\)"):
        F.mse_loss(tr.randn(3, 4, **d), tr.randn(2, 4, **d))
    with pytest.raises(ValueError, match="weight"):
        F.cross_entropy(tr.randn(3, 4, **d), tr.tensor([0, 1, 2], **d), weight=tr.ones(3, **d))


def test_float_target_where_index_is_required(device):
    d = {"device": device}
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(tr.randn(3, 4, **d), tr.tensor([0.0, 1.0, 2.0], **d))
    with pytest.raises(TypeError, match="integer"):
        F.nll_loss(tr.randn(3, 4, **d), tr.tensor([0.0, 1.0, 2.0], **d))
    with pytest.raises(TypeError, match="floating"):
        F.cross_entropy(tr.randn(3, 4, **d), tr.zeros(3, 4, dtype=tr.long, **d))


def test_bad_options(device):
    x, t = tr.randn(3, 4, device=device), tr.tensor([0, 1, 2], device=device)
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, t, reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(tr.tensor([0.5, 1.5], device=device), tr.tensor([0.0, 1.0], device=device))
    with pytest.raises(TypeError, match="Tensor"):
        F.mse_loss(np.ones(3), tr.ones(3, device=device))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.cross_entropy(x, t)                               # no warnings on the normal path


def test_bce_gradient_at_the_boundary_matches_torch_formula(device):
    x = _t(np.array([0.0, 1.0, 0.5]), True, device)
    t = _t(np.array([1.0, 0.0, 0.5]), True, device)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.binary_cross_entropy(x, t, reduction="sum").backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1e12, 1e12, 0.0])
    np.testing.assert_allclose(t.grad.numpy(), [np.inf, -np.inf, 0.0])   # as torch: unclamped logs
