"""Pictures from DOT text: the ``graphviz`` package, the ``dot`` binary, and a one-call demo.

- :func:`draw_graph` returns a ``graphviz.Digraph`` (shows inline in Jupyter); the ``graphviz`` Python
  package is imported only there.
- :func:`render` writes SVG/PNG/PDF with the ``dot`` binary (``subprocess``). Without ``dot`` it writes
  the ``.dot`` text next to the requested path and raises :class:`GraphvizNotFoundError`, whose message
  says how to install Graphviz.
- :func:`graph_command` builds a small recurrent layer, runs forward and backward on the unrolled path
  and renders it: what ``tinygrad-rnn graph`` on the command line does.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from .dot import DEFAULT_MAX_STEPS, to_dot

FORMATS = ("svg", "png", "pdf", "jpg", "dot")
SUFFIXES = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".jpg": "jpg", ".jpeg": "jpg", ".dot": "dot", ".gv": "dot"}
INSTALL = ("install Graphviz to render pictures: `apt-get install graphviz` (Debian/Ubuntu), "
           "`brew install graphviz` (macOS), `conda install graphviz`, or see https://graphviz.org/download/")


class RenderError(RuntimeError):
    """Graphviz ``dot`` failed or ran past its time limit (a one-line message)."""


class GraphvizNotFoundError(RuntimeError):
    """The ``dot`` binary is missing; the DOT text was written to ``dot_path`` instead."""

    def __init__(self, message: str, dot_path: str | None = None) -> None:
        super().__init__(message)
        self.dot_path = dot_path


def dot_binary() -> str | None:
    """Path of the Graphviz ``dot`` executable, or None."""
    return shutil.which("dot")


def draw_graph(root, view: str = "unrolled", detail: str = "op", show_values: bool = False,
               show_grads: bool = False, rankdir: str = "LR", max_steps: int | None = DEFAULT_MAX_STEPS,
               title: str | None = None):
    """The graph below ``root`` as a ``graphviz.Digraph`` (arguments as :func:`tinygrad_rnn.viz.to_dot`)."""
    try:
        import graphviz
    except ImportError as e:
        raise ImportError("draw_graph needs the `graphviz` Python package: `pip install graphviz` (and the "
                          "Graphviz binaries to render: `apt-get install graphviz` or `brew install graphviz`); "
                          "to_dot() returns the DOT text without it") from e
    text = to_dot(root, view=view, detail=detail, show_values=show_values, show_grads=show_grads,
                  rankdir=rankdir, max_steps=max_steps, title=title)
    return graphviz.Source(text) if not hasattr(graphviz, "Digraph") else _digraph(graphviz, text)


def _digraph(graphviz, text: str):
    """A ``graphviz.Digraph`` whose body is the DOT text's statements."""
    lines = text.splitlines()
    g = graphviz.Digraph("G")
    g.body = [line + "\n" for line in lines[1:-1]]
    return g


def format_for(path: str, format: str | None = None) -> str:
    """The picture format of ``path``: from its suffix (``.dot``/``.gv``: DOT text), checked against ``format``.

    Raises ValueError for an unknown suffix, an unknown format, or a format that contradicts the suffix.
    """
    if format is not None:
        if not isinstance(format, str):
            raise TypeError(f"format: expected a str, got {type(format).__name__}")
        format = {"jpeg": "jpg", "gv": "dot"}.get(format.lower(), format.lower())
        if format not in FORMATS:
            raise ValueError(f"format: expected one of {FORMATS}, got {format!r}")
    ext = os.path.splitext(path)[1].lower()
    if not ext:
        return format or "svg"
    if ext not in SUFFIXES:
        raise ValueError(f"path: expected a file name ending in one of {tuple(SUFFIXES)}, got {path!r}")
    if format is not None and SUFFIXES[ext] != format:
        raise ValueError(f"format: {format!r} contradicts the file name {os.path.basename(path)!r} "
                         f"(which asks for {SUFFIXES[ext]!r}); drop the format or change the suffix")
    return SUFFIXES[ext]


def render(root, path: str, format: str | None = None, view: str = "unrolled", detail: str = "op",
           show_values: bool = False, show_grads: bool = False, rankdir: str = "LR",
           max_steps: int | None = DEFAULT_MAX_STEPS, title: str | None = None, timeout: float = 60.0) -> str:
    """Write the picture of the graph below ``root`` to ``path``; return the path written.

    The format follows the suffix: ``.svg``, ``.png``, ``.pdf``, ``.jpg``/``.jpeg`` (rendered by Graphviz
    ``dot``) or ``.dot``/``.gv`` (the DOT text, no Graphviz needed); ``format`` may say the same, or name
    the format of a path without a suffix (default svg). Without the ``dot`` binary the DOT text goes to
    ``path`` with the extension ``.dot`` and :class:`GraphvizNotFoundError` says how to install Graphviz;
    ``dot`` failing or running past ``timeout`` seconds raises :class:`RenderError` (one line).
    Other arguments as :func:`tinygrad_rnn.viz.to_dot`.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    format = format_for(path, format)
    text = to_dot(root, view=view, detail=detail, show_values=show_values, show_grads=show_grads,
                  rankdir=rankdir, max_steps=max_steps, title=title)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    if format == "dot":
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path
    exe = dot_binary()
    if exe is None:
        dot_path = os.path.splitext(path)[0] + ".dot"
        with open(dot_path, "w", encoding="utf-8") as f:
            f.write(text)
        raise GraphvizNotFoundError(f"Graphviz `dot` was not found, so the DOT text was written to {dot_path}; "
                                    f"{INSTALL}", dot_path)
    try:
        proc = subprocess.run([exe, f"-T{format}", "-o", path], input=text.encode("utf-8"), capture_output=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RenderError(f"Graphviz `dot` ran past {timeout:g} s on this graph: draw fewer steps (max_steps), "
                          f"a coarser detail ('cell'), or write the DOT text (a .dot path)") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise RenderError(f"Graphviz `dot -T{format}` failed (exit {proc.returncode})"
                          + (f": {err[-1].strip()}" if err else ""))
    return path


def graph_command(cell: str = "lstm", steps: int = 4, layers: int = 1, bidirectional: bool = False,
                  view: str = "unrolled", detail: str = "gate", format: str | None = None, out: str = "graph.svg",
                  max_steps: int | None = DEFAULT_MAX_STEPS, hidden_size: int = 3, input_size: int = 2,
                  show_grads: bool = True, seed: int = 0) -> str:
    """Build a small ``nn.RNN/LSTM/GRU``, run it unrolled forward and backward, render its graph to ``out``.

    The loss is ``output.pow(2).mean()``; backward runs inside ``record_grad_norms()`` so the picture
    shows gradient norms. Past ``max_steps`` steps (default 12; None: all) the middle steps are one
    ellipsis. The format follows ``out``'s suffix (``format`` may only agree with it). Returns the path
    written (see :func:`render` for the missing-``dot`` case and :class:`RenderError`).
    """
    from .. import autograd
    from ..nn import Recurrent
    from ..nn.recurrent.kinds import REGISTRY, by_scope
    from ..random import manual_seed
    from ..tensor import randn

    kind = by_scope(cell) if isinstance(cell, str) else None
    if kind is None:
        raise ValueError(f"cell: expected one of {tuple(dict.fromkeys(k.scope for k in REGISTRY.values()))}, "
                         f"got {cell!r}")
    for arg, value in (("steps", steps), ("layers", layers), ("hidden_size", hidden_size),
                       ("input_size", input_size)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{arg}: expected an int, got {type(value).__name__}")
        if value < 1:
            raise ValueError(f"{arg}: expected an int >= 1, got {value}")
    format = format_for(out, format)                   # a bad suffix fails before any work
    manual_seed(seed)
    model = Recurrent(kind.cell, input_size, hidden_size, num_layers=layers, bidirectional=bidirectional,
                      **kind.cell_kwargs)
    x = randn(steps, 1, input_size)
    output, state = model(x, unroll=True)
    with autograd.record_grad_norms():
        output.pow(2).mean().backward()
    roots = [output] + (list(state) if isinstance(state, tuple) else [state])
    title = (f"{kind.title}, T={steps}, {layers} layer{'s' if layers > 1 else ''}"
             f"{', bidirectional' if bidirectional else ''} — {view}, detail={detail}")
    return render(roots, out, format=format, view=view, detail=detail, show_grads=show_grads,
                  max_steps=max_steps, title=title)
