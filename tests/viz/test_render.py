"""Rendering with Graphviz: the real `dot` to SVG and PNG, the graphviz package, and the no-`dot` fallback."""

from __future__ import annotations

import importlib
import sys
import xml.etree.ElementTree as ET

import pytest

import tinygrad_rnn as tr
from conftest import require, require_dot
from tinygrad_rnn.viz import GraphvizNotFoundError, RenderError, draw_graph, graph_command, render
from vizhelp import layer, parse

# Host-side: runs Graphviz (`dot`, the graphviz package) on DOT text; the DOT of cuda graphs is twinned in test_dot.py.
pytestmark = pytest.mark.cpu_only

SVG = "{http://www.w3.org/2000/svg}"
render_module = importlib.import_module("tinygrad_rnn.viz.render")   # the module, not the function


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, True)])
def test_render_svg_and_png_with_dot(tmp_path, cell, layers, bidirectional):
    require_dot()
    _, roots = layer(cell, T=3, layers=layers, bidirectional=bidirectional)
    svg = render(roots, tmp_path / "g.svg", view="unrolled", detail="gate", show_grads=True)
    root = ET.parse(svg).getroot()
    assert root.tag == SVG + "svg"
    clusters = [g for g in root.iter(SVG + "g") if g.get("class") == "cluster"]
    titles = [g.find(SVG + "title").text for g in clusters]
    assert sum(t.startswith("cluster_step") for t in titles) == 3
    png = render(roots, tmp_path / "rolled.png", view="rolled")
    with open(png, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_render_pdf_and_format_from_extension(tmp_path):
    require_dot()
    _, roots = layer("rnn", T=2, backward=False)
    path = render(roots, tmp_path / "g.pdf")
    with open(path, "rb") as f:
        assert f.read(4) == b"%PDF"
    with open(render(roots, tmp_path / "x.jpg"), "rb") as f:
        assert f.read(3) == b"\xff\xd8\xff"                      # JPEG, not SVG
    with pytest.raises(ValueError, match="format"):
        render(roots, tmp_path / "g.svg", format="jpeg")
    with pytest.raises(ValueError, match="contradicts"):
        render(roots, tmp_path / "g.svg", format="png")
    with pytest.raises(ValueError, match="suffix|ending"):
        render(roots, tmp_path / "g.txt")


def test_dot_suffix_writes_dot_text_without_graphviz(tmp_path, monkeypatch):
    monkeypatch.setattr(render_module, "dot_binary", lambda: None)
    _, roots = layer("rnn", T=2, backward=False)
    for name in ("g.dot", "g.gv"):
        path = render(roots, tmp_path / name)
        assert path == str(tmp_path / name) and open(path).read().startswith("digraph G {")


def test_dot_failing_or_timing_out_is_one_line(tmp_path, monkeypatch):
    require_dot()
    _, roots = layer("rnn", T=2, backward=False)

    def slow(*args, **kwargs):
        raise render_module.subprocess.TimeoutExpired("dot", 1)
    monkeypatch.setattr(render_module.subprocess, "run", slow)
    with pytest.raises(RenderError, match="ran past") as err:
        render(roots, tmp_path / "g.svg", timeout=1)
    assert "\n" not in str(err.value) and err.value.__cause__ is None


def _positions(svg_path):
    """{node id: (x, y)} of the first text of every node, and {node id: [(row text, y)]} of its texts."""
    root = ET.parse(svg_path).getroot()
    texts = {}
    for g in root.iter(SVG + "g"):
        if g.get("class") == "node":
            title = g.find(SVG + "title").text
            texts[title] = [("".join(t.itertext()), float(t.get("x")), float(t.get("y"))) for t in g.iter(SVG + "text")]
    return texts


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_svg_every_step_drawn_the_same_way(tmp_path, cell):
    """From node positions in dot's SVG: gates top to bottom in the cell's order, lanes in one order, steps level."""
    require_dot()
    _, roots = layer(cell, T=4, layers=2, bidirectional=True)
    svg = render(roots, tmp_path / "g.svg", detail="gate")
    dot = parse(tr.viz.to_dot(roots, detail="gate"))
    tables = sorted(dot.tables(), key=lambda t: dot.step_of(t))
    texts = _positions(svg)
    orders, tops = set(), []
    for t in tables:
        rows = sorted(texts[t], key=lambda r: r[2])            # top to bottom
        orders.add(tuple(r[0] for r in rows if "(" not in r[0] and "reads" not in r[0]))
        tops.append(rows[0][2])
    assert len(orders) == 1
    (order,) = orders
    gates = [r for r in order if "·" not in r or "=" in r or "W" in r]
    heads = [r for r in order if r.startswith(cell.upper() + " · layer")]
    assert [h.split(" ◆")[0] for h in heads] == [f"{cell.upper()} · layer {k} · {d}" for k in (2, 1)
                                                  for d in ("forward", "reverse")]
    flat = [r.replace(" ", "").replace("\xa0", "") for r in order]
    gate_rows = {"lstm": ["W·x+W·h+b", "iinputgateσ", "fforgetgateσ", "gcandidatetanh", "ooutputgateσ"],
                 "gru": ["W·x+b,W·h+b", "rresetgateσ", "zupdategateσ", "nnewgatetanh"]}[cell]
    lane_rows = flat[flat.index(heads[0].replace(" ", "")) + 1:]
    assert [r for r in lane_rows if r in gate_rows][:len(gate_rows)] == gate_rows and gates
    xs = [min(r[1] for r in texts[t]) for t in tables]
    assert xs == sorted(xs)                                     # time runs left to right


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_svg_weight_strips_stand_in_lane_order(tmp_path, cell):
    """From dot's SVG: the weight strips are one column, top to bottom in the steps' lane order (layer 2
    forward, layer 2 reverse, layer 1 forward, layer 1 reverse), so their edges into the steps do not cross."""
    require_dot()
    tr.manual_seed(0)                   # the docs figure's case (batch 1, gradient norms shown)
    model = {"lstm": tr.nn.LSTM, "gru": tr.nn.GRU}[cell](2, 3, num_layers=2, bidirectional=True)
    out, state = model(tr.randn(3, 1, 2), unroll=True)
    with tr.autograd.record_grad_norms():
        out.pow(2).mean().backward()
    roots = [out] + (list(state) if isinstance(state, tuple) else [state])
    svg = render(roots, tmp_path / "g.svg", detail="cell", show_grads=True)
    heads = []
    for rows in _positions(svg).values():
        for text, x, y in rows:
            if text.endswith(" weights") and "layer" in text:
                heads.append((y, x, text.split("· ", 1)[1]))
    heads.sort()
    assert [h[2] for h in heads] == ["layer 2 · forward weights", "layer 2 · reverse weights",
                                     "layer 1 · forward weights", "layer 1 · reverse weights"]
    assert max(h[1] for h in heads) - min(h[1] for h in heads) < 1.0        # one column


def test_graph_command_many_steps_finishes_with_an_ellipsis(tmp_path):
    require_dot()
    import time
    start = time.perf_counter()
    out = graph_command(cell="lstm", steps=200, out=str(tmp_path / "long.svg"))
    assert time.perf_counter() - start < 60                     # was: dot ran past 120 s
    texts = " ".join(t.text or "" for t in ET.parse(out).getroot().iter(SVG + "text"))
    assert "…" in texts and "t=200" in texts and "(188 steps)" in texts


def test_without_dot_writes_dot_text_and_says_how_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(render_module, "dot_binary", lambda: None)
    _, roots = layer("lstm", T=2, backward=False)
    with pytest.raises(GraphvizNotFoundError) as err:
        render(roots, tmp_path / "g.svg")
    msg = str(err.value)
    assert "apt-get install graphviz" in msg and "brew install graphviz" in msg
    assert err.value.dot_path == str(tmp_path / "g.dot")
    text = (tmp_path / "g.dot").read_text(encoding="utf-8")
    assert text.startswith("digraph G {") and "cluster_step" in text


def test_draw_graph_returns_a_digraph():
    graphviz = require("graphviz")
    _, roots = layer("gru", T=2, backward=False)
    g = draw_graph(roots, view="rolled")
    assert isinstance(g, graphviz.Digraph)
    assert "h × 2" in g.source and g.source.strip().endswith("}")


def test_draw_graph_without_the_package_explains(monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)
    _, roots = layer("rnn", T=2, backward=False)
    with pytest.raises(ImportError, match="pip install graphviz"):
        draw_graph(roots)


def test_graph_command_renders_a_small_layer(tmp_path):
    require_dot()
    out = graph_command(cell="gru", steps=3, layers=2, bidirectional=True, view="unrolled", detail="cell",
                        format="svg", out=str(tmp_path / "graph.svg"))
    root = ET.parse(out).getroot()
    texts = " ".join(t.text or "" for t in root.iter(SVG + "text"))
    assert "t=1" in texts and "t=3" in texts and "weight_hh_l1_reverse" in texts
    with pytest.raises(ValueError, match="cell"):
        graph_command(cell="transformer", out=str(tmp_path / "x.svg"))
    with pytest.raises(ValueError, match="steps"):
        graph_command(steps=0, out=str(tmp_path / "x.svg"))


def test_render_plain_graph(tmp_path):
    require_dot()
    a = tr.tensor([1.0, -2.0], requires_grad=True)
    loss = (a.tanh() * a).sum()
    loss.backward()
    svg = render(loss, tmp_path / "plain.svg", show_values=True)
    texts = [t.text for t in ET.parse(svg).getroot().iter(SVG + "text")]
    assert "Tanh" in texts and "Sum" in texts


def test_graph_cli_options_and_one_line_errors(tmp_path, capsys):
    """`graph`: --max-steps, the format from the suffix (.dot writes DOT text), bad suffix or format: one line."""
    from tinygrad_rnn.app import cli
    out = tmp_path / "g.dot"
    assert cli.main(["graph", "--cell", "gru", "--steps", "20", "--max-steps", "4", "-o", str(out)]) == 0
    dot = parse(out.read_text())
    assert sorted(dot.step_clusters().values()) == ["t=1", "t=19", "t=2", "t=20"]
    assert cli.main(["graph", "--steps", "14", "--max-steps", "0", "-o", str(out)]) == 0
    assert len(parse(out.read_text()).step_clusters()) == 14
    capsys.readouterr()
    bad = ((["-o", str(tmp_path / "g.txt")], "ending"),
           (["-o", str(tmp_path / "g.svg"), "--format", "png"], "contradicts"),
           (["--max-steps", "-1"], "max-steps"),
           (["-o", str(tmp_path / "file.svg" / "g.svg")], "-o/--output"))        # names the option graph has
    (tmp_path / "file.svg").write_text("a file, not a folder")
    for argv, word in bad:
        assert cli.main(["graph", *argv]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and word in err[0] and err[0].startswith("tinygrad-rnn graph: error:")
    assert not (tmp_path / "g.txt").exists()
