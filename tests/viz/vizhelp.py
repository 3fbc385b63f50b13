"""Helpers for the graph-picture tests: build small recurrent graphs (``layer``) and read DOT text back (``parse``)."""

from __future__ import annotations

import re

import tinygrad_rnn as tr

_NODE = re.compile(r'^\s*"([^"]+)" \[(.*)\];$')
_EDGE = re.compile(r'^\s*"([^"]+)" -> "([^"]+)"(?: \[(.*)\])?;$')
_LABEL = re.compile(r'label="((?:[^"\\]|\\.)*)"')
_TD = re.compile(r"<TD([^>]*)>(.*?)</TD>")
_PORT = re.compile(r'PORT="([^"]*)"')


def _html_label(attrs: str):
    """(text, rows, rest of attrs) of an HTML-like ``label=<...>``: rows are (port or None, text), text their lines."""
    start = attrs.find("label=<")
    if start < 0:
        return None
    depth, k = 0, start + len("label=")
    for k in range(start + len("label="), len(attrs)):
        depth += {"<": 1, ">": -1}.get(attrs[k], 0)
        if depth == 0:
            break
    body = attrs[start + len("label=<"):k]
    rows = []
    for tda, inner in _TD.findall(body):
        text = re.sub(r"<[^>]+>", "", inner.replace("<BR/>", "\n")).replace("&amp;", "&").replace("&lt;", "<")
        port = _PORT.search(tda)
        rows.append((port.group(1) if port else None, text.replace("&gt;", ">")))
    return "\n".join(t for _, t in rows), rows, attrs[:start] + attrs[k + 1:]


class Dot:
    """DOT text as written by ``tr.viz.to_dot``: nodes with their enclosing clusters, clusters, edges."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.nodes, self.clusters, self.edges = {}, {}, []
        stack = []
        for line in text.splitlines():
            s = line.strip()
            if s.startswith("subgraph "):
                stack.append(s.split()[1])
                self.clusters[stack[-1]] = None
            elif s.startswith("graph [") and stack and self.clusters[stack[-1]] is None:
                m = _LABEL.search(s)
                self.clusters[stack[-1]] = m.group(1).replace("\\n", "\n") if m else ""
            elif s == "}" and stack:
                stack.pop()
            elif (m := _EDGE.match(line)):
                self.edges.append((m.group(1), m.group(2), m.group(3) or ""))
            elif (m := _NODE.match(line)):
                html = _html_label(m.group(2))
                if html is not None:
                    self.nodes[m.group(1)] = {"label": html[0], "rows": html[1], "attrs": html[2],
                                              "clusters": tuple(stack)}
                    continue
                lab = _LABEL.search(m.group(2))
                self.nodes[m.group(1)] = {"label": lab.group(1).replace("\\n", "\n") if lab else "",
                                          "attrs": m.group(2), "clusters": tuple(stack), "rows": []}

    def visible_edges(self):
        return [e for e in self.edges if "invis" not in e[2]]

    def step_clusters(self):
        return {c: lab for c, lab in self.clusters.items() if c.startswith("cluster_step")}

    def step_of(self, nid: str):
        """The label (``t=3``) of the step cluster around a node, or None."""
        for c in self.nodes[nid]["clusters"]:
            if c.startswith("cluster_step"):
                return self.clusters[c]
        return None

    def lane_of(self, nid: str):
        """The lane (Graphviz ``group``) of a node, or None."""
        m = re.search(r'group="([^"]*)"', self.nodes[nid]["attrs"])
        return m.group(1) if m else None

    def tables(self) -> list:
        """Ids of the step tables: HTML table nodes inside a step cluster."""
        return [n for n, v in self.nodes.items() if v["rows"] and self.step_of(n)]

    def row_with(self, first_line: str) -> list:
        """(node, port) of every table row whose first line is ``first_line``."""
        return [(n, p) for n, v in self.nodes.items() for p, t in v["rows"] if t.split("\n")[0] == first_line]

    def with_label(self, first_line: str) -> list:
        return [n for n, v in self.nodes.items() if v["label"].split("\n")[0] == first_line]


parse = Dot


def layer(cell: str = "lstm", T: int = 4, layers: int = 1, bidirectional: bool = False, unroll: bool = True,
              backward: bool = True, input_size: int = 2, hidden_size: int = 3, device: str = "cpu"):
    """A small recurrent layer on ``device`` run forward (and backward, recording gradient norms): (model, roots)."""
    tr.manual_seed(0)
    cls = {"rnn": tr.nn.RNN, "lstm": tr.nn.LSTM, "gru": tr.nn.GRU}[cell]
    model = cls(input_size, hidden_size, num_layers=layers, bidirectional=bidirectional, device=device)
    out, state = model(tr.randn(T, 2, input_size, device=device), unroll=unroll)
    if backward:
        with tr.autograd.record_grad_norms():
            out.pow(2).mean().backward()
    return model, [out] + (list(state) if isinstance(state, tuple) else [state])
