"""``nn.LRU``, ``nn.MinGRU``, ``nn.MinLSTM``: scan path = unrolled path = a NumPy loop of the papers' equations.

- scan path (default) against the unrolled cells through ``Recurrent`` (float64, 1e-12; outputs, h_n and
  every gradient), with lengths, ``hx``, ``batch_first`` and unbatched input;
- both against a plain NumPy loop of the equations (complex numbers for the LRU);
- finite differences (gradcheck, float64); the LRU's ring initialisation; analysis and pictures take them.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_rnn as tr

LAYERS = {
    "lru": lambda I, H, **kw: tr.nn.LRU(I, H, state_size=5, r_min=0.5, r_max=0.99, **kw),
    "lru_proj": lambda I, H, **kw: tr.nn.LRU(I, H + 1, state_size=3, **kw),     # D is a matrix
    "mingru": tr.nn.MinGRU,
    "minlstm": tr.nn.MinLSTM,
}


def _states(hn):
    return hn if isinstance(hn, tuple) else (hn,)


def _run(m, x_np, hx_np, lengths, unroll, batch_first, device):
    m.zero_grad()
    x = tr.tensor(x_np, device=device, requires_grad=True)
    xin = x.transpose(0, 1) if batch_first and x.ndim == 3 else x
    hx = None if hx_np is None else tuple(tr.tensor(h, device=device, requires_grad=True) for h in hx_np)
    out, hn = m(xin, None if hx is None else (hx if len(hx) > 1 else hx[0]), lengths=lengths, unroll=unroll)
    if batch_first and x.ndim == 3:
        out = out.transpose(0, 1)
    rng = np.random.default_rng(5)
    loss = (out * tr.tensor(rng.standard_normal(out.shape), device=device)).sum()
    for s in _states(hn):
        loss = loss + (s * tr.tensor(rng.standard_normal(s.shape), device=device)).sum()
    loss.backward()
    res = {"out": out, **{f"h_n{i}": s for i, s in enumerate(_states(hn))}, "grad/x": x.grad}
    if hx is not None:
        res.update({f"grad/hx{i}": h.grad for i, h in enumerate(hx) if h.grad is not None})
    res.update({f"grad/{n}": p.grad for n, p in m.named_parameters()})
    return {k: v.detach().numpy() for k, v in res.items()}


def _hx(name, m, B, rng):
    if name.startswith("lru"):
        c = m.get_cell()
        return (rng.standard_normal((1, B, c.hidden_size)), rng.standard_normal((1, B, c.state_size)),
                rng.standard_normal((1, B, c.state_size)))
    return (rng.standard_normal((1, B, m.hidden_size)),)


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("case", ["plain", "lengths_hx", "batch_first", "unbatched"])
def test_scan_equals_unrolled(name, case, device):
    tr.manual_seed(1)
    m = LAYERS[name](3, 4, dtype="float64", device=device, batch_first=case == "batch_first")
    rng = np.random.default_rng(0)
    T, B = 9, 3
    x = rng.standard_normal((T, 3) if case == "unbatched" else (T, B, 3))
    lengths = np.array([9, 4, 1]) if case == "lengths_hx" else None
    hx = _hx(name, m, B, rng) if case == "lengths_hx" else None
    a = _run(m, x, hx, lengths, False, case == "batch_first", device)
    b = _run(m, x, hx, lengths, True, case == "batch_first", device)
    for k in set(a) ^ set(b):                      # the LRU's y_0 is never read: no gradient, or zeros
        assert k == "grad/hx0" and not np.any((a if k in a else b)[k]), k
    for k in set(a) & set(b):
        np.testing.assert_allclose(a[k], b[k], rtol=1e-12, atol=1e-12, err_msg=k)
    if lengths is not None:
        assert np.all(a["out"][4:, 1] == 0) and np.all(a["out"][1:, 2] == 0)   # zero past each end
        assert np.all(a["grad/x"][4:, 1] == 0)                                  # padding gets no gradient


def _numpy_loop(name, m, x):
    """The papers' equations as a plain loop (NumPy, complex numbers for the LRU): out (T, B, H), final states."""
    c = m.get_cell()
    p = {n: v.detach().numpy() for n, v in c.named_parameters()}
    sig = lambda v: 1 / (1 + np.exp(-v))                                          # noqa: E731
    g = lambda v: np.where(v >= 0, v + 0.5, sig(v))                               # noqa: E731
    T, B = x.shape[:2]
    out = []
    if name.startswith("lru"):
        lam = np.exp(-np.exp(p["nu_log"]) + 1j * np.exp(p["theta_log"]))
        Bc = (p["B_re"] + 1j * p["B_im"]) * np.exp(p["gamma_log"])[:, None]
        Cc = p["C_re"] + 1j * p["C_im"]
        s = np.zeros((B, c.state_size), complex)
        for t in range(T):
            s = lam * s + x[t] @ Bc.T
            skip = x[t] * p["D"] if p["D"].ndim == 1 else x[t] @ p["D"].T
            out.append((s @ Cc.T).real + skip)
        return np.stack(out), (out[-1], s.real, s.imag)
    H = c.hidden_size
    h = np.zeros((B, H))
    for t in range(T):
        z = x[t] @ p["weight_ih"].T + p["bias_ih"]
        if name == "mingru":
            zt = sig(z[:, :H])
            h = (1 - zt) * h + zt * g(z[:, H:])
        else:
            f, i = sig(z[:, :H]), sig(z[:, H:2 * H])
            h = f / (f + i) * h + i / (f + i) * g(z[:, 2 * H:])
        out.append(h)
    return np.stack(out), (h,)


@pytest.mark.parametrize("name", list(LAYERS))
def test_against_numpy_loop_of_the_equations(name, device):
    tr.manual_seed(2)
    m = LAYERS[name](3, 4, dtype="float64", device=device)
    x = np.random.default_rng(1).standard_normal((12, 2, 3))
    ref_out, ref_states = _numpy_loop(name, m, x)
    for unroll in (False, True):
        out, hn = m(tr.tensor(x, device=device), unroll=unroll)
        np.testing.assert_allclose(out.numpy(), ref_out, rtol=1e-11, atol=1e-12)
        for s, r in zip(_states(hn), ref_states):
            np.testing.assert_allclose(s.numpy()[0], r, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("name", list(LAYERS))
def test_gradcheck(name, device):
    tr.manual_seed(3)
    m = LAYERS[name](2, 3, dtype="float64", device=device)
    x = tr.randn(5, 2, 2, dtype="float64", device=device, requires_grad=True)
    params = list(m.parameters())
    names = [n for n, _ in m.named_parameters()]

    def fn(x, *ps):
        for n, p in zip(names, ps):
            m._parameters[n] = p
        out, hn = m(x, lengths=np.array([5, 3]))
        return out.tanh().sum() + sum(s.sum() for s in _states(hn))

    assert tr.gradcheck(fn, [x, *params])


@pytest.mark.cpu_only          # initialisation statistics: NumPy only
def test_lru_ring_initialisation():
    tr.manual_seed(0)
    c = tr.nn.LRU(8, 8, state_size=4000, r_min=0.4, r_max=0.9, max_phase=3.14, dtype="float64").get_cell()
    mod, phase, gamma = (v.detach().numpy() for v in c.eigenvalues())
    assert mod.min() >= 0.4 - 1e-12 and mod.max() <= 0.9 + 1e-12
    mag2 = mod ** 2                                   # uniform on the ring: |λ|² ~ U[r_min², r_max²]
    assert abs(mag2.mean() - (0.16 + 0.81) / 2) < 0.01
    assert phase.min() >= 0 and phase.max() <= 3.14 and abs(phase.mean() - 1.57) < 0.05
    np.testing.assert_allclose(gamma, np.sqrt(1 - mag2), rtol=1e-10)
    assert c.D.shape == (8,)
    assert tr.nn.LRU(3, 5).get_cell().D.shape == (5, 3)


def test_analysis_and_pictures_take_them(device):
    tr.manual_seed(4)
    x = tr.randn(6, 2, 3, device=device)
    for name in ("lru", "mingru"):
        m = LAYERS[name](3, 4, device=device)
        flow = tr.analysis.grad_norms_through_time(m, x, lambda o: (o[0][-1] ** 2).sum())
        key = "re" if name == "lru" else "h"
        assert flow.states[key].shape == (1, 1, 6) and np.all(flow.states[key][0, 0] > 0)
        trace = tr.analysis.hidden_trace(m, x)
        assert trace.h.shape[:3] == (1, 1, 6)
        out, hn = m(x, unroll=True)
        dot = tr.viz.to_dot([out], view="unrolled", detail="gate")
        assert "t=5" in dot or "t 5" in dot or "5" in dot


@pytest.mark.parametrize("call, exc, words", [
    (lambda: tr.nn.LRU(3, 4, r_min=0.9, r_max=0.5), ValueError, "r_min"),
    (lambda: tr.nn.LRU(3, 4, max_phase=0.0), ValueError, "max_phase"),
    (lambda: tr.nn.LRU(3, 4, state_size=0), ValueError, "state_size"),
    (lambda: tr.nn.MinGRU(0, 4), ValueError, "input_size"),
    (lambda: tr.nn.MinLSTM(3, 4)(tr.randn(5, 2, 2)), ValueError, "input_size"),
    (lambda: tr.nn.MinGRU(3, 4)(tr.randn(5, 2, 3), lengths=[5, 6]), ValueError, "lengths"),
])
@pytest.mark.cpu_only          # argument checks raise before any array work
def test_bad_arguments(call, exc, words):
    with pytest.raises(exc, match=words):
        call()
