"""Recurrent cells and layers: ``cells`` (the equations), ``layers`` (stacking, directions, lengths),
``fused`` (the whole-sequence kernels) and ``cuda`` (their CuPy twins)."""

from .cells import GRUCell, LSTMCell, RNNCell, gru_cell, lstm_cell, rnn_cell
from .layers import GRU, LSTM, RNN, RNNBase

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell", "gru_cell", "lstm_cell", "rnn_cell"]
