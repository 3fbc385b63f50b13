"""The explorer: one self-contained HTML page of interactive views over recorded runs.

    from tinygrad_rnn.app.explore import collect
    data = collect(quick=True)            # trains small models (seconds); the default takes a few minutes
    page = tr.viz.explorer(data)
    page.save("explore.html")             # opens from file://, no network
    page                                  # in Jupyter: the same page inline (an iframe with srcdoc)

The page is built from hand-written JavaScript and CSS shipped beside this module
(``explorer_assets/``) and the data as JSON, all inline: no CDN, no request leaves the file. The views
(each shown when its section is in ``data``): ``hidden`` (the state vector at step t of every cell),
``gradients`` (‖∂L/∂h_t‖ at init and after training, log scale, with the vanilla RNN's σ_max(W_hh)
prediction), ``lstm`` (i, f, g, o, c_t at step t), ``seq2seq`` (encoder states, context vector,
decoder outputs, attention weights), ``memory`` (recall accuracy and ‖∂L/∂h_1‖ per cell, T and seed)
and ``graph`` (an SVG of the unrolled graph whose step clusters move every view). This module only
lays out what it is given; the application layer records the runs.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

SECTIONS = ("meta", "hidden", "gradients", "lstm", "seq2seq", "memory", "graph")
ASSETS = Path(__file__).with_name("explorer_assets")
TITLE = "tinygrad-rnn explorer: see recurrent networks move"


def _asset(name: str) -> str:
    return (ASSETS / name).read_text(encoding="utf-8")


def _check(data) -> None:
    if not isinstance(data, dict):
        raise TypeError(f"data: expected a dict of sections {SECTIONS}, got {type(data).__name__}")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ValueError(f"data: expected sections among {SECTIONS}, got unknown {unknown}")
    for key in ("hidden", "gradients", "memory"):
        if key in data and data[key] is not None and not isinstance(data[key], dict):
            raise TypeError(f"data[{key!r}]: expected a dict or None, got {type(data[key]).__name__}")
    graph = data.get("graph")
    if graph is not None and graph.get("svg") is not None and not str(graph["svg"]).lstrip().startswith("<svg"):
        raise ValueError("data['graph']['svg']: expected an <svg> element (Graphviz output without its prolog), "
                         f"got text starting {str(graph['svg'])[:30]!r}")


def _json_for_script(data: dict) -> str:
    """JSON safe inside ``<script type="application/json">``: every ``<`` is written ``\\u003c`` (still the same
    JSON), so no ``</script>`` or ``<!--`` in the data can end the element."""
    text = json.dumps(data, allow_nan=False, separators=(",", ":"), default=_default)
    return text.replace("<", "\\u003c")


def _default(obj):
    if hasattr(obj, "tolist"):          # NumPy arrays and scalars
        return obj.tolist()
    raise TypeError(f"data: cannot write {type(obj).__name__} as JSON")


def _finite(obj):
    """Non-finite floats (float32 underflow gives 0, overflow inf) become ``None`` (JSON ``null``)."""
    if isinstance(obj, float):
        return obj if obj == obj and obj not in (float("inf"), float("-inf")) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "tolist"):
        return _finite(obj.tolist())
    return obj


def build_page(data: dict, title: str = TITLE) -> str:
    """The whole page as one HTML string (JavaScript, CSS and data inline)."""
    _check(data)
    payload = _json_for_script(_finite(data))
    return "\n".join([
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # nothing may be fetched: the page's own policy forbids every origin, inline code only
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:\">",
        f"<title>{html.escape(title)}</title>", f"<style>\n{_asset('explorer.css')}\n</style>", "</head>",
        "<body>", f'<script type="application/json" id="explorer-data">{payload}</script>',
        f'<div id="app" data-title="{html.escape(title, quote=True)}"></div>',
        f"<script>\n{_asset('explorer.js')}\n</script>", "</body>", "</html>", ""])


class Explorer:
    """The page for some recorded data: ``html`` (the text), :meth:`save`, and ``_repr_html_`` for Jupyter."""

    def __init__(self, data: dict, title: str = TITLE, height: int = 900) -> None:
        if isinstance(height, bool) or not isinstance(height, int) or height < 100:
            raise ValueError(f"height: expected an int >= 100 (pixels), got {height!r}")
        self.data = data
        self.title = title
        self.height = height
        self.html = build_page(data, title)

    def save(self, path) -> str:
        """Write the page to ``path`` (atomically: a temporary file, then rename); return the path."""
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path: expected a str or os.PathLike, got {type(path).__name__}")
        path = os.fspath(path)
        tmp = f"{path}.tmp{os.getpid()}"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(self.html)
        os.replace(tmp, path)
        return path

    def _repr_html_(self) -> str:
        return (f'<iframe srcdoc="{html.escape(self.html, quote=True)}" style="width:100%;height:{self.height}px;'
                f'border:1px solid #ccc" sandbox="allow-scripts" title="{html.escape(self.title, quote=True)}">'
                "</iframe>")

    def __repr__(self) -> str:
        views = [k for k in SECTIONS[1:] if self.data.get(k)]
        return f"Explorer(views={views}, size={len(self.html.encode('utf-8'))} bytes)"


def explorer(data: dict, title: str = TITLE, height: int = 900) -> Explorer:
    """The interactive page for ``data`` (see the module docstring); ``tinygrad-rnn explore`` makes ``data``.

    Args:
        data: sections among ``meta, hidden, gradients, lstm, seq2seq, memory, graph`` (missing ones
            are left out of the page), as ``tinygrad_rnn.app.explore.collect()`` returns them.
        title: the page's title.
        height: the iframe's height in a notebook, in pixels.
    """
    return Explorer(data, title, height)
