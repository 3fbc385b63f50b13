"""DOT text from the recorded autograd graph: unrolled and rolled pictures of recurrent models.

``to_dot(root)`` walks the graph below ``root`` (a tensor, or a list/tuple of tensors such as
``[output, h_n]``) and writes Graphviz DOT text. It needs neither the ``graphviz`` package nor the
``dot`` binary; ``render.py`` turns the text into SVG/PNG/PDF.

What the picture is made of (all read from the graph, never from a template):

- **op nodes**: every ``Function`` node, labelled with its op name and output shape(s);
- **leaves**: tensors that entered the graph. A leaf with a ``_name`` (every ``nn.Parameter`` has its
  ``state_dict`` name there) is a *parameter*: drawn once, outside every cluster, labelled with its
  name and shape. Ops that only reshape/transpose/combine one parameter outside any time step (for
  example ``w_hh.t()`` computed once before the loop) are folded into that parameter's node, so its
  edges go straight into every step that uses it: weight sharing across time is visible;
- **scopes** (``tr.autograd.scope``): ``name`` (``"rnn"``/``"lstm"``/``"gru"``, ...), ``layer``,
  ``direction`` (``"forward"``/``"reverse"``), ``t`` (0-based step; pictures say t=1..T) and ``gate``
  (the tags of ``nn/recurrent/cells.py``: ``proj``, LSTM ``i f g o``, GRU ``r z n``, state updates
  ``c`` and ``h``). A *lane* is one ``(name, layer, direction)``.

Views and detail levels:

- ``view="unrolled"``: one cluster per time step (``t=1..T``, left to right). At ``detail="gate"`` and
  ``"cell"`` each step is **one table node** (an HTML-like label): its input ``x_t`` on top, then one
  section per lane in a fixed order (the top layer first, forward above reverse; layers counted from 1),
  each with its initial state (``h₀ = c₀``) where it starts and one row per gate in the cell's order
  (the input projection, the kind's gates in the order of its weight rows, then ``c``, ``h``; a user
  cell's gate tags in order of first use), and the step's output ``y_t`` at the bottom. Every row is a
  port, so the state edges (bold, ``h`` red, ``c`` blue) run from the ``h`` row of one step to the rows
  that read it in the next (a reverse lane's run right to left). Because one step is one node, plain
  ``dot`` cannot reorder its gates or lanes: every step is drawn the same way. The parameters of a
  lane are one *weight strip* outside the steps (their ``state_dict`` names and shapes) with a
  single dashed edge into the first step and a ◆ marker in every step's lane header: weight sharing is
  visible without an edge per parameter and step. ``detail="op"`` keeps one node per op, each
  parameter drawn once with an edge into every step that uses it.
- The stack/cat/slice ops that gather step outputs are not drawn: the roots they make are named
  ``output`` (the outputs of many steps: ``= y₁ … y_T stacked``), ``h_n`` and ``c_n`` (one final state
  per lane, fed by that state's row), read from which steps and states feed them.
- Past ``max_steps`` steps (default 12; ``None`` draws all) the first ``ceil(k/2)`` and the last
  ``floor(k/2)`` steps are kept and the steps between become one ellipsis node per lane.
- ``view="rolled"``: one cell per lane with a self-loop on each state labelled ``"h × T"``; it honours
  ``detail`` (gate rows or state rows), and says so in the caption when ``detail="op"`` is drawn as gates.
- A caption says what is missing: a fused layer drawn as one box (use ``unroll=True``), and
  ``show_grads=True`` with no recorded gradient norms (also a warning, with the fix).
- ``show_grads=True``: each node shows the norm of its output gradient (recorded by backward inside
  ``tr.autograd.record_grad_norms()``; leaves use ``.grad``), and is filled on a log-scale colour map
  (dark = small, bright = large), so vanishing gradients are visible in the picture.
- ``show_values=True``: leaves and roots show their values (few elements) or mean/std.

Seq2seq convention: the encoder and decoder are the two *groups* of a graph. A node belongs to a group
when its scope has ``part="encoder"``/``"decoder"`` (an extra scope key, which survives the inner
``name=`` set by recurrent layers), or else ``name="encoder"``/``"decoder"`` (for hand-written step
loops). Each group is one cluster holding its own steps; every edge from the encoder into the decoder
passes through a single ``context`` node between the two groups (the bottleneck).

A fused layer (``FusedRNN``, the default path) is one node per layer, labelled as fused with its mode,
layer, directions and sequence length.

Node ids are ``n<i>`` (ops, numbered by an iterative depth-first walk from the roots in operand order),
``v<j>`` (leaves, same walk) and ``g<k>``/``e<k>``/``y<k>`` for gate/cell boxes, ellipses and outputs
(numbered in order of first use): the same graph always gives the same text. Edges into ops whose
operand order matters carry the operand index (``headlabel``). Everything is iterative: a chain of
100,000 ops makes DOT text without deep recursion.
"""

from __future__ import annotations

import html
import math
import warnings
from collections import deque

import numpy as np

from ..backend import to_numpy
from ..nn.recurrent.kinds import REGISTRY, by_scope
from ..tensor import Tensor


def by_name(name):
    return REGISTRY.get(name)


def _lane_states(scope_name) -> tuple:
    """The state names of a lane's cell kind (from the registry), ``("h",)`` for other cells."""
    kind = by_scope(scope_name)
    return kind.states if kind is not None else ("h",)


def _state_color(state: str) -> str:
    return COLORS.get("state_" + state, COLORS["state_h"])

VIEWS = ("unrolled", "rolled")
DETAILS = ("op", "gate", "cell")
RANKDIRS = ("LR", "RL", "TB", "BT")
GROUPS = ("encoder", "decoder")
COMMUTATIVE = frozenset({"Add", "Mul", "Maximum", "Minimum"})
MOVEMENT = frozenset({"Permute", "Reshape", "Expand", "GetItem", "Split", "Flip", "Cast"})
STRUCTURAL = MOVEMENT | {"Stack", "Cat"}     # ops that only gather step outputs into output / h_n / c_n
DEFAULT_MAX_STEPS = 12
SUBSCRIPT = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
# viridis, sampled: small gradients dark purple, large ones yellow.
_RAMP = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))
_ELLIPSIS = "…"
_STEPS = (None, None, None)          # the lane of a step's table, which holds every lane of that step

COLORS = {"op": "#eef2f7", "param": "#fde9c9", "leaf": "#e3f1e3", "fused": "#f6c38b", "gate": "#dbe7f6",
          "cell": "#cfdff3", "io": "#ffffff", "context": "#f3d1e4", "state_h": "#c0392b", "state_c": "#1f6fb2",
          "weight": "#8a94a6"}


# ------------------------------------------------------------------------------------------------
# The recorded graph, walked once


class _Graph:
    """Nodes and leaves below the roots, numbered by an iterative depth-first walk in operand order.

    ``ins[i]``: per operand of node ``i``, ``(0, j, out)`` for output ``out`` of node ``j`` or ``(1, k, 0)``
    for leaf ``k``; ``users_n[j]`` / ``users_v[k]``: ``(i, operand, out)`` for each use; ``topo``: node
    indices, inputs before users.
    """

    def __init__(self, roots: list) -> None:
        self.nodes, self.leaves = [], []
        nid, lid = {}, {}
        stack = [r._node if r._node is not None else r for r in reversed(roots)]
        while stack:
            x = stack.pop()
            if isinstance(x, Tensor):
                if id(x) not in lid:
                    lid[id(x)] = len(self.leaves)
                    self.leaves.append(x)
            elif x not in nid:
                nid[x] = len(self.nodes)
                self.nodes.append(x)
                stack.extend(e[0] if type(e) is tuple else e for e in reversed(x.edges))
        self.roots = [(0, nid[r._node], r._idx) if r._node is not None else (1, lid[id(r)], 0) for r in roots]
        self.root_tensors = roots
        self.ins = [[(0, nid[e[0]], e[1]) if type(e) is tuple else (1, lid[id(e)], 0) for e in n.edges]
                    for n in self.nodes]
        self.users_n = [[] for _ in self.nodes]
        self.users_v = [[] for _ in self.leaves]
        for i, ins in enumerate(self.ins):
            for operand, (kind, j, out) in enumerate(ins):
                (self.users_v if kind else self.users_n)[j].append((i, operand, out))
        scopes = {}                                    # nodes of one scope block share its tuple
        self.scope = [scopes.get(n.scope) or scopes.setdefault(n.scope, dict(n.scope)) for n in self.nodes]
        # Kahn's algorithm: a node comes after all nodes it reads.
        pending = [sum(1 for kind, _, _ in ins if kind == 0) for ins in self.ins]
        ready = deque(i for i in range(len(self.nodes) - 1, -1, -1) if pending[i] == 0)
        self.topo = []
        while ready:
            i = ready.popleft()
            self.topo.append(i)
            for u, _, _ in self.users_n[i]:
                pending[u] -= 1
                if pending[u] == 0:
                    ready.append(u)


def _roots(root) -> list:
    if isinstance(root, Tensor):
        return [root]
    if isinstance(root, (list, tuple)) and root:
        flat, stack = [], [iter(root)]
        while stack:                                  # nested tuples such as (output, (h_n, c_n))
            for r in stack[-1]:
                if isinstance(r, (list, tuple)):
                    stack.append(iter(r))
                    break
                if not isinstance(r, Tensor):
                    raise TypeError(f"root: expected Tensors, got an element of type {type(r).__name__}")
                flat.append(r)
            else:
                stack.pop()
        if flat:
            return flat
    raise TypeError(f"root: expected a Tensor or a non-empty list/tuple of Tensors, got {root!r:.80}")


# ------------------------------------------------------------------------------------------------
# Small formatting helpers


_SHAPES: dict = {}


def _shape(shape) -> str:
    text = _SHAPES.get(shape)
    if text is None:
        text = _SHAPES[shape] = "(" + ", ".join(str(s) for s in shape) + ")"
    return text


def _sub(n: int) -> str:
    return str(n).translate(SUBSCRIPT)


def _esc(s: str) -> str:
    if '"' not in s and "\\" not in s and "\n" not in s:
        return '"' + s + '"'
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class Html(str):
    """An HTML-like Graphviz label (written ``label=<...>``)."""


def _attrs(attrs: dict) -> str:
    return ", ".join(f"{k}=<{v}>" if isinstance(v, Html) else
                     f"{k}={v if isinstance(v, (int, float)) else _esc(str(v))}" for k, v in attrs.items())


def _h(text: str) -> str:
    """Text escaped for an HTML-like label, line breaks as ``<BR/>``."""
    return "<BR/>".join(html.escape(line, quote=False) for line in text.split("\n"))


def _norm_of(arr) -> float:
    return float(np.linalg.norm(to_numpy(arr).astype(np.float64).ravel()))


def _color(norm: float, lo: float, hi: float) -> tuple[str, str]:
    """(fill, font colour) of a gradient norm on the log-scale ramp between ``lo`` and ``hi``."""
    if hi <= lo:
        x = 0.5
    else:
        x = 0.0 if norm <= 0 else (math.log10(max(norm, lo)) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
        x = min(max(x, 0.0), 1.0)
    k = min(int(x * (len(_RAMP) - 1)), len(_RAMP) - 2)
    f = x * (len(_RAMP) - 1) - k
    rgb = [round(a + (b - a) * f) for a, b in zip(_RAMP[k], _RAMP[k + 1])]
    return "#%02x%02x%02x" % tuple(rgb), ("white" if x < 0.55 else "black")


def _values(t: Tensor) -> str:
    a = to_numpy(t._data)
    if a.size == 1:
        return f"{a.item():.4g}"
    if a.size <= 4:
        return np.array2string(a.ravel(), precision=3, separator=", ")
    a = a.astype(np.float64)
    return f"mean {a.mean():.3g}, std {a.std():.3g}"


# ------------------------------------------------------------------------------------------------
# The drawing: nodes in nested clusters, edges, then DOT text


class _Drawing:
    def __init__(self) -> None:
        self.items = {}       # id -> [label lines, attrs, cluster path]
        self.clusters = {}    # cluster id -> (label, attrs, parent id or None)
        self.edges = []       # (src, dst, attrs)
        self._seen = set()
        self.same_rank = {}   # cluster id -> lists of ids drawn at one rank, in this order

    def node(self, nid: str, label: str, path: tuple, **attrs) -> str:
        if nid not in self.items:
            self.items[nid] = [label, attrs, path]
        return nid

    def cluster(self, cid: str, label: str, parent: str | None, **attrs) -> str:
        if cid not in self.clusters:
            self.clusters[cid] = (label, attrs, parent)
        return cid

    def edge(self, src: str, dst: str, unique: bool = True, **attrs) -> None:
        if unique:
            key = (src, dst, attrs.get("label"), attrs.get("tailport"), attrs.get("headport"))
            if key in self._seen:
                return
            self._seen.add(key)
        self.edges.append((src, dst, attrs))

    def text(self, graph_attrs: dict) -> str:
        children = {None: []}
        for cid, (_, _, parent) in self.clusters.items():
            children.setdefault(parent, []).append(cid)
        members = {}
        for nid, (_, _, path) in self.items.items():
            members.setdefault(path[-1] if path else None, []).append(nid)
        out = ["digraph G {", f"  graph [{_attrs(graph_attrs)}];",
               '  node [shape=box, style="rounded,filled", fillcolor="#eef2f7", fontname="Helvetica", '
               'fontsize=10, height=0.3, margin="0.08,0.04"];',
               '  edge [fontname="Helvetica", fontsize=9, arrowsize=0.6, color="#555555"];']
        # Clusters nest at most a few levels; walk them with an explicit stack.
        stack = [(None, 1, False)]
        while stack:
            cid, depth, closing = stack.pop()
            pad = "  " * depth
            if closing:
                out.append("  " * (depth - 1) + "}")
                continue
            if cid is not None:
                label, attrs, _ = self.clusters[cid]
                out.append("  " * (depth - 1) + f"subgraph {cid} {{")
                out.append(f"{pad}graph [{_attrs({'label': label, **attrs})}];")
                stack.append((cid, depth, True))
            for nid in members.get(cid, ()):
                label, attrs, _ = self.items[nid]
                out.append(f"{pad}{_esc(nid)} [{_attrs({'label': label, **attrs})}];")
            for ids in self.same_rank.get(cid, ()):
                out.append(f"{pad}{{rank=same; " + " ".join(_esc(x) + ";" for x in ids) + "}")
            for sub in reversed(children.get(cid, ())):
                stack.append((sub, depth + 1, False))
        for src, dst, attrs in self.edges:
            out.append(f"  {_esc(src)} -> {_esc(dst)}" + (f" [{_attrs(attrs)}];" if attrs else ";"))
        out.append("}")
        return "\n".join(out) + "\n"


# ------------------------------------------------------------------------------------------------
# From graph to drawing


class _Builder:
    def __init__(self, g: _Graph, view: str, detail: str, show_values: bool, show_grads: bool,
                 max_steps: int | None) -> None:
        self.g, self.view, self.detail = g, view, detail
        self.show_values, self.show_grads, self.max_steps = show_values, show_grads, max_steps
        self.d = _Drawing()
        self._ids = {}
        n = len(g.nodes)
        sc = g.scope
        self.t = [s.get("t") for s in sc]
        self.group = [s.get("part") if s.get("part") in GROUPS else (s.get("name") if s.get("name") in GROUPS else None)
                      for s in sc]
        self.lane = [(s.get("name"), s.get("layer"), s.get("direction")) for s in sc]
        self.has_steps = any(t is not None for t in self.t)
        self.is_param = [getattr(v, "_name", None) is not None for v in g.leaves]
        self.fold = [None] * n
        if self.has_steps:
            self._fold_parameters()
        self._plan_steps()
        self._reroute_hubs()
        self._name_hubs()
        # gate and cell detail (and every rolled view) draw each step of a lane as one table node whose rows
        # (ports) are the gates in the cell's order, so every step is drawn the same way
        self.tables = self.has_steps and (self.detail != "op" or self.view == "rolled")
        self.notes = []
        self.rep_n = [None] * n
        self.port = {}       # node index -> (lane, row) of its table; a row is a port
        self.rows = {}       # table id -> {(lane, row): [node indices]}; row None: the lane's header
        self.strips = {}     # (group, lane) -> (strip id, [parameter leaf indices])
        self.leaf_port = {}  # leaf index -> (lane, row) of the table row that shows it (x_t, h₀)
        self.row_text = {}   # (table id, (lane, row)) -> text of a row that shows a leaf or an output
        self.slot = {}       # drawn id -> (group, position, lane) for items inside the time axis
        self.members = {}    # group box id -> list of node indices

    # -- parameters ---------------------------------------------------------------------------
    def _fold_parameters(self) -> None:
        """Ops outside every step that read exactly one parameter (and nothing else) become part of it."""
        g = self.g
        for i in g.topo:
            if self.t[i] is not None or g.nodes[i].name == "FusedRNN":
                continue
            params = set()
            for kind, j, _ in g.ins[i]:
                if kind == 1 and self.is_param[j]:
                    params.add(j)
                elif kind == 0 and self.fold[j] is not None:
                    params.add(self.fold[j])
                else:
                    params = None
                    break
            if params is not None and len(params) == 1:
                self.fold[i] = params.pop()

    def _param_name(self, kind: int, j: int) -> str | None:
        """The parameter behind an operand, through folded ops and movement ops (``w.t()`` in a step)."""
        g = self.g
        for _ in range(8):
            if kind == 1:
                return g.leaves[j]._name if self.is_param[j] else None
            if self.fold[j] is not None:
                return g.leaves[self.fold[j]]._name
            if g.nodes[j].name not in MOVEMENT or len(g.ins[j]) != 1:
                return None
            kind, j, _ = g.ins[j][0]
        return None

    # -- steps, lanes, ellipsis ---------------------------------------------------------------
    def _plan_steps(self) -> None:
        steps = {}
        for i, t in enumerate(self.t):
            if t is not None and self.fold[i] is None:
                steps.setdefault(self.group[i], set()).add(t)
        self.kept, self.position = {}, {}
        for grp, ts in steps.items():
            ts = sorted(ts)
            k = self.max_steps
            if k is not None and len(ts) > k:
                head, tail = ts[:math.ceil(k / 2)], ts[len(ts) - k // 2:]
                order = head + [None] + tail            # None: the ellipsis
            else:
                order = ts
            self.kept[grp] = {t for t in order if t is not None}
            self.position[grp] = {t: p for p, t in enumerate(order)}
        self.lanes = {}
        for i, t in enumerate(self.t):
            if t is not None:
                self.lanes.setdefault(self.group[i], {}).setdefault(self.lane[i], None)
        self.lane_order = {}
        for lanes in self.lanes.values():
            for k, lane in enumerate(sorted(lanes, key=_lane_key)):
                self.lane_order.setdefault(lane, k)

    def _reroute_hubs(self) -> None:
        """Skip the stack/cat/slice ops between layers: layer k+1's step t reads layer k's step t directly.

        An operand of a step-``t`` node that comes from an op outside the steps (``stack`` of a layer's
        outputs, ``cat`` of two directions) is redrawn as edges from the step-``t`` nodes that feed that op.
        Ops left with no drawn consumer (and that are not roots) are hidden.
        """
        g = self.g
        self.reroute = {}                 # (i, operand) -> [(j, out), ...]
        self.hidden = set()
        if not self.has_steps or self.view not in VIEWS:
            return
        sources = {}                      # hub -> {t: [(j, out)]}, walked through ops outside the steps

        def step_sources(h: int) -> dict:
            if h in sources:
                return sources[h]
            found, seen, stack = {}, {h}, [h]
            while stack:
                m = stack.pop()
                for kind, j, out in g.ins[m]:
                    if kind == 1 or j in seen:
                        continue
                    seen.add(j)
                    if self.t[j] is not None and self.fold[j] is None:
                        if self.group[j] == self.group[h]:
                            found.setdefault(self.t[j], []).append((j, out))
                    elif self.fold[j] is None and g.nodes[j].name != "FusedRNN":
                        stack.append(j)
            sources[h] = found
            return found

        for i in g.topo:
            if self.t[i] is None or self.fold[i] is not None:
                continue
            for operand, (kind, j, _) in enumerate(g.ins[i]):
                if kind == 0 and self.t[j] is None and self.fold[j] is None and self.group[j] == self.group[i]:
                    src = step_sources(j).get(self.t[i])
                    if src:
                        self.reroute[(i, operand)] = src
        roots = {j for kind, j, _ in g.roots if kind == 0}
        for j in reversed(g.topo):
            if self.t[j] is not None or j in roots or self.fold[j] is not None or not g.users_n[j]:
                continue
            if all((u, op) in self.reroute or u in self.hidden for u, op, _ in g.users_n[j]):
                self.hidden.add(j)

    def _name_hubs(self) -> None:
        """Name the ops that only gather step outputs: ``output`` (the outputs of many steps), ``h_n`` / ``c_n``
        (one final state per lane), read from which steps and states feed them.

        A *gathering* op is a stack/cat/slice outside the steps whose inputs all come, through such ops,
        from step nodes. One that is a root, or feeds an op that is not gathering, is drawn as one named
        node fed by the steps; the gathering ops inside it are hidden.
        """
        g = self.g
        self.named = {}                   # hub -> (role, [(j, out)] step sources)
        if not self.has_steps:
            return
        gathers = {}                      # op -> step sources, for gathering ops
        for i in g.topo:
            if self.t[i] is not None or self.fold[i] is not None or g.nodes[i].name not in STRUCTURAL:
                continue
            found = []
            for kind, j, out in g.ins[i]:
                if kind == 0 and self.t[j] is not None and self.fold[j] is None and self.group[j] == self.group[i]:
                    found.append((j, out))
                elif kind == 0 and j in gathers:
                    found.extend(gathers[j])
                else:
                    found = None
                    break
            if found:
                gathers[i] = list(dict.fromkeys(found))
        roots = [j for kind, j, _ in g.roots if kind == 0]
        order = {j: r for r, j in enumerate(roots)}
        named = []
        for i in gathers:
            if i in self.hidden:
                continue
            users = [u for u, op, _ in g.users_n[i] if (u, op) not in self.reroute and u not in self.hidden]
            if i in order or any(u not in gathers for u in users):
                named.append(i)
        for i in gathers:
            if i not in named:
                self.hidden.add(i)
        items = []
        for i in sorted(named, key=lambda i: order.get(i, len(order) + i)):
            found = gathers[i]
            per_lane = {}
            for j, _ in found:
                per_lane.setdefault((self.group[j], self.lane[j]), set()).add(self.t[j])
            many = any(len(ts) > 1 for ts in per_lane.values())
            items.append([i, "output" if many else self._state_label(*found[0]) + "_n", found])
        roles = [it[1] for it in items]
        if "output" not in roles:        # T=1: of [output, h_n] (same steps, same state) the first is the output
            for it in items:
                if roles.count(it[1]) > 1:
                    it[1] = "output"
                    break
        self.named = {i: (role, found) for i, role, found in items}

    def _pos(self, i: int):
        """Position of node ``i`` along its group's time axis (the ellipsis has its own), else None."""
        t = self.t[i]
        if t is None or self.fold[i] is not None or self.view == "rolled":
            return None
        grp = self.group[i]
        return self.position[grp][t if t in self.kept[grp] else None]

    def _id(self, prefix: str, key) -> str:
        k = (prefix, key)
        if k not in self._ids:
            self._ids[k] = f"{prefix}{len(self._ids)}"
        return self._ids[k]

    def _group_cluster(self, grp) -> tuple:
        if grp is None:
            return ()
        cid = self.d.cluster(f"cluster_{grp}", grp, None, style="rounded,dashed", color="#7d5a8c", fontsize=14)
        return (cid,)

    def _step_path(self, grp, t, lane) -> tuple:
        base = self._group_cluster(grp)
        step = self.d.cluster(f"cluster_step_{self._id('s', (grp, t))}", f"t={t + 1}", base[-1] if base else None,
                              style="rounded,filled", fillcolor="#f7f7f7", color="#b0b0b0", fontsize=12)
        return base + (step,)

    @staticmethod
    def _lane_label(lane) -> str:
        """``"lstm · layer 1 · forward"``: layers counted from 1, as the steps are."""
        name, layer, direction = lane
        return " · ".join(str(x) for x in (name, None if layer is None else f"layer {layer + 1}", direction)
                          if x is not None)

    def _lane_title(self, lane) -> str:
        name, layer, direction = lane
        kind = by_scope(name)
        head = kind.title.split(" (")[0] if kind is not None else (name or "step")
        multi = len(self.lanes.get(None, ())) > 1 or any(len(v) > 1 for v in self.lanes.values())
        tail = [f"layer {layer + 1}" if layer is not None and multi else None,
                direction if direction == "reverse" or (multi and direction) else None]
        return head + "".join(f" · {x}" for x in tail if x)

    # -- representatives: which drawn item stands for each graph node --------------------------
    def _place_nodes(self) -> None:
        g, d = self.g, self.d
        if self.view == "unrolled":                         # clusters in time order, lanes sorted
            for grp, kept in self.kept.items():
                lanes = sorted(self.lanes[grp], key=_lane_key)
                for t in sorted(kept):
                    for lane in lanes:
                        self._step_path(grp, t, lane)
        for i in g.topo:
            if self.fold[i] is not None:
                self.rep_n[i] = f"v{self.fold[i]}"
                continue
            t, grp, lane = self.t[i], self.group[i], self.lane[i]
            gate = g.scope[i].get("gate")
            if i in self.hidden:
                continue
            if t is None:
                self.rep_n[i] = d.node(f"n{i}", "", self._group_cluster(grp))
                if i in self.named:
                    continue
                self.members.setdefault(f"n{i}", []).append(i)
                continue
            rolled = self.view == "rolled"
            if not rolled and t not in self.kept[grp]:
                rid = self._id("e", (grp, lane))
                self.rep_n[i] = d.node(rid, "", self._group_cluster(grp), shape="plaintext", style="",
                                       fontsize=16)
            elif self.tables and (rolled or self.detail == "cell" or gate is not None
                                  or g.nodes[i].name in MOVEMENT):      # x[t] of the layer below: the lane's header
                # one table per step holds every lane (in fixed order) and every gate (in the cell's order)
                rid = self._id("g", ("cell", grp, lane) if rolled else ("cell", grp, t))
                path = self._group_cluster(grp) if rolled else self._step_path(grp, t, lane)
                self.rep_n[i] = d.node(rid, "", path, shape="plain", style="")
                row = gate if self.detail != "cell" else (gate if gate in _lane_states(lane[0]) else None)
                self.rows.setdefault(rid, {}).setdefault((lane, row), []).append(i)
                self.port[i] = (lane, row)
            else:
                self.rep_n[i] = d.node(f"n{i}", "", self._step_path(grp, t, lane))
            self.members.setdefault(self.rep_n[i], []).append(i)
            if self.view == "unrolled":          # a step's table is one lane of its own ("steps")
                self.slot[self.rep_n[i]] = (grp, self._pos(i), _STEPS if self.rep_n[i] in self.rows else lane)

    def _leaf_home(self, k: int):
        """Where a leaf is drawn: None (dropped), 'root', or the (group, t, lane) of the one step using it."""
        homes = set()
        for i, _, _ in self.g.users_v[k]:
            rep = self.rep_n[i]
            if rep is None or rep.startswith("e"):
                continue
            t = self.t[i]
            if t is None or self.fold[i] is not None or self.view == "rolled":
                homes.add(("outside", self.group[i] if self.fold[i] is None else None))
            else:
                homes.add((self.group[i], t, self.lane[i]))
        if not homes:
            return "root" if (1, k, 0) in self.g.roots else None
        if len(homes) == 1:
            return homes.pop()
        return "root"

    def _leaf_role(self, k: int) -> str:
        """x (sequence input), h / c (initial state) or '' — read from the ops that use the leaf."""
        g = self.g
        second = ""
        for i, operand, _ in g.users_v[k]:
            states = _lane_states(self.lane[i][0])
            second = second or (states[1] if len(states) > 1 else "")
            if g.nodes[i].name == "Matmul" and len(g.ins[i]) == 2:
                kind, j, _ = g.ins[i][1 - operand]
                name = self._param_name(kind, j) or ""
                if name.startswith("weight_hh"):
                    return "h"
                if name.startswith("weight_ih"):
                    return "x"
        return second

    def _param_lanes(self, k: int) -> set:
        """The (group, lane) pairs whose steps read parameter leaf ``k`` (directly or through folded ops);
        None stands for a use outside every step."""
        g, lanes = self.g, set()
        stack = [i for i, _, _ in g.users_v[k]]
        seen = set()
        while stack:
            i = stack.pop()
            if i in seen:
                continue
            seen.add(i)
            if self.fold[i] is not None:
                stack.extend(u for u, _, _ in g.users_n[i])
            elif self.t[i] is not None:
                lanes.add((self.group[i], self.lane[i]))
            else:
                lanes.add(None)
        return lanes

    def _initial_states(self, k: int, role: str, lanes) -> str:
        """``"h₀"``, or ``"h₀ = c₀"`` when leaf ``k`` (one zeros tensor) starts several states of its lanes."""
        states = [st for lane in lanes for st in _lane_states(lane[0])]
        also = [st for st in dict.fromkeys(states) if st != role and any(
            self.g.scope[i].get("gate") == st for i, _, _ in self.g.users_v[k])]
        return " = ".join(f"{st}₀" for st in [role, *also])

    def _place_leaves(self) -> list:
        g, d = self.g, self.d
        rep_v = [None] * len(g.leaves)
        for k, v in enumerate(g.leaves):
            shape = _shape(v.shape)
            if self.is_param[k]:
                lanes = self._param_lanes(k)
                if self.tables and self.view == "unrolled" and len(lanes) == 1 and None not in lanes:
                    key = lanes.pop()                   # one lane's weights: a row of that lane's strip
                    if key not in self.strips:
                        self.strips[key] = (d.node(self._id("w", key), "", (), shape="plain", style=""), [])
                    self.strips[key][1].append(k)
                    rep_v[k] = self.strips[key][0]
                    continue
                label = f"{v._name}\n{shape}"
                rep_v[k] = d.node(f"v{k}", label, (), fillcolor=COLORS["param"], shape="box", style="filled")
                continue
            home = self._leaf_home(k)
            if home is None:
                continue
            if not v.requires_grad and v._data.size == 1:       # a Python number in an expression: 1 - z
                if self.has_steps and (self.detail != "op" or self.view == "rolled"):
                    continue
                path = self._step_path(*home) if home != "root" and home[0] != "outside" else ()
                rep_v[k] = d.node(f"v{k}", _values(v), path, shape="plaintext", style="")
                continue
            role = self._leaf_role(k) if self.has_steps else _fused_role(g, k)
            kind = "leaf" if v.requires_grad else "const"
            if home == "root" or home[0] == "outside":
                grp = home[1] if home != "root" else None
                if self.view == "rolled" and role:
                    lanes = {self.lane[i] for i, _, _ in g.users_v[k]}
                    key = ("io", role, tuple(sorted(lanes, key=str)), grp)
                    rid = self._id("g", key)
                    label = ("x_t" if role == "x" else self._initial_states(k, role, lanes)) + f"\n{shape}"
                    rep_v[k] = d.node(rid, label, self._group_cluster(grp), fillcolor=COLORS["io"], shape="ellipse")
                    continue
                label = ("x" if role == "x" else f"{role}₀" if role else kind) + f"\n{shape}"
                rep_v[k] = d.node(f"v{k}", label, self._group_cluster(grp), fillcolor=COLORS["io" if role else "leaf"],
                                  shape="ellipse")
            else:
                grp, t, lane = home
                if role and role != "x":          # one zeros tensor may start several states: name them all
                    role = self._initial_states(k, role, {lane})[:-1]
                label = (f"x{_sub(t + 1)}" if role == "x" else f"{role}₀" if role else kind) + f"\n{shape}"
                table = self._ids.get(("g", ("cell", grp, t)))
                if role and self.tables and self.view == "unrolled" and table in self.rows:
                    # the step's input and a lane's initial state are rows of the step's table
                    key = (None, "x") if role == "x" else (lane, "init")
                    self.rows[table].setdefault(key, [])
                    text = label.replace("\n", " ")
                    if self.show_values:
                        text += " " + _values(v)
                    self.row_text[(table, key)] = text
                    self.leaf_port[k] = key
                    rep_v[k] = table
                    continue
                rep_v[k] = d.node(f"v{k}", label, self._step_path(grp, t, lane),
                                  fillcolor=COLORS["io" if role else "leaf"], shape="ellipse")
                self.slot[rep_v[k]] = (grp, self.position[grp][t], lane)
            if self.show_values:
                self.d.items[rep_v[k]][0] += "\n" + _values(v)
        return rep_v

    # -- edges --------------------------------------------------------------------------------
    def _state_label(self, j: int, out: int) -> str:
        """Which state element (``h``, ``c``, ...: the names the cell's description gives) an output
        carries from one step to the next."""
        gate = self.g.scope[j].get("gate")
        states = _lane_states(self.lane[j][0])
        if gate in states:
            return gate
        for u, operand, o in self.g.users_n[j]:
            if o == out and self.g.nodes[u].name == "Matmul" and len(self.g.ins[u]) == 2:
                kind, m, _ = self.g.ins[u][1 - operand]
                if (self._param_name(kind, m) or "").startswith("weight_hh"):
                    return "h"
        return states[1] if len(states) > 1 else "h"

    def _pname(self, key) -> str:
        """The port name of a table row ``(lane, row)``: the lane's place, then the row (``"0h"``)."""
        lane, row = key
        if lane is None:
            return row                                # the step's own rows: x (input), y (output)
        order = self.lane_order.get(lane, 0)
        return f"{order}{row}" if row is not None else f"{order}"

    def _ports(self, rid: str, row, compass: str = "") -> str | None:
        """``"port:compass"`` for a table row ``(lane, row)`` that exists (else just the compass, or None)."""
        if row is not None and row in self.rows.get(rid, {}):
            return f"{self._pname(row)}:{compass}" if compass else self._pname(row)
        return compass or None

    def _edges(self, rep_v: list) -> None:
        g, d = self.g, self.d
        op_level = {f"n{i}" for i in range(len(g.nodes))}
        strip_of = {sid: key for key, (sid, _) in self.strips.items()}
        self.exits = {}          # (drawn id, row) -> {(j, out)}: the values that leave a box or a table row
        self.state_kinds = {}
        self.strip_users = {}    # strip id -> [(drawn id, lane)] of the steps that read it
        self.feeds = {}          # (table id, lane) -> lanes of the same table it reads (the layer below)
        self.hub_ys = {}         # output hub -> [(position, t, y id)]: its label names them, no edge tangle
        for i in g.topo:
            dst = self.rep_n[i]
            if dst is None or self.fold[i] is not None:
                continue
            if i in self.named:
                self._hub_edges(i, dst)
                continue
            name = g.nodes[i].name
            ordered = len(g.ins[i]) > 1 and name not in COMMUTATIVE
            operands = []
            for operand, (kind, j, out) in enumerate(g.ins[i]):
                via = self.reroute.get((i, operand))
                operands.extend([(operand, 0, m, o) for m, o in via] if via else [(operand, kind, j, out)])
            for operand, kind, j, out in operands:
                src = rep_v[j] if kind == 1 else self.rep_n[j]
                if src is None:
                    continue
                srow = self.port.get(j) if kind == 0 else self.leaf_port.get(j)
                if kind == 0 and src[0] in "gn" and (src != dst or self.port.get(i) != srow):
                    self.exits.setdefault((src, srow), set()).add((j, out))
                if src == dst:                # inside one table: the rows' order and equations say it
                    if kind == 0 and self.lane[j] != self.lane[i]:
                        self.feeds.setdefault((dst, self.lane[i]), set()).add(self.lane[j])
                    continue
                if src in strip_of:           # a lane's weights: one edge per lane, a marker in each step
                    if strip_of[src][1] == self.lane[i] and self.t[i] is not None:
                        self.strip_users.setdefault(src, []).append((dst, self.lane[i]))
                        continue
                attrs = {}
                src_param = (kind == 1 and self.is_param[j]) or (kind == 0 and self.fold[j] is not None)
                if src_param:
                    attrs.update(style="dashed", color=COLORS["weight"])
                    if self.view == "unrolled" and self.has_steps:
                        attrs["weight"] = 0      # parameters sit in one column at the left, edges don't pull
                state = None
                if kind == 0 and self.fold[j] is None and self.t[j] is not None and self.t[i] is not None \
                        and self.lane[j] == self.lane[i] and self.group[j] == self.group[i] and self.t[j] != self.t[i]:
                    state = self._state_label(j, out)
                    self.state_kinds.setdefault((self.group[i], self.lane[i]), set()).add(state)
                    if self.view == "rolled":
                        continue
                    attrs.update(penwidth=2, color=_state_color(state))
                    if self.tables:
                        attrs["weight"] = 0      # the lane's invisible chain keeps the tables level, not h -> proj
                    if self.detail != "op" or src.startswith("e") or dst.startswith("e"):
                        attrs["label"] = state
                if self.tables:
                    rev = self.lane[i][2] == "reverse"
                    tail_row = srow if kind == 0 else None
                    if self.detail == "cell" and kind == 0 and (tail_row is None or tail_row[1] is None):
                        tail_row = (self.lane[j], self._state_label(j, out))
                    head_row = self.port.get(i)
                    if self.detail == "cell":
                        role = self._leaf_role(j) if kind == 1 else ""
                        role = state or (role if role in _lane_states(self.lane[i][0]) else None)
                        head_row = (self.lane[i], role) if role else head_row
                    compass = ("w", "e") if rev else ("e", "w")
                    tp = self._ports(src, tail_row, compass[0] if state else "")
                    hp = self._ports(dst, head_row, compass[1] if state else "")
                    if tp and src in self.rows:
                        attrs["tailport"] = tp
                    if hp and dst in self.rows:
                        attrs["headport"] = hp
                    if state and rev and dst.startswith("g") and src.startswith("g"):
                        # a reverse lane's state runs right to left: drawn as a left-to-right edge with its
                        # arrow at the tail, so it is as short and straight as the forward lane's
                        back = {"dir": "back"}
                        if "headport" in attrs:
                            back["tailport"] = attrs.pop("headport")
                        if "tailport" in attrs:
                            back["headport"] = attrs.pop("tailport")
                        attrs.update(back)
                        d.edge(dst, src, **attrs)
                        continue
                ps, pd = (self._pos(j) if kind == 0 else None), self._pos(i)
                if ps is not None and pd is not None and self.group[j] == self.group[i] and (
                        ps > pd or (ps == pd and self.lane[j] != self.lane[i])):
                    attrs["constraint"] = "false"       # backward in time, or between lanes of one step
                if kind == 0 and self.group[j] == "encoder" and self.group[i] == "decoder":
                    ctx = d.node("context", "context", (), fillcolor=COLORS["context"], shape="doubleoctagon")
                    d.edge(src, ctx, penwidth=2, **{k: v for k, v in attrs.items() if k == "tailport"})
                    d.edge(ctx, dst, penwidth=2, **{k: v for k, v in attrs.items() if k == "headport"})
                    continue
                if kind == 0 and self._pos(j) is not None and self.t[i] is None and not src.startswith("e") \
                        and self.group[j] == self.group[i]:
                    t = self.t[j]
                    yid = self._id("y", (j, out))
                    shape = _shape(g.nodes[j].out_meta[out][0])
                    st = self._state_label(j, out)               # c_T is drawn as c_T, never y_T
                    head = "y" if st == _lane_states(self.lane[j][0])[0] else st
                    d.node(yid, f"{head}{_sub(t + 1)}\n{shape}", self._step_path(self.group[j], t, self.lane[j]),
                           fillcolor=COLORS["io"], shape="ellipse")
                    self.slot[yid] = (self.group[j], self._pos(j), self.lane[j])
                    d.edge(src, yid, **{k: v for k, v in attrs.items() if k == "tailport"})
                    attrs.pop("tailport", None)
                    src = yid
                if self.view == "rolled" and kind == 0 and self.t[j] is not None and self.t[i] is None:
                    yid = self._id("y", ("rolled", src))
                    d.node(yid, "y_t", self._group_cluster(self.group[j]), fillcolor=COLORS["io"], shape="ellipse")
                    d.edge(src, yid, **{k: v for k, v in attrs.items() if k == "tailport"})
                    attrs.pop("tailport", None)
                    src = yid
                if ordered and dst in op_level and (src in op_level or src[0] == "v"):
                    attrs.update(headlabel=str(operand), labelfontsize=8, labelfontcolor="#7a7a7a")
                d.edge(src, dst, unique=not (src in op_level or src.startswith("v")) or dst not in op_level,
                       **attrs)
        for sid, _ in self.strips.values():    # one dashed edge from a lane's weights to its first step
            users = [r for r, _ in self.strip_users.get(sid, ())]
            if users:
                first = min(users, key=lambda r: (self.slot.get(r, (None, 1 << 30))[1] or 0, r))
                d.edge(sid, first, style="dashed", color=COLORS["weight"], penwidth=1.5, weight=0)

    def _hub_edges(self, i: int, hub: str) -> None:
        """Edges into a named gathering node (output, h_n, c_n) straight from the steps that feed it."""
        g, d = self.g, self.d
        role, found = self.named[i]
        shape = g.nodes[i].out_meta[0][0]
        for j, out in found:
            src = self.rep_n[j]
            if src is None:
                continue
            row = self.port.get(j)
            if self.tables and self.detail == "cell" and (row is None or row[1] is None):
                row = (self.lane[j], self._state_label(j, out))
            tp = self._ports(src, row) if src in self.rows else None
            tail = {"tailport": tp} if tp else {}
            if role == "output":
                if src.startswith("e") or self.view == "rolled":
                    if self.view == "rolled":
                        d.edge(src, hub, **tail)
                    continue
                grp, t = self.group[j], self.t[j]
                if src in self.rows:                  # the step's output: the bottom row of its table
                    self.rows[src].setdefault((None, "y"), [])
                    self.row_text[(src, (None, "y"))] = f"y{_sub(t + 1)} {_shape(shape[1:])}"
                    self.hub_ys.setdefault(i, []).append((self._pos(j), t, src, "y"))
                    continue
                yid = self._id("y", (i, grp, t))
                d.node(yid, f"y{_sub(t + 1)}\n{_shape(shape[1:])}", self._step_path(grp, t, self.lane[j]),
                       fillcolor=COLORS["io"], shape="ellipse")
                self.slot[yid] = (grp, self._pos(j), self.lane[j])
                d.edge(src, yid, **tail)
                self.hub_ys.setdefault(i, []).append((self._pos(j), t, yid, None))
            else:
                state = role[:-2]
                last = self._pos(j) is not None and self._pos(j) == len(self.position[self.group[j]]) - 1
                attrs = {"color": _state_color(state), "penwidth": 1.5}
                if self.view == "unrolled" and not last:
                    attrs["constraint"] = "false"
                d.edge(src, hub, **tail, **attrs)

    # -- labels, colours, time order --------------------------------------------------------
    def _node_norm(self, i: int) -> float | None:
        norms = self.g.nodes[i].grad_norms
        if not norms:
            return None
        vals = [_norm_of(x) for x in norms if x is not None]
        return math.sqrt(sum(v * v for v in vals)) if vals else None

    def _labels(self) -> None:
        g, d = self.g, self.d
        for rid, idx in self.members.items():
            if rid in self.rows:
                continue                                  # tables are written by _tables
            label, attrs, _ = d.items[rid]
            first = g.nodes[idx[0]]
            if rid.startswith("n"):
                i = idx[0]
                shapes = " | ".join(_shape(s) for s, _ in first.out_meta)
                if first.name == "FusedRNN":
                    label = _fused_label(first, g.scope[i])
                    attrs.update(fillcolor=COLORS["fused"], shape="box3d", style="filled")
                else:
                    label = f"{first.name}\n{shapes}"
            elif rid.startswith("e"):
                gone = sorted(t for t in {self.t[i] for i in idx})
                label = f"{_ELLIPSIS}\nt={gone[0] + 1}..{gone[-1] + 1}\n({len(gone)} steps)"
            d.items[rid][0] = label
        for i, (role, _) in self.named.items():
            rid = self.rep_n[i]
            if rid in d.items:
                d.items[rid][0] = f"{role}\n{_shape(g.nodes[i].out_meta[0][0])}"
                ys = sorted(self.hub_ys.get(i, ()))
                if ys:                       # the outputs y_t of every step, stacked: named, placed after the last
                    ts = sorted({t for _, t, _, _ in ys})
                    d.items[rid][0] += ("\n= y" + _sub(ts[0] + 1) + (" … y" + _sub(ts[-1] + 1) if len(ts) > 1 else "")
                                        + " stacked")
                    d.edge(ys[-1][2], rid, color="#9aa3b0", style="dotted",
                           **({"tailport": ys[-1][3]} if ys[-1][3] else {}))
                d.items[rid][1].update(shape="ellipse", fillcolor=COLORS["io"])
                self.members.setdefault(rid, []).append(i)
        if self.view == "rolled":
            for rid, rows in self.rows.items():
                idx = [i for r in rows.values() for i in r]
                lane = self.lane[idx[0]]
                steps = len({self.t[i] for i in idx})
                for state in sorted(self.state_kinds.get((self.group[idx[0]], lane), ())
                                    or tuple(sorted(_lane_states(lane[0])))):
                    port = "n" if state == "h" else "s"       # h loops over the top, c under the bottom
                    d.edge(rid, rid, label=f" {state} × {steps}", penwidth=2, color=_state_color(state),
                           fontcolor=_state_color(state), tailport=port, headport=port)
        for j, (kind, k, _) in enumerate(self.g.roots):
            rid = self.rep_n[k] if kind == 0 else f"v{k}"
            if rid in d.items and rid not in self.rows:
                d.items[rid][1]["penwidth"] = 2.5
                if self.show_values:
                    d.items[rid][0] += "\n" + _values(self.g.root_tensors[j])

    def _row_order(self) -> dict:
        """Per lane, the rows of its tables in the cell's order: the input projection, the kind's gates in
        the order of its weight rows, its states (c before h); rows of other cells in order of first use."""
        seen = {}
        for i in self.g.topo:
            if i in self.port:
                seen.setdefault((self.group[i], self.lane[i]), {}).setdefault(self.port[i][1], len(seen.get(
                    (self.group[i], self.lane[i]), {})))
        order = {}
        for key, rows in seen.items():
            kind = by_scope(key[1][0])
            base = ["proj", *kind.gates, *reversed(kind.states)] if kind is not None else []
            order[key] = sorted((r for r in rows if r is not None),
                                key=lambda r: (base.index(r) if r in base else len(base) + rows[r]))
        return order

    def _norm_text(self, key) -> tuple:
        """(text, fill, font colour) of a recorded gradient norm, or ('', None, None)."""
        x = self.norms.get(key)
        if x is None or self.norm_range is None:
            return "", None, None
        fill, font = _color(x, *self.norm_range)
        return f"‖grad‖ {x:.2e}", fill, font

    def _tables(self) -> None:
        """HTML-like labels of the step tables (rows = ports, in the cell's order) and the weight strips."""
        g, d = self.g, self.d
        order = self._row_order()
        small = '<FONT POINT-SIZE="8">{}</FONT>'
        marked = {x for users in self.strip_users.values() for x in users}
        for rid, rows in self.rows.items():
            lines = []
            idx = [i for r in rows.values() for i in r]
            t = self.t[idx[0]] if self.view == "unrolled" else None
            io_row = ('<TR><TD PORT="{}" BGCOLOR="#ffffff" ALIGN="LEFT">{}</TD></TR>').format
            if (None, "x") in rows:
                lines.append(io_row("x", _h(self.row_text[(rid, (None, "x"))])))
            for lane in sorted({lane for lane, _ in rows if lane is not None}, key=_lane_key):
                grp = self.group[next(i for (ln, _), r in rows.items() if ln == lane for i in r)]
                kind = by_scope(lane[0])
                labels = kind.gate_labels if kind is not None else {}
                mine = [r for r in rows if r[0] == lane and rows[r]]
                outs = sorted(set().union(*(self.exits.get((rid, r), set()) for r in mine))
                              or {(rows[mine[-1]][-1], 0)})
                shape = _shape(g.nodes[outs[-1][0]].out_meta[outs[-1][1]][0])
                head = self._lane_title(lane) + (" cell" if self.detail == "cell" or self.view == "rolled" else "")
                head = f"<B>{_h(head)}</B>" + (' <FONT COLOR="#8a6a2a">◆</FONT>' if (rid, lane) in marked else "")
                below = sorted(self.feeds.get((rid, lane), ()), key=_lane_key)
                sub = _h(shape)
                if below:
                    layers = sorted({ln[1] for ln in below if ln[1] is not None})
                    sub += _h("  ← reads layer " + ", ".join(str(k + 1) for k in layers) if layers else "")
                lines.append(f'<TR><TD BGCOLOR="{COLORS["cell"]}"{self._port_attr(rid, (lane, None))}>{head}<BR/>'
                             f'{small.format(sub)}</TD></TR>')
                if (lane, "init") in rows:
                    lines.append(io_row(html.escape(self._pname((lane, "init"))),
                                        _h(self.row_text[(rid, (lane, "init"))])))
                for row in order.get((grp, lane), ()):
                    if (lane, row) not in rows:
                        continue
                    if self.detail == "cell":
                        text = f"{row}{_sub(t + 1)}" if t is not None else f"{row}_t"
                    else:
                        text = labels.get(row, f"gate {row}")
                    note, fill, font = self._norm_text((rid, (lane, row)))
                    body = _h(text) if font is None else f'<FONT COLOR="{font}">{_h(text)}</FONT>'
                    if note:
                        body += "<BR/>" + f'<FONT POINT-SIZE="8" COLOR="{font}">{_h(note)}</FONT>'
                    lines.append(f'<TR><TD PORT="{html.escape(self._pname((lane, row)))}" '
                                 f'BGCOLOR="{fill or COLORS["gate"]}" ALIGN="LEFT">{body}</TD></TR>')
            if (None, "y") in rows:
                lines.append(io_row("y", _h(self.row_text[(rid, (None, "y"))])))
            d.items[rid][0] = Html('<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="1" CELLPADDING="3" '
                                   'STYLE="ROUNDED" COLOR="#5b6b82">' + "".join(lines) + "</TABLE>")
            d.items[rid][1].pop("fillcolor", None)
            if any((0, i, 0) in g.roots for i in idx):
                d.items[rid][1]["penwidth"] = 2.5
        for (_grp, lane), (sid, ks) in self.strips.items():
            users = [r for r, _ in self.strip_users.get(sid, [])]
            ts = sorted({self.t[i] for rid in users for i in self.members.get(rid, ())
                         if self.t[i] is not None and self.lane[i] == lane})
            span = f"t={ts[0] + 1}..{ts[-1] + 1}" if len(ts) > 1 else "every step"
            lines = [f'<TR><TD BGCOLOR="#f3ddb4"><B>◆ {_h(self._lane_title(lane))} weights</B><BR/>'
                     f'{small.format(_h("shared by " + span))}</TD></TR>']
            for k in ks:
                v = g.leaves[k]
                note, fill, font = self._norm_text(("v", k))
                body = f"{_h(v._name)} {small.format(_h(_shape(v.shape)))}"
                if font is not None:
                    body = f'<FONT COLOR="{font}">{body}</FONT>'
                if note:
                    body += "<BR/>" + f'<FONT POINT-SIZE="8" COLOR="{font}">{_h(note)}</FONT>'
                lines.append(f'<TR><TD PORT="p{k}" BGCOLOR="{fill or COLORS["param"]}" ALIGN="LEFT">{body}</TD></TR>')
            d.items[sid][0] = Html('<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="1" CELLPADDING="3" '
                                   'COLOR="#b08a4a">' + "".join(lines) + "</TABLE>")

    def _port_attr(self, rid: str, row) -> str:
        return f' PORT="{html.escape(self._pname(row))}"'       # every lane's header is a port

    def _grads(self) -> None:
        g, d = self.g, self.d
        norms = {}
        for rid, idx in self.members.items():
            if rid.startswith("e"):
                continue
            if rid in self.rows:
                for row, members in self.rows[rid].items():
                    outs = self.exits.get((rid, row)) or {(i, 0) for i in members}
                    vals = [self._node_norm(i) for i in sorted({i for i, _ in outs})]
                    vals = [v for v in vals if v is not None]
                    if vals and row[1] is not None:
                        norms[(rid, row)] = math.sqrt(sum(v * v for v in vals))
                continue
            vals = [self._node_norm(i) for i in idx]
            vals = [v for v in vals if v is not None]
            if vals:
                norms[rid] = math.sqrt(sum(v * v for v in vals))
        for k, v in enumerate(g.leaves):
            if v.grad is None:
                continue
            if f"v{k}" in d.items:
                norms[f"v{k}"] = _norm_of(v.grad._data)
            elif any(k in ks for _, ks in self.strips.values()):
                norms[("v", k)] = _norm_of(v.grad._data)
        self.norms = norms
        if not any(g.nodes[i].grad_norms for i in range(len(g.nodes))):
            msg = ("show_grads=True but no gradient norms were recorded: run backward inside "
                   "`with tr.autograd.record_grad_norms():` first (only parameters' .grad are shown)")
            warnings.warn(msg, UserWarning, stacklevel=4)
            self.notes.append("no gradient norms recorded: run backward inside tr.autograd.record_grad_norms()")
        positive = [x for x in norms.values() if x > 0]
        if not positive:
            return
        lo, hi = min(positive), max(positive)
        self.norm_range = (lo, hi)
        for rid, x in norms.items():
            if not isinstance(rid, str):
                continue
            fill, font = _color(x, lo, hi)
            label, attrs, _ = d.items[rid]
            d.items[rid][0] = f"{label}\n‖grad‖ {x:.2e}"
            attrs.update(fillcolor=fill, fontcolor=font)
        legend = d.cluster("cluster_legend", "‖grad‖ (log scale)", None, style="rounded", color="#b0b0b0",
                           fontsize=10)
        for q in range(3):
            x = lo * (hi / lo) ** (q / 2) if hi > lo else lo
            fill, font = _color(x, lo, hi)
            d.node(f"legend{q}", f"{x:.1e}", (legend,), fillcolor=fill, fontcolor=font, shape="box", style="filled")
        d.edge("legend0", "legend1", style="invis")
        d.edge("legend1", "legend2", style="invis")

    def _time_order(self) -> None:
        """Invisible edges keep time left to right and lanes straight.

        One anchor per step: every item of step ``p`` lies after anchor ``p`` and before anchor ``p+1``.
        Heavy invisible edges join a lane's consecutive steps (so a reverse lane, whose state edges run
        right to left, stays aligned too), and the parameters stand in one column before
        the first step.
        """
        if self.view == "rolled" or not self.has_steps:
            return
        d = self.d
        by_pos, by_lane, first = {}, {}, {}
        for rid, (grp, p, lane) in self.slot.items():
            by_pos.setdefault((grp, p), []).append(rid)
            if rid.startswith(("n", "g", "e")):
                by_lane.setdefault((grp, lane), {}).setdefault(p, rid)   # the first drawn op of the lane at p
                first.setdefault((grp, p), {}).setdefault(lane, rid)
        for (grp, _), lanes in first.items():      # lanes stacked in one order at every step
            if len(self.lanes.get(grp, ())) > 1 or self.tables:
                for rid, (g2, _, lane) in self.slot.items():
                    if g2 == grp:
                        d.items[rid][1]["group"] = self._lane_label(lane) or "steps"
                for lane, rid in lanes.items():   # the first box of a lane at a step names the lane
                    if self.detail != "cell" and rid[0] != "e" and rid not in self.rows:
                        d.items[rid][0] = self._lane_label(lane) + "\n" + d.items[rid][0]
            order = [lanes[ln] for ln in sorted(lanes, key=_lane_key)]
            if len(order) > 1:
                path = d.items[order[0]][2]
                step = next((c for c in path if c.startswith("cluster_step")), None)
                d.same_rank.setdefault(step, []).append(order)
                for a, b in zip(order, order[1:]):
                    d.edge(a, b, style="invis")
        first_anchor = None
        for grp, positions in ({} if self.tables else self.position).items():   # a table is its step: no anchors
            n = len(set(positions.values()))
            for p in range(n):
                items = by_pos.get((grp, p), [])
                if not items:
                    continue
                path = d.items[items[0]][2]
                step = [c for c in path if c.startswith("cluster_step")]
                anchor = d.node(self._id("a", (grp, p)), "", path[:path.index(step[0]) + 1] if step else path,
                                style="invis", shape="point", width=0.01, height=0.01)
                if first_anchor is None and p == 0:
                    first_anchor = anchor
                for rid in items:
                    d.edge(anchor, rid, style="invis", weight=0)
                if p + 1 < n:
                    nxt = self._id("a", (grp, p + 1))
                    for rid in items:
                        d.edge(rid, nxt, style="invis", weight=0)
        for reps in by_lane.values():
            ps = sorted(reps)
            for a, b in zip(ps, ps[1:]):
                d.edge(reps[a], reps[b], style="invis", weight=8)
        if first_anchor is not None:
            for k, is_param in enumerate(self.is_param):
                if is_param and f"v{k}" in d.items:
                    d.edge(first_anchor, f"v{k}", style="invis")

    def build(self) -> _Drawing:
        self._place_nodes()
        rep_v = self._place_leaves()
        ordered = [self.strips[key][0] for key in sorted(self.strips, key=lambda k: (str(k[0]), _lane_key(k[1])))]
        for sid in ordered:                                 # strips in lane order ...
            self.d.items[sid] = self.d.items.pop(sid)
        if len(ordered) > 1:                                # ... held there: one column, chained top to bottom
            self.d.same_rank.setdefault(None, []).append(ordered)
            for a, b in zip(ordered, ordered[1:]):
                self.d.edge(a, b, style="invis")
        for i, k in enumerate(self.fold):                # ops folded into a parameter are drawn as it is
            if k is not None:
                self.rep_n[i] = rep_v[k]
        self._edges(rep_v)
        self._labels()
        self.norms, self.norm_range = {}, None
        if self.show_grads:
            self._grads()
        self._tables()
        self._time_order()
        if any(n.name == "FusedRNN" for n in self.g.nodes) and self.view == "unrolled":
            self.notes.append("a fused layer is drawn as one box: call the layer with unroll=True "
                              "to see the graph unfolded through time")
        if self.view == "rolled" and self.detail == "op" and self.has_steps:
            self.notes.append("the rolled view draws one box per gate (detail='op' is drawn as 'gate')")
        return self.d


def _fused_role(g: _Graph, k: int) -> str:
    """x or a state name (h, c) when leaf ``k`` is an input or initial state of a fused layer, else ''."""
    for i, operand, _ in g.users_v[k]:
        node = g.nodes[i]
        if node.name == "FusedRNN" and operand <= len(node.state_names):
            return "x" if operand == 0 else node.state_names[operand - 1]
    return ""


def _lane_key(lane) -> tuple:
    """Lanes in drawing order, top to bottom: by name, the top layer first, forward above reverse."""
    name, layer, direction = lane
    return (str(name), 1 if layer is None else -layer, direction == "reverse")


def _fused_label(node, scope: dict) -> str:
    """'FusedRNN (fused LSTM)' with layer, directions and T, read from the node's attributes."""
    out_shape = node.out_meta[0][0]
    kind = by_name(node.kind)
    lines = [f"FusedRNN (fused {kind.title if kind is not None else node.kind})"]
    lines.append(" · ".join(x for x in (f"layer {node.layer}",
                                        "bidirectional" if node.num_directions == 2 else None) if x))
    lines.append(f"T={out_shape[0]}  out {_shape(out_shape)}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Public entry point


def _check(view, detail, rankdir, max_steps) -> None:
    if view not in VIEWS:
        raise ValueError(f"view: expected one of {VIEWS}, got {view!r}")
    if detail not in DETAILS:
        raise ValueError(f"detail: expected one of {DETAILS}, got {detail!r}")
    if rankdir not in RANKDIRS:
        raise ValueError(f"rankdir: expected one of {RANKDIRS}, got {rankdir!r}")
    if max_steps is not None:
        if isinstance(max_steps, bool) or not isinstance(max_steps, int):
            raise TypeError(f"max_steps: expected an int or None, got {type(max_steps).__name__}")
        if max_steps < 1:
            raise ValueError(f"max_steps: expected an int >= 1, got {max_steps}")


def to_dot(root, view: str = "unrolled", detail: str = "op", show_values: bool = False, show_grads: bool = False,
           rankdir: str = "LR", max_steps: int | None = DEFAULT_MAX_STEPS, title: str | None = None) -> str:
    """DOT text of the graph that produced ``root`` (a Tensor or a list/tuple of Tensors).

    Args:
        root: output tensor(s); the graph below them is drawn (a leaf alone draws as one node).
        view: ``"unrolled"`` (one cluster per time step) or ``"rolled"`` (one cell per layer and
            direction with a self-loop ``h × T``).
        detail: ``"op"`` (every op), ``"gate"`` (one box per gate of a step) or ``"cell"`` (one box per step).
        show_values: print leaf and root values (or their mean/std).
        show_grads: print gradient norms and colour nodes by them (log scale); run backward inside
            ``tr.autograd.record_grad_norms()`` first.
        rankdir: Graphviz ``rankdir`` (``"LR"``: time runs left to right).
        max_steps: past ``max_steps`` steps (default 12) keep the first ``ceil(k/2)`` and last
            ``floor(k/2)`` steps with an ellipsis between; ``None`` draws every step.
        title: a caption above the picture.

    Example::

        out, h_n = tr.nn.RNN(2, 3)(x, unroll=True)
        text = tr.viz.to_dot([out, h_n], view="unrolled", detail="gate")
    """
    _check(view, detail, rankdir, max_steps)
    roots = _roots(root)
    builder = _Builder(_Graph(roots), view, detail, bool(show_values), bool(show_grads), max_steps)
    drawing = builder.build()
    graph_attrs = {"rankdir": rankdir, "fontname": "Helvetica", "nodesep": 0.18, "ranksep": 0.3,
                   "compound": "true", "newrank": "true"}
    caption = [x for x in [title, *builder.notes] if x]
    if caption:
        graph_attrs.update(label="\n".join(caption), labelloc="t", fontsize=16 if title else 12)
    return drawing.text(graph_attrs)
