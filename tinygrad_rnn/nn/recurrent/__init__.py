"""Recurrent cells and layers: ``cells`` (the equations), ``kinds`` (one description per built-in cell
kind, the registry), ``layers`` (``Recurrent``: stacking, directions, lengths; ``RNN``/``LSTM``/``GRU``),
``fused`` (the whole-sequence NumPy kernels) and ``cuda`` (the raw CUDA loops)."""

from .cells import GRUCell, LSTMCell, LSTMPCell, RNNCell, gru_cell, lstm_cell, rnn_cell
from .kinds import REGISTRY, CellKind, get_kind, kind_of
from .layers import GRU, LSTM, RNN, Recurrent, RNNBase

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "LSTMPCell", "REGISTRY", "RNN", "RNNBase", "RNNCell", "CellKind",
           "Recurrent", "get_kind", "gru_cell", "kind_of", "lstm_cell", "rnn_cell"]
