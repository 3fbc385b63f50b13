"""The Elman RNN, tanh and ReLU: ``h' = act(W_ih x + b_ih + W_hh h + b_hh)``."""

from __future__ import annotations

from ..cells import RNNCell, rnn_cell
from . import CellKind, register


for _act in ("tanh", "relu"):
    register(CellKind(
        name=f"rnn_{_act}", cell=RNNCell, cell_kwargs={"nonlinearity": _act}, gates=("h",), sigmoid_gates=(),
        states=("h",), scope="rnn", title="RNN" if _act == "tanh" else "RNN (ReLU)",
        gate_labels={"proj": "W·x + W·h + b", "h": f"h' = {_act}(·)"}, cell_fn=rnn_cell, fused="rnn"))
