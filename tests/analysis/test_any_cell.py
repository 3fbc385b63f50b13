"""The tools take any cell: the MGU cell of tests/mgu_cell.py rendered (unrolled, rolled, gate detail),
through gradient flow, hidden traces and the Jacobian spectrum; the fused node's attributes and labels."""

from __future__ import annotations

import numpy as np

import tinygrad_rnn as tr
from tests.mgu_cell import MGUCell
from tests.viz.vizhelp import Dot


def mgu_layer(device, **kw):
    tr.manual_seed(0)
    return tr.nn.Recurrent(MGUCell, 2, 3, dtype=tr.float64, device=device, **kw)


def test_mgu_pictures_unrolled_rolled_and_gates(device):
    layer = mgu_layer(device, num_layers=2)
    out, h_n = layer(tr.randn(3, 2, 2, dtype=tr.float64, device=device))
    dot = Dot(tr.viz.to_dot([out, h_n], view="unrolled", detail="gate"))
    labels = [n["label"] for n in dot.nodes.values()]
    assert {"t=1", "t=2", "t=3"} <= set(dot.clusters.values())
    rows = [text for n in dot.nodes.values() for _, text in n["rows"]]        # gate detail: rows of step tables
    assert any(r.startswith("gate f") for r in rows) and any(r.startswith("gate n") for r in rows)
    assert any(r.startswith("weight_hh_l1 (") for r in rows) and labels           # full state_dict names
    rolled = Dot(tr.viz.to_dot([out, h_n], view="rolled"))
    assert any("h × 3" in e[2] for e in rolled.edges)


def test_mgu_gradient_flow_traces_and_spectrum(device):
    layer = mgu_layer(device, bidirectional=True)
    x = tr.randn(5, 2, 2, dtype=tr.float64, device=device)
    flow = tr.analysis.grad_norms_through_time(layer, x, lambda o: (o[0][-1] ** 2).sum(), lengths=[5, 3])
    assert flow.path == "unrolled" and list(flow.states) == ["h"] and flow.h.shape == (1, 2, 5)
    assert flow.h[0, 0, -1] > 0 and flow.c is None
    trace = tr.analysis.hidden_trace(layer, x, lengths=[5, 3])
    assert trace.kind == "MGUCell" and set(trace.gates) == {"f", "n"}
    out, _ = layer(x, lengths=[5, 3])
    np.testing.assert_allclose(trace.h[0, 0].transpose(1, 0, 2)[:, :, :] * (np.arange(5)[None, :, None] <
                               np.array([5, 3])[:, None, None]), out.numpy()[:, :, :3].transpose(1, 0, 2),
                               atol=1e-12)
    assert ((trace.gates["f"][0, 0, :3] > 0) & (trace.gates["f"][0, 0, :3] < 1)).all()
    assert (trace.gates["f"][0, 0, 3:, 1] == 0).all()                              # padded steps read zero
    spec = tr.analysis.jacobian_spectrum(layer, x, direction=1, lengths=[5, 3])
    # J_t of the MGU by central differences on the cell, at the traced state of one step
    cell, t = layer.get_cell(0, 1), 2
    h_prev = trace.h[0, 1, t + 1]
    eps, num = 1e-6, np.zeros((2, 3, 3))
    for j in range(3):
        dh = np.zeros(3)
        dh[j] = eps
        f = [cell(x[t], tr.tensor(h_prev + s * dh, device=device)).numpy() for s in (1, -1)]
        num[:, :, j] = (f[0] - f[1]) / (2 * eps)
    np.testing.assert_allclose(spec.jacobians[t], num, atol=1e-8)


def test_record_state_grads_both_paths_and_fused_node_attributes(device):
    tr.manual_seed(0)
    lstm = tr.nn.LSTM(2, 3, num_layers=2, bidirectional=True, dtype=tr.float64, device=device)
    x = tr.randn(4, 2, 2, dtype=tr.float64, device=device)
    grads = []
    for unroll in (False, True):
        with tr.analysis.record_state_grads() as rec:
            out, (h_n, c_n) = lstm(x, lengths=[4, 2], unroll=unroll)
        ((out ** 2).sum() + c_n.sum()).backward()
        assert [e.layer for e in rec.layers] == [0, 1] and rec.layers[0].states == ("h", "c")
        grads.append({(e.layer, n): e.grads(n) for e in rec.layers for n in e.states})
    for key in grads[0]:
        np.testing.assert_allclose(grads[0][key], grads[1][key], atol=1e-12, err_msg=str(key))
    node = next(n for n in tr.autograd.graph_nodes(lstm(x)[0]) if n.name == "FusedRNN" and n.layer == 1)
    assert (node.kind, node.num_directions, node.has_bias, node.state_names) == ("lstm", 2, True, ("h", "c"))


def test_rnn_relu_fused_label_and_cell_state_names(device):
    relu = tr.nn.RNN(2, 3, nonlinearity="relu", device=device)
    out, h_n = relu(tr.randn(3, 2, 2, device=device, requires_grad=True))
    out.sum().backward(retain_graph=True)
    labels = [n["label"] for n in Dot(tr.viz.to_dot([out, h_n])).nodes.values()]
    assert any(lab.startswith("FusedRNN (fused RNN (ReLU))") for lab in labels)
    lstm = tr.nn.LSTM(2, 3, device=device)
    out, (h, c) = lstm(tr.randn(3, 1, 2, device=device), unroll=True)
    labels = [n["label"] for n in Dot(tr.viz.to_dot([out, h, c])).nodes.values()]
    assert any(lab.startswith("c_n") for lab in labels)                           # c_T feeds c_n, never a y
    assert sum(lab.startswith("y₃") for lab in labels) == 1
