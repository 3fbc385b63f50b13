"""DOT text of recorded graphs: unrolled and rolled views, detail levels, plain ops, fused layers, big graphs."""

from __future__ import annotations


import re

import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.autograd import scope
from tinygrad_rnn.viz import to_dot
from vizhelp import layer, parse

CELLS = ("rnn", "lstm", "gru")
_SUB = {str(k): str(k).translate(str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")) for k in range(1, 10)}


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
        shape = f"({', '.join(map(str, p.shape))})"
        if detail == "op":
            ids = dot.with_label(name)
            assert len(ids) == 1, name
            assert dot.nodes[ids[0]]["clusters"] == () and shape in dot.nodes[ids[0]]["label"]
        else:                                   # a row of its lane's weight strip
            rows = dot.row_with(f"{name} {shape}")
            assert len(rows) == 1, name
            assert dot.nodes[rows[0][0]]["clusters"] == ()


@pytest.mark.parametrize("cell", CELLS)
def test_weight_hh_has_an_edge_into_every_step_at_op_detail(cell, device):
    T = 4
    _, roots = layer(cell, T=T, layers=2, device=device)
    dot = parse(to_dot(roots, detail="op"))
    for name, lane in (("weight_hh_l0", "layer 1"), ("weight_hh_l1", "layer 2")):
        (w,) = dot.with_label(name)
        targets = [dst for src, dst, _ in dot.visible_edges() if src == w]
        assert sorted({dot.step_of(d) for d in targets}) == sorted(f"t={t}" for t in range(1, T + 1))
        assert all(lane in dot.lane_of(d) for d in targets)
        assert all("dashed" in a for s, _, a in dot.visible_edges() if s == w)


@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("detail", ["gate", "cell"])
def test_weight_strip_per_lane_one_edge_and_a_marker_in_every_step(cell, detail, device):
    """No tangle: one strip per lane with one dashed edge; every step's lane header carries the marker."""
    T = 4
    _, roots = layer(cell, T=T, layers=2, bidirectional=True, device=device)
    dot = parse(to_dot(roots, detail=detail))
    strips = [n for n, v in dot.nodes.items() if v["label"].startswith("◆ ") and "weights" in v["label"]]
    assert len(strips) == 4
    for w in strips:
        out = [(d, a) for s, d, a in dot.visible_edges() if s == w]
        assert len(out) == 1 and "dashed" in out[0][1] and dot.step_of(out[0][0]) in ("t=1", f"t={T}")
        assert f"shared by t=1..{T}" in dot.nodes[w]["label"]
    tables = dot.tables()
    assert sorted(dot.step_of(t) for t in tables) == sorted(f"t={t}" for t in range(1, T + 1))
    for t in tables:
        heads = [text for port, text in dot.nodes[t]["rows"] if port is not None and port.isdigit()]
        assert len(heads) == 4 and all("◆" in h.split("\n")[0] for h in heads)
    assert len(dot.visible_edges()) < 4 * T * 4      # was an edge per parameter and step


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
        ((x, port),) = dot.row_with(f"x{sub} (2, 2)")
        assert dot.step_of(x) == f"t={t}" and port == "x"
        ((y, port),) = dot.row_with(f"y{sub} (2, 3)")
        assert dot.step_of(y) == f"t={t}" and port == "y"
    ((h0, _),) = dot.row_with("h₀ (2, 3)")
    assert dot.step_of(h0) == "t=1"
    dot = parse(to_dot(roots, detail="op"))                  # op detail: inputs and outputs are nodes
    for t, sub in enumerate("₁₂₃", start=1):
        (x,) = dot.with_label(f"x{sub}")
        assert dot.step_of(x) == f"t={t}"
        (y,) = dot.with_label(f"y{sub}")
        assert dot.step_of(y) == f"t={t}"


def _gate_rows(dot, table):
    """The texts of a table's gate (or state) rows: not the input, output, lane header or initial-state rows."""
    return [text.split("\n")[0] for port, text in dot.nodes[table]["rows"]
            if port and port not in ("x", "y") and not port.isdigit() and not port.endswith("init")]


def _lane_heads(dot, table):
    return [text.split("\n")[0] for port, text in dot.nodes[table]["rows"] if port and port.isdigit()]


@pytest.mark.parametrize("cell,rows", [
    ("lstm", ["W·x + W·h + b", "i  input gate σ", "f  forget gate σ", "g  candidate tanh", "o  output gate σ",
              "c' = f·c + i·g", "h' = o·tanh(c')"]),
    ("gru", ["W·x + b, W·h + b", "r  reset gate σ", "z  update gate σ", "n  new gate tanh", "h' = (1-z)·n + z·h"])])
def test_gate_rows_in_the_cells_order_in_every_step(cell, rows, device):
    _, roots = layer(cell, T=3, device=device)
    dot = parse(to_dot(roots, detail="gate"))
    tables = dot.tables()
    assert sorted(dot.step_of(t) for t in tables) == ["t=1", "t=2", "t=3"]
    for t in tables:
        assert _gate_rows(dot, t) == rows


def test_cell_detail_is_one_table_per_step_with_a_row_per_lane_state(device):
    _, roots = layer("lstm", T=3, layers=2, bidirectional=True, device=device)
    dot = parse(to_dot(roots, detail="cell"))
    for t in dot.tables():
        step = dot.step_of(t)[2:]
        assert _lane_heads(dot, t) == [f"LSTM · layer {k} · {d} cell ◆" for k in (2, 1) for d in ("forward", "reverse")]
        assert _gate_rows(dot, t) == [f"c{_SUB[step]}", f"h{_SUB[step]}"] * 4


def test_lanes_in_fixed_order_and_layers_read_the_layer_below(device):
    _, roots = layer("gru", T=3, layers=2, bidirectional=True, device=device)
    dot = parse(to_dot(roots, detail="gate"))
    orders = {tuple(text.split("\n")[0] for port, text in dot.nodes[t]["rows"] if port and port.isdigit())
              for t in dot.tables()}
    assert orders == {("GRU · layer 2 · forward ◆", "GRU · layer 2 · reverse ◆", "GRU · layer 1 · forward ◆",
                       "GRU · layer 1 · reverse ◆")}
    for t in dot.tables():                      # layer 2 says it reads layer 1 (the stack between is skipped)
        heads = [text for port, text in dot.nodes[t]["rows"] if port and port.isdigit()]
        assert all("reads layer 1" in h for h in heads[:2]) and not any("reads" in h for h in heads[2:])
    assert not dot.with_label("Stack") and not dot.with_label("Cat") and not dot.with_label("GetItem")


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
    if detail == "op":
        (w,) = dot.with_label("weight_hh_l0")
        steps = {dot.step_of(d) for s, d, _ in edges if s == w}
        assert steps == {"t=1", "t=2", "t=3", "t=9", "t=10", None}       # None: the ellipsis


@pytest.mark.cpu_only          # a long unrolled graph: the walk is device-agnostic, the cuda twin only costs time
def test_long_sequences_elide_the_middle_by_default():
    _, roots = layer("gru", T=30, backward=False)
    dot = parse(to_dot(roots, detail="gate"))
    assert len(dot.step_clusters()) == 12
    (ell,) = dot.with_label("…")
    assert "t=7..24" in dot.nodes[ell]["label"]
    assert len(parse(to_dot(roots, detail="cell", max_steps=None)).step_clusters()) == 30


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
    dot = parse(to_dot(roots, detail="cell", show_grads=True, max_steps=None))
    rows = [(t, port, text) for t in dot.tables() for port, text in dot.nodes[t]["rows"] if port == "0h"]
    assert len(rows) == 6 and all("‖grad‖" in text for _, _, text in rows)
    fills = set(re.findall(r'PORT="0h" BGCOLOR="(#[0-9a-f]{6})"', dot.text))
    assert len(fills) > 1
    assert "cluster_legend" in dot.clusters
    (strip,) = [n for n, v in dot.nodes.items() if v["label"].startswith("◆")]
    assert any(text.startswith("weight_hh_l0") and "‖grad‖" in text for _, text in dot.nodes[strip]["rows"])


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
    ((w, _),) = dot.row_with("encoder.weight_hh_l0 (12, 3)")
    (first,) = [d for s, d, _ in dot.visible_edges() if s == w]
    assert group(first) == "cluster_encoder" and dot.step_of(first) == "t=1"
    enc_tables = [t for t in dot.tables() if group(t) == "cluster_encoder"]
    assert len(enc_tables) == 3 and all("◆" in dot.nodes[t]["label"].split("\n")[0] for t in enc_tables)


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
    dot = parse(to_dot(tr.stack(hs), detail="op"))
    assert not dot.with_label("Permute")
    (w,) = dot.with_label("weight_hh_l0")
    assert sorted({dot.step_of(d) for s, d, _ in dot.edges if s == w}) == ["t=1", "t=2", "t=3", "t=4"]
    dot = parse(to_dot(tr.stack(hs), detail="gate"))
    assert not dot.with_label("Permute") and len(dot.row_with("weight_hh_l0 (12, 3)")) == 1


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


@pytest.mark.parametrize("layers", [1, 2])
def test_states_and_roots_are_named_by_what_they_are(layers, device):
    _, roots = layer("lstm", T=3, layers=layers, device=device)
    dot = parse(to_dot(roots, detail="gate"))
    firsts = {v["label"].split("\n")[0] for v in dot.nodes.values()}
    assert {"output", "h_n", "c_n"} <= firsts and not {"Stack", "Cat"} & firsts
    for role, color in (("h_n", "#c0392b"), ("c_n", "#1f6fb2")):
        (node,) = dot.with_label(role)
        into = [(s, a) for s, d, a in dot.visible_edges() if d == node]
        assert len(into) == layers and all(color in a and dot.step_of(s) == "t=3" for s, a in into)
        assert all(f'tailport="{k}{role[0]}"' in a for k, (s, a) in enumerate(into)) or layers > 1
    ys = dot.row_with("y₁ (2, 3)") + dot.row_with("y₂ (2, 3)") + dot.row_with("y₃ (2, 3)")
    assert [dot.step_of(n) for n, _ in ys] == ["t=1", "t=2", "t=3"]         # y_t: the step's output row
    (out,) = dot.with_label("output")
    assert "= y₁ … y₃ stacked" in dot.nodes[out]["label"]
    (feed,) = [(s, a) for s, d, a in dot.visible_edges() if d == out]
    assert dot.step_of(feed[0]) == "t=3" and 'tailport="y"' in feed[1]
    op = parse(to_dot(roots, detail="op"))                 # op detail: no y node is fed by a c state
    op_ys = [n for n, v in op.nodes.items() if v["label"].startswith("y")]
    assert len(op_ys) == 3
    for y in op_ys:
        feeds = [s for s, d, _ in op.visible_edges() if d == y]
        assert [op.nodes[s]["label"].split("\n")[0] for s in feeds] == ["Mul"]   # h = o*tanh(c), not f*c + i*g


def test_captions_say_what_is_missing(device):
    _, roots = layer("lstm", T=3, unroll=False, backward=False, device=device)
    assert "unroll=True" in to_dot(roots).split("\n")[1]
    _, roots = layer("gru", T=3, backward=False, device=device)
    with pytest.warns(UserWarning, match="record_grad_norms"):
        text = to_dot(roots, detail="gate", show_grads=True)
    assert "record_grad_norms" in text.split("\n")[1]
    assert "detail='op'" in to_dot(roots, view="rolled", detail="op").split("\n")[1]
    rolled = parse(to_dot(roots, view="rolled", detail="gate"))
    assert any("r  reset gate σ" in v["label"] for v in rolled.nodes.values())      # rolled honours detail
