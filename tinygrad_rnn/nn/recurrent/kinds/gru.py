"""The GRU (gate order r, z, n): ``n = tanh(W_in x + b_in + r·(W_hn h + b_hn))``, ``h' = (1-z)·n + z·h``."""

from __future__ import annotations

from ..cells import GRUCell, gru_cell
from . import CellKind, register

GRU = register(CellKind(
    name="gru", cell=GRUCell, cell_kwargs={}, gates=("r", "z", "n"), sigmoid_gates=("r", "z"),
    states=("h",), scope="gru", title="GRU",
    gate_labels={"proj": "W·x + b, W·h + b", "r": "r  reset gate σ", "z": "z  update gate σ",
                 "n": "n  new gate tanh", "h": "h' = (1-z)·n + z·h"},
    cell_fn=gru_cell, recurrent_bias_gates=("n",), fused="gru"))
