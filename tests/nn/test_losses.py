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
def test_loss_matches_golden(case):
    inputs, expected = golden(case)
    assert_same(run_ours(case, inputs, expected["v"]), expected, case.name)


@pytest.mark.parametrize("case", fx.LOSS_CASES, ids=lambda c: c.name)
def test_loss_matches_torch_live(case):
    require("torch")
    inputs = case.arrays()
    ref = fx.run_torch(case, inputs)
    assert_same(run_ours(case, inputs, ref["v"]), ref, case.name)


def test_fixture_inputs_are_regenerated_identically():
    for case in fx.LOSS_CASES[:: 10]:
        inputs, _ = golden(case)
        for k, a in case.arrays().items():
            np.testing.assert_array_equal(inputs[k], a)


def test_losses_on_device(device):
    for name in ("ce_kd_mean_ls0.15_w_ign", "ce_prob_2d_sum_ls0.15_w", "nll_2d_mean_w_ign",
                 "bce_logits_mean_w_pw", "bce_mean_w", "mse_loss_mean", "l1_loss_sum"):
        case = next(c for c in fx.LOSS_CASES if c.name == name)
        inputs, expected = golden(case)
        assert_same(run_ours(case, inputs, expected["v"], device=device), expected, name)


# --------------------------------------------------------------------- gradcheck


def _t(a, rg=False):
    return tr.tensor(np.asarray(a), requires_grad=rg)


@pytest.mark.parametrize("name", ["ce_kd_mean_ls0.15_w_ign", "ce_2d_sum_ls0.2_ignore_index3",
                                  "ce_prob_kd_mean_ls0.15_w", "nll_kd_mean_w_ign", "nll_2d_none_w_ign",
                                  "mse_loss_mean", "bce_logits_mean_w_pw", "bce_sum_w"])
def test_gradcheck(name):
    case = next(c for c in fx.LOSS_CASES if c.name == name)
    arrays = case.arrays()
    keys = list(arrays)
    tensors = [_t(arrays[k], k in case.grads) for k in keys]

    def fn(*ts):
        return fx.call(case, tr, dict(zip(keys, ts)))
    assert tr.gradcheck(fn, tensors)


def test_gradcheck_l1_away_from_kink():
    x = _t(np.array([[0.5, -1.2], [2.0, 0.1]]), True)
    y = _t(np.array([[0.0, 0.3], [-1.0, 0.9]]), True)
    assert tr.gradcheck(lambda a, b: F.l1_loss(a, b, reduction="sum"), (x, y))


# --------------------------------------------------------------------- semantics beyond the table


def test_all_ignored_mean_is_nan_with_zero_gradients():
    x = _t(np.random.default_rng(0).standard_normal((3, 4)), True)
    t = tr.tensor([-100, -100, -100])
    loss = F.cross_entropy(x, t)
    assert np.isnan(loss.item())
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), 0.0)
    assert F.cross_entropy(x, t, reduction="sum").item() == 0.0


def test_bce_with_logits_is_stable_far_in_the_tails():
    x = _t(np.array([-800.0, -50.0, 50.0, 800.0]), True)
    t = _t(np.array([0.0, 0.0, 1.0, 1.0]))
    loss = F.binary_cross_entropy_with_logits(x, t, reduction="none")
    expected = np.log1p(np.exp(-np.array([800.0, 50.0, 50.0, 800.0])))
    np.testing.assert_allclose(loss.numpy(), expected, rtol=1e-12, atol=0)   # torch cancels -50 to 0
    loss.sum().backward()
    assert np.isfinite(x.grad.numpy()).all()
    wrong = F.binary_cross_entropy_with_logits(x, 1 - t, reduction="none").numpy()
    np.testing.assert_allclose(wrong, [800.0, 50.0, 50.0, 800.0], rtol=1e-12)


def test_bce_clamps_log_at_minus_100():
    x = _t(np.array([0.0, 1.0]), True)
    loss = F.binary_cross_entropy(x, _t(np.array([1.0, 0.0])), reduction="none")
    np.testing.assert_array_equal(loss.numpy(), [100.0, 100.0])


def test_cross_entropy_equals_log_softmax_then_nll():
    rng = np.random.default_rng(1)
    x = _t(rng.standard_normal((4, 6)))
    t = tr.tensor([0, 5, 2, 2])
    a = F.cross_entropy(x, t).item()
    b = F.nll_loss(F.log_softmax(x, dim=1), t).item()
    assert abs(a - b) < 1e-14


def test_loss_modules_match_functional_and_register_buffers():
    rng = np.random.default_rng(2)
    x, t, w = _t(rng.standard_normal((5, 3))), tr.tensor([0, 1, 2, 1, 0]), _t(np.array([1.0, 2.0, 0.5]))
    ce = tr.nn.CrossEntropyLoss(weight=w, ignore_index=1, label_smoothing=0.1, reduction="sum")
    assert ce(x, t).item() == F.cross_entropy(x, t, w, ignore_index=1, label_smoothing=0.1, reduction="sum").item()
    assert list(ce.state_dict()) == ["weight"]
    nll = tr.nn.NLLLoss(reduction="none")
    np.testing.assert_array_equal(nll(x, t).numpy(), F.nll_loss(x, t, reduction="none").numpy())
    y = _t(rng.standard_normal((5, 3)))
    assert tr.nn.MSELoss()(x, y).item() == F.mse_loss(x, y).item()
    assert tr.nn.L1Loss(reduction="sum")(x, y).item() == F.l1_loss(x, y, reduction="sum").item()
    p = _t(rng.uniform(0, 1, (5, 3)))
    pw = _t(np.array([1.0, 2.0, 3.0]))
    bl = tr.nn.BCEWithLogitsLoss(pos_weight=pw)
    assert bl(x, p).item() == F.binary_cross_entropy_with_logits(x, p, pos_weight=pw).item()
    assert list(bl.state_dict()) == ["pos_weight"]
    assert tr.nn.BCELoss()(p, p).item() == F.binary_cross_entropy(p, p).item()
    assert repr(tr.nn.CrossEntropyLoss()) == "CrossEntropyLoss()"


def test_legacy_size_average_and_reduce_flags():
    x, y = _t(np.array([1.0, 2.0])), _t(np.array([0.0, 0.0]))
    assert F.mse_loss(x, y, size_average=False).item() == 5.0
    assert F.mse_loss(x, y, reduce=False).shape == (2,)


def test_mse_broadcast_warns_like_torch():
    with pytest.warns(UserWarning, match="different to the input size"):
        out = F.mse_loss(_t(np.ones((2, 3))), _t(np.zeros((3,))))
    assert out.item() == 1.0


def test_float32_losses_stay_float32():
    x = tr.randn(4, 3)
    assert F.cross_entropy(x, tr.tensor([0, 1, 2, 0])).dtype == tr.float32
    assert F.binary_cross_entropy_with_logits(x, tr.rand(4, 3)).dtype == tr.float32


# --------------------------------------------------------------------- bad input


def test_target_index_out_of_range_names_index_and_classes():
    x = tr.randn(3, 4)
    with pytest.raises(IndexError, match=r"7.*4 classes"):
        F.cross_entropy(x, tr.tensor([0, 7, 1]))
    with pytest.raises(IndexError, match=r"-2"):
        F.nll_loss(x, tr.tensor([0, -2, 1]))
    with pytest.raises(IndexError):
        tr.nn.CrossEntropyLoss(ignore_index=0)(x, tr.tensor([0, 4, 0]))
    F.cross_entropy(x, tr.tensor([-100, 3, 0]))          # the ignored index may be anything


def test_mismatched_shapes_name_both_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(5,\)"):
        F.cross_entropy(tr.randn(3, 4), tr.tensor([0, 1, 2, 3, 0]))
    with pytest.raises(ValueError, match=r"\(2, 3\)"):
        F.nll_loss(tr.randn(2, 4, 3), tr.tensor([[0, 1]]))
    with pytest.raises(ValueError, match=r"\(3, 2\).*\(3, 4\)"):
        F.binary_cross_entropy_with_logits(tr.randn(3, 4), tr.rand(3, 2))
    with pytest.raises(ValueError, match=r"\(3, 4\).*\(2, 4\)"):
        F.mse_loss(tr.randn(3, 4), tr.randn(2, 4))
    with pytest.raises(ValueError, match="weight"):
        F.cross_entropy(tr.randn(3, 4), tr.tensor([0, 1, 2]), weight=tr.ones(3))


def test_float_target_where_index_is_required():
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(tr.randn(3, 4), tr.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="integer"):
        F.nll_loss(tr.randn(3, 4), tr.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(TypeError, match="floating"):
        F.cross_entropy(tr.randn(3, 4), tr.zeros(3, 4, dtype=tr.long))


def test_bad_options():
    x, t = tr.randn(3, 4), tr.tensor([0, 1, 2])
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, t, reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(tr.tensor([0.5, 1.5]), tr.tensor([0.0, 1.0]))
    with pytest.raises(TypeError, match="Tensor"):
        F.mse_loss(np.ones(3), tr.ones(3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.cross_entropy(x, t)                               # no warnings on the normal path


def test_bce_gradient_at_the_boundary_matches_torch_formula():
    x = _t(np.array([0.0, 1.0, 0.5]), True)
    t = _t(np.array([1.0, 0.0, 0.5]), True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.binary_cross_entropy(x, t, reduction="sum").backward()
    np.testing.assert_allclose(x.grad.numpy(), [-1e12, 1e12, 0.0])
    np.testing.assert_allclose(t.grad.numpy(), [np.inf, -np.inf, 0.0])   # as torch: unclamped logs
