"""PyTorch's ``torch.nn.modules`` paths (``tr.nn.modules.rnn.LSTM``, ``...sparse.Embedding``, ...).

Aliases only: every name here is the same class object as ``tr.nn.<Name>``, so programs that list
``torch.nn.modules.rnn.LSTM`` and friends (in ``tr.serialization.safe_globals([...])``, say) port unchanged.
"""

from . import activation, container, dropout, linear, loss, module, normalization, rnn, sparse, transformer
from .activation import GELU, LogSoftmax, MultiheadAttention, ReLU, Sigmoid, SiLU, Softmax, Tanh
from .container import ModuleDict, ModuleList, Sequential
from .dropout import Dropout
from .linear import Identity, Linear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .module import Module
from .normalization import LayerNorm
from .rnn import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNBase, RNNCell
from .sparse import Embedding
from .transformer import (Transformer, TransformerDecoder, TransformerDecoderLayer, TransformerEncoder,
                          TransformerEncoderLayer)
