"""Make the computation-graph pictures in docs/figures/graphs/ from the library (needs Graphviz `dot`).

    python docs/make_graph_figures.py

For each of RNN, LSTM and GRU: the unrolled graph (one cluster per time step, gate boxes, gradient
norms coloured on a log scale) and the rolled recurrence (one cell with the self-loop "h × T"); plus a
stacked bidirectional LSTM (one table per step, a row per lane and state), a 20-step GRU whose middle
steps are elided (the default past 12 steps), and the small LSTM picture the README shows. Each
picture is written as SVG and PNG.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tinygrad_rnn as tr  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "figures", "graphs")
NAMES = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


def run(cell: str, steps: int, layers: int = 1, bidirectional: bool = False) -> list:
    """Forward and backward through a small unrolled layer; returns the roots [output, h_n(, c_n)]."""
    tr.manual_seed(0)
    layer = {"rnn": tr.nn.RNN, "lstm": tr.nn.LSTM, "gru": tr.nn.GRU}[cell](
        2, 3, num_layers=layers, bidirectional=bidirectional)
    out, state = layer(tr.randn(steps, 1, 2), unroll=True)
    with tr.autograd.record_grad_norms():
        out.pow(2).mean().backward()
    return [out] + (list(state) if isinstance(state, tuple) else [state])


def write(roots: list, name: str, **kwargs) -> None:
    for fmt in ("svg", "png"):
        path = tr.viz.render(roots, os.path.join(OUT, f"{name}.{fmt}"), format=fmt, **kwargs)
        print("wrote", os.path.relpath(path))


def main() -> None:
    os.makedirs(OUT, exist_ok=True)
    T = 4
    for cell, title in NAMES.items():
        roots = run(cell, T)
        write(roots, f"{cell}_unrolled", view="unrolled", detail="gate", show_grads=True,
              title=f"{title} unrolled over T={T} steps (gates; colour = gradient norm, log scale)")
        write(roots, f"{cell}_rolled", view="rolled", detail="cell", show_grads=True,
              title=f"{title} rolled: one cell, the state fed back T={T} times")
    write(run("lstm", 3, layers=2, bidirectional=True), "lstm_stacked_bidirectional", view="unrolled",
          detail="cell", show_grads=True, title="LSTM, 2 layers, bidirectional, T=3 (each step one table: a row per "
                                               "lane and state)")
    write(run("gru", 20), "gru_max_steps", view="unrolled", detail="cell", show_grads=True,
          title="GRU over T=20 steps: past 12 steps the middle is elided")
    write(run("lstm", 3), "lstm_readme", view="unrolled", detail="gate", title="LSTM unrolled over T=3 steps")

if __name__ == "__main__":
    main()
