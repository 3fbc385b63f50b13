"""The LSTM (gate order i, f, g, o; state (h, c)): ``c' = f·c + i·g``, ``h' = o·tanh(c')``."""

from __future__ import annotations

from ..cells import LSTMCell, lstm_cell
from . import CellKind, register

LSTM = register(CellKind(
    name="lstm", cell=LSTMCell, cell_kwargs={}, gates=("i", "f", "g", "o"), sigmoid_gates=("i", "f", "o"),
    states=("h", "c"), scope="lstm", title="LSTM",
    gate_labels={"proj": "W·x + W·h + b", "i": "i  input gate σ", "f": "f  forget gate σ",
                 "g": "g  candidate tanh", "o": "o  output gate σ", "c": "c' = f·c + i·g", "h": "h' = o·tanh(c')"},
    cell_fn=lstm_cell, fused="lstm"))
