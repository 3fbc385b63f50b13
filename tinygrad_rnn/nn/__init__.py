"""Neural-network layers, losses and utilities with PyTorch's names (``tr.nn``)."""

from .module import Module, Parameter
from . import functional, init
from .containers import ModuleDict, ModuleList, Sequential
from .linear import Dropout, Embedding, Identity, Linear, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .flatten import Flatten, Unflatten
from .lazy import LazyLinear
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from . import utils
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, Recurrent, RNNCell
from .attention import BahdanauAttention, LuongAttention
from .seq2seq import Decoder, Encoder, ScheduledSampling, Seq2Seq, beam_search, greedy_decode
from .normalization import LayerNorm
from .activation import GELU, SiLU
from .transformer import (MultiheadAttention, Transformer, TransformerDecoder, TransformerDecoderLayer,
                          TransformerEncoder, TransformerEncoderLayer)
from .linear_recurrent import LRU, LRUCell, MinGRU, MinGRUCell, MinLSTM, MinLSTMCell
from . import modules
