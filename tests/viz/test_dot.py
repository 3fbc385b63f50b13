"""DOT text of recorded graphs: unrolled and rolled views, detail levels, plain ops, fused layers, big graphs."""

from __future__ import annotations


import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.autograd import scope
from tinygrad_rnn.viz import to_dot
from vizhelp import layer, parse

CELLS = ("rnn", "lstm", "gru")


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("detail", ["op", "gate", "cell"])
def test_one_cluster_per_step(cell, detail, device):
    T = 5
    _, roots = layer(cell, T=T, device=device)
    dot = parse(to_dot(roots, detail=detail))
    assert sorted(dot.step_clusters().values()) == sorted(f"t={t}" for t in range(1, T + 1))


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("detail", ["op", "gate", "cell"])
def test_each_parameter_drawn_once_outside_clusters(cell, detail, device):
    model, roots = layer(cell, T=3, layers=2, bidirectional=True, device=device)
    dot = parse(to_dot(roots, detail=detail))
    for name, p in model.named_parameters():
        ids = dot.with_label(name)
        assert len(ids) == 1, name
        assert dot.nodes[ids[0]]["clusters"] == ()
        assert f"({', '.join(map(str, p.shape))})" in dot.nodes[ids[0]]["label"]


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("detail", ["op", "gate", "cell"])
def test_weight_hh_has_an_edge_into_every_step(cell, detail, device):
    T = 4
    _, roots = layer(cell, T=T, layers=2, device=device)
    dot = parse(to_dot(roots, detail=detail))
    for name, lane in (("weight_hh_l0", "layer 0"), ("weight_hh_l1", "layer 1")):
        (w,) = dot.with_label(name)
        targets = [dst for src, dst, _ in dot.visible_edges() if src == w]
        assert sorted({dot.step_of(d) for d in targets}) == sorted(f"t={t}" for t in range(1, T + 1))
        assert all(lane in dot.lane_of(d) for d in targets)
        assert all("dashed" in a for s, _, a in dot.visible_edges() if s == w)


def test_state_edges_run_from_step_to_step(device):
    _, roots = layer("lstm", T=4, device=device)
    dot = parse(to_dot(roots, detail="cell"))
    state = [(dot.step_of(s), dot.step_of(d), a) for s, d, a in dot.visible_edges() if "penwidth=2" in a
             and dot.step_of(s) and dot.step_of(d) and dot.step_of(s) != dot.step_of(d)]
    for kind in ("h", "c"):
        pairs = sorted((s, d) for s, d, a in state if f'label="{kind}"' in a)
        assert pairs == [(f"t={t}", f"t={t + 1}") for t in range(1, 4)], kind


def test_inputs_and_outputs_at_their_steps(device):
    _, roots = layer("gru", T=3, device=device)
    dot = parse(to_dot(roots, detail="gate"))
    for t, sub in enumerate("₁₂₃", start=1):
        (x,) = dot.with_label(f"x{sub}")
        assert dot.step_of(x) == f"t={t}"
        ys = dot.with_label(f"y{sub}")
        assert ys and all(dot.step_of(y) == f"t={t}" for y in ys)
    (h0,) = dot.with_label("h₀")
    assert dot.step_of(h0) == "t=1"


def test_gate_boxes(device):
    _, roots = layer("lstm", T=2, device=device)
    dot = parse(to_dot(roots, detail="gate"))
    for gate in ("i  input gate σ", "f  forget gate σ", "g  candidate tanh", "o  output gate σ"):
        boxes = dot.with_label(gate)
        assert sorted(dot.step_of(b) for b in boxes) == ["t=1", "t=2"], gate
    _, roots = layer("gru", T=2, device=device)
    dot = parse(to_dot(roots, detail="gate"))
    for gate in ("r  reset gate σ", "z  update gate σ", "n  new gate tanh"):
        assert len(dot.with_label(gate)) == 2


def test_cell_detail_is_one_box_per_step_and_lane(device):
    _, roots = layer("rnn", T=3, layers=2, bidirectional=True, device=device)
    dot = parse(to_dot(roots, detail="cell"))
    for step in dot.step_clusters():
        boxes = [n for n, v in dot.nodes.items()
                 if step in v["clusters"] and v["label"].split("\n")[0].endswith("cell")]
        assert len(boxes) == 4


def test_lanes_for_layers_and_directions(device):
    _, roots = layer("lstm", T=3, layers=2, bidirectional=True, device=device)
    dot = parse(to_dot(roots, detail="gate"))
    lanes = {"lstm · layer 0 · forward", "lstm · layer 0 · reverse", "lstm · layer 1 · forward",
             "lstm · layer 1 · reverse"}
    assert {dot.lane_of(n) for n in dot.nodes} - {None} == lanes
    assert not [c for c in dot.clusters if c.startswith("cluster_lane")]      # lanes are groups, not boxes
    for step in dot.step_clusters():
        inside = {dot.lane_of(n) for n, v in dot.nodes.items() if step in v["clusters"] and dot.lane_of(n)}
        assert inside == lanes
    # the stacked layer reads the layer below at the same step (the stack/cat between layers is skipped)
    dot = parse(to_dot(roots, detail="cell"))
    up = [(dot.step_of(s), dot.lane_of(s), dot.lane_of(d)) for s, d, _ in dot.visible_edges()
          if dot.lane_of(s) and dot.lane_of(d) and "layer 0" in dot.lane_of(s) and "layer 1" in dot.lane_of(d)]
    assert len(up) == 3 * 2 * 2 and all(step is not None for step, _, _ in up)
    assert not dot.with_label("Stack") or all(dot.step_of(n) is None for n in dot.with_label("Stack"))


@pytest.mark.parametrize("cell", CELLS)
def test_rolled_view_self_loop_with_step_count(cell, device):
    T = 7
    _, roots = layer(cell, T=T, layers=2, bidirectional=True, device=device)
    dot = parse(to_dot(roots, view="rolled", detail="gate"))
    assert not dot.step_clusters()
    cells = [n for n, v in dot.nodes.items() if v["label"].split("\n")[0].endswith(" cell")]
    assert len(cells) == 4
    for c in cells:
        loops = [a for s, d, a in dot.edges if s == c and d == c]
        labels = sorted(a.split('label="')[1].split('"')[0].strip() for a in loops)
        assert labels == ([f"c × {T}", f"h × {T}"] if cell == "lstm" else [f"h × {T}"])
    for name in ("weight_hh_l0", "weight_ih_l1_reverse"):
        (w,) = dot.with_label(name)
        assert len([d for s, d, _ in dot.edges if s == w]) == 1


@pytest.mark.parametrize("detail", ["op", "gate", "cell"])
def test_max_steps_keeps_first_and_last_with_an_ellipsis(detail, device):
    T = 10
    _, roots = layer("lstm", T=T, device=device)
    dot = parse(to_dot(roots, detail=detail, max_steps=5))
    assert sorted(dot.step_clusters().values()) == sorted(["t=1", "t=2", "t=3", "t=9", "t=10"])
    (ell,) = dot.with_label("…")
    assert "t=4..8" in dot.nodes[ell]["label"] and "(5 steps)" in dot.nodes[ell]["label"]
    edges = dot.visible_edges()
    assert any(d == ell for _, d, _ in edges) and any(s == ell for s, _, _ in edges)
    (w,) = dot.with_label("weight_hh_l0")
    steps = {dot.step_of(d) for s, d, _ in edges if s == w}
    assert steps == {"t=1", "t=2", "t=3", "t=9", "t=10", None}       # None: the ellipsis


def test_bidirectional_ellipsis_per_lane(device):
    _, roots = layer("gru", T=8, bidirectional=True, device=device)
    dot = parse(to_dot(roots, detail="cell", max_steps=2))
    assert sorted(dot.step_clusters().values()) == ["t=1", "t=8"]
    assert len(dot.with_label("…")) == 2


def test_plain_op_graph_micrograd_style(device):
    a = tr.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = tr.tensor([3.0, 4.0], device=device, requires_grad=True)
    loss = ((a - b) * (b - a) + a * a).sum()
    dot = parse(to_dot(loss, show_values=True))
    assert not dot.step_clusters()
    assert sorted(v["label"].split("\n")[0] for n, v in dot.nodes.items() if n.startswith("n")) == \
        ["Add", "Mul", "Mul", "Sub", "Sub", "Sum"]
    va = [n for n, v in dot.nodes.items() if n.startswith("v") and "[1., 2.]" in v["label"]]
    vb = [n for n, v in dot.nodes.items() if n.startswith("v") and "[3., 4.]" in v["label"]]
    assert len(va) == len(vb) == 1
    subs = dot.with_label("Sub")
    order = sorted(tuple(sorted((s, a.split('headlabel="')[1][0]) for s, d, a in dot.edges if d == sub))
                   for sub in subs)
    assert order == sorted([((va[0], "0"), (vb[0], "1")), ((va[0], "1"), (vb[0], "0"))])
    square = [m for m in dot.with_label("Mul") if [s for s, d, _ in dot.edges if d == m] == [va[0], va[0]]]
    assert len(square) == 1                                   # a * a keeps both operand edges
    root = dot.with_label("Sum")[0]
    assert "penwidth=2.5" in dot.nodes[root]["attrs"]


def test_dot_is_deterministic_and_not_id_based(device):
    def build():
        tr.manual_seed(1)
        m = tr.nn.GRU(2, 3, device=device)
        out, h = m(tr.randn(3, 1, 2, device=device), unroll=True)
        return [out, h]

    first, second = to_dot(build(), detail="gate"), to_dot(build(), detail="gate")
    assert first == second
    assert first.count('"n0"') >= 1


def test_fused_layer_is_one_node_per_layer(device):
    _, roots = layer("lstm", T=5, layers=2, bidirectional=True, unroll=False, device=device)
    dot = parse(to_dot(roots))
    fused = [n for n, v in dot.nodes.items() if "fused" in v["label"]]
    assert len(fused) == 2
    labels = sorted(dot.nodes[n]["label"] for n in fused)
    for k, lab in enumerate(labels):
        assert "FusedRNN (fused LSTM)" in lab and f"layer {k}" in lab and "bidirectional" in lab and "T=5" in lab
    assert len([n for n in dot.nodes if n.startswith("n")]) == 2 + 2      # + the cats of h_n and c_n
    _, roots = layer("gru", T=3, unroll=False, device=device)
    lab = parse(to_dot(roots)).nodes
    assert any("fused GRU" in v["label"] and "layer 0" in v["label"] for v in lab.values())


def test_show_grads_colours_by_log_norm(device):
    _, roots = layer("rnn", T=6, device=device)
    dot = parse(to_dot(roots, detail="cell", show_grads=True))
    cells = [n for n, v in dot.nodes.items() if v["label"].startswith("RNN")]
    assert all("‖grad‖" in dot.nodes[c]["label"] for c in cells)
    fills = {dot.nodes[c]["attrs"].split('fillcolor="')[1][:7] for c in cells}
    assert len(fills) > 1
    assert "cluster_legend" in dot.clusters
    (w,) = dot.with_label("weight_hh_l0")
    assert "‖grad‖" in dot.nodes[w]["label"]


def _lstm_step(x, h, c, w_ih, w_hh):
    with scope(gate="proj"):
        z = x @ w_ih.t() + h @ w_hh.t()
    H = h.shape[-1]
    with scope(gate="i"):
        i = z[:, :H].sigmoid()
    with scope(gate="f"):
        f = z[:, H:2 * H].sigmoid()
    with scope(gate="g"):
        g = z[:, 2 * H:3 * H].tanh()
    with scope(gate="o"):
        o = z[:, 3 * H:].sigmoid()
    with scope(gate="c"):
        c = f * c + i * g
    with scope(gate="h"):
        h = o * c.tanh()
    return h, c


def _param(name, *shape, device="cpu"):
    p = tr.nn.Parameter(tr.randn(*shape, device=device))
    p._name = name
    return p


def test_hand_tagged_scopes_and_seq2seq_groups(device):
    """Encoder (part=encoder, inner name=lstm) and decoder (name=decoder): two groups, one context node."""
    tr.manual_seed(0)
    H = 3
    d = {"device": device}
    enc_ih, enc_hh = _param("encoder.weight_ih_l0", 4 * H, 2, **d), _param("encoder.weight_hh_l0", 4 * H, H, **d)
    dec_ih, dec_hh = _param("decoder.weight_ih", 4 * H, 2, **d), _param("decoder.weight_hh", 4 * H, H, **d)
    out_w = _param("decoder.out.weight", 2, H, **d)
    h = c = tr.zeros(1, H, **d)
    with scope(part="encoder"):
        for t in range(3):
            with scope(name="lstm", layer=0, direction="forward", t=t):
                h, c = _lstm_step(tr.randn(1, 2, **d), h, c, enc_ih, enc_hh)
    y = tr.zeros(1, 2, **d)
    outs = []
    for t in range(2):
        with scope(name="decoder", t=t):
            h, c = _lstm_step(y, h, c, dec_ih, dec_hh)
            y = h @ out_w.t()
            outs.append(y)
    loss = tr.stack(outs).pow(2).sum()
    dot = parse(to_dot(loss, detail="cell"))
    assert {"cluster_encoder", "cluster_decoder"} <= set(dot.clusters)
    enc_steps = [c for c in dot.step_clusters() if ("cluster_encoder",) == dot.nodes[next(
        n for n, v in dot.nodes.items() if c in v["clusters"])]["clusters"][:1]]
    assert len(enc_steps) == 3 and len(dot.step_clusters()) == 5
    assert "context" in dot.nodes and dot.nodes["context"]["clusters"] == ()

    def group(n):
        cl = dot.nodes[n]["clusters"]
        return cl[0] if cl and cl[0] in ("cluster_encoder", "cluster_decoder") else None

    both = {"cluster_encoder", "cluster_decoder"}
    cross = [(s, d) for s, d, _ in dot.visible_edges() if {group(s), group(d)} == both]
    assert cross == []
    assert any(d == "context" and group(s) == "cluster_encoder" for s, d, _ in dot.edges)
    assert any(s == "context" and group(d) == "cluster_decoder" for s, d, _ in dot.edges)
    (w,) = dot.with_label("encoder.weight_hh_l0")
    assert len({dot.step_of(d) for s, d, _ in dot.edges if s == w}) == 3


def test_weights_transposed_once_before_the_loop_fold_into_the_parameter(device):
    tr.manual_seed(0)
    w_ih, w_hh = _param("weight_ih_l0", 12, 2, device=device), _param("weight_hh_l0", 12, 3, device=device)
    w_ih_t, w_hh_t = w_ih.t(), w_hh.t()           # computed once, outside every step
    h = tr.zeros(1, 3, device=device)
    hs = []
    for t in range(4):
        with scope(name="lstm", layer=0, direction="forward", t=t):
            with scope(gate="proj"):
                z = tr.randn(1, 2, device=device) @ w_ih_t + h @ w_hh_t
            with scope(gate="h"):
                h = z[:, :3].tanh()
            hs.append(h)
    dot = parse(to_dot(tr.stack(hs), detail="gate"))
    assert not dot.with_label("Permute")
    (w,) = dot.with_label("weight_hh_l0")
    assert sorted({dot.step_of(d) for s, d, _ in dot.edges if s == w}) == ["t=1", "t=2", "t=3", "t=4"]


@pytest.mark.cpu_only          # the graph walk is device-agnostic; on a GPU 100 000 one-element launches only cost time
def test_long_chain_is_iterative():
    # a recursive walk would raise RecursionError far below this depth (speed belongs in bench/, not here)
    x = tr.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    text = to_dot(y)
    assert text.count("[label=\"Mul") == 100_000
    assert text.count(" -> ") >= 100_000


def test_argument_errors(device):
    _, roots = layer("rnn", T=2, backward=False, device=device)
    with pytest.raises(ValueError, match="view"):
        to_dot(roots, view="folded")
    with pytest.raises(ValueError, match="detail"):
        to_dot(roots, detail="layer")
    with pytest.raises(ValueError, match="rankdir"):
        to_dot(roots, rankdir="XY")
    with pytest.raises(ValueError, match="max_steps"):
        to_dot(roots, max_steps=0)
    with pytest.raises(TypeError, match="max_steps"):
        to_dot(roots, max_steps=2.5)
    with pytest.raises(TypeError, match="root"):
        to_dot("not a tensor")
    with pytest.raises(TypeError, match="root"):
        to_dot([])


def test_leaf_root_and_title(device):
    x = tr.tensor([1.0, 2.0], device=device, requires_grad=True)
    text = to_dot(x, title="just a leaf")
    assert 'label="just a leaf"' in text and '"v0"' in text
