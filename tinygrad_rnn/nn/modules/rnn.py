"""``torch.nn.modules.rnn``: the recurrent layers and cells (aliases of ``tr.nn``'s)."""

from ..recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell

__all__ = ["GRU", "GRUCell", "LSTM", "LSTMCell", "RNN", "RNNBase", "RNNCell"]
