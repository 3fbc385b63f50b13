"""Rendering with Graphviz: the real `dot` to SVG and PNG, the graphviz package, and the no-`dot` fallback."""

from __future__ import annotations

import importlib
import sys
import xml.etree.ElementTree as ET

import pytest

import tinygrad_rnn as tr
from conftest import require, require_dot
from tinygrad_rnn.viz import GraphvizNotFoundError, draw_graph, graph_command, render
from vizhelp import layer

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
    with pytest.raises(ValueError, match="format"):
        render(roots, tmp_path / "g.svg", format="jpeg")


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
