"""Pictures of computation graphs: DOT text (no dependencies), Graphviz rendering, a CLI entry point.

    out, h_n = tr.nn.LSTM(2, 3)(x, unroll=True)
    tr.viz.render([out, *h_n], "lstm.svg", view="unrolled", detail="gate")
    tr.viz.to_dot(loss)              # any graph of tensor ops, micrograd-style
    tr.viz.explorer(data)            # the interactive page (`tinygrad-rnn explore` records the data)
"""

from .dot import DETAILS, VIEWS, to_dot
from .explorer import Explorer, explorer
from .render import GraphvizNotFoundError, RenderError, dot_binary, draw_graph, format_for, graph_command, render

__all__ = ["DETAILS", "Explorer", "GraphvizNotFoundError", "RenderError", "VIEWS", "dot_binary", "draw_graph",
           "explorer", "format_for", "graph_command", "render", "to_dot"]
