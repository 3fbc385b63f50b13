"""Recurrent layers: ``RNN``, ``LSTM`` and ``GRU`` — stacked, bidirectional, variable length.

A layer runs its cell over the whole sequence, for each of ``num_layers`` stacked layers and, when
``bidirectional``, a second direction that reads the sequence backward; layer ``k+1`` reads the
concatenated outputs of both directions of layer ``k`` (after dropout, in training). Two paths give
one answer:

- **unrolled** (``layer(x, unroll=True)``): the cell functions of ``cells.py`` step by step, every op a
  graph node tagged ``scope(name=, layer=, direction=, t=, gate=)``, the unfolded graph;
- **fused** (default): one :class:`~.fused.FusedRNN` node per layer (both directions), with a
  hand-written BPTT backward.

Variable lengths (``lengths=`` or a :class:`PackedSequence`) use one algorithm on both paths: a
sequence's state is frozen after its last step (so ``h_n`` is its state at its own last step), the
reverse direction starts from ``h_0`` at each sequence's own last step, outputs past a sequence's end
are zero, and padded steps get zero gradient.
"""

from __future__ import annotations

import math
import numbers
from contextlib import contextmanager
import warnings

import numpy as np

from ...autograd.grad_mode import no_grad
from ...autograd.scope import scope
from ...tensor import Tensor, cat, dropout, empty, stack, tensor, where, zeros
from ..module import Module, Parameter, factory_kwargs
from ..utils.rnn import PackedSequence, _lengths_array, pad_packed_sequence
from .cells import check_input_dtype, check_nonlinearity, check_positive_int, gru_cell, lstm_cell, rnn_cell
from .fused import FusedRNN

GATES = {"rnn_tanh": 1, "rnn_relu": 1, "lstm": 4, "gru": 3}
_state_log = None          # a list while record_states() is active


@contextmanager
def record_states():
    """Inside the block, the unrolled path appends one dict per layer, direction and step:
    ``{"layer": k, "direction": 0 | 1, "t": t (0-based), "h": h_t, "c": c_t or None}``: the states the
    cell computed at step t, before the length mask (``tr.analysis`` takes their gradients: the total
    gradient of each state, zero for columns past their sequence's end)."""
    global _state_log
    prev, _state_log = _state_log, []
    try:
        yield _state_log
    finally:
        _state_log = prev


SCOPE_NAMES = {"rnn_tanh": "rnn", "rnn_relu": "rnn", "lstm": "lstm", "gru": "gru"}


# ------------------------------------------------------------------------------------------------
# The stacked, bidirectional computation on tensors (shared by the modules and gradcheck)


def run_layers(mode: str, x: Tensor, h0: Tensor, c0: Tensor | None, weights, lengths=None,
               dropout_p: float = 0.0, training: bool = False, unroll: bool = False, generator=None):
    """Run a stack of recurrent layers over a time-major sequence.

    Args:
        mode: ``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm"`` or ``"gru"``.
        x: ``(T, B, I)``. h0, c0: ``(L*D, B, H)`` (c0 only for LSTM, else None).
        weights: per layer, per direction, ``(w_ih, w_hh, b_ih, b_hh)`` (biases may be None).
        lengths: None or a ``(B,)`` NumPy int array (each 1..T), already checked.
        dropout_p, training, generator: dropout on the outputs of every layer but the last.
        unroll: True for the step-by-step cell path, False for one fused node per layer.

    Returns:
        ``out (T, B, D*H)``, ``h_n (L*D, B, H)``, ``c_n`` (LSTM, else None).
    """
    D = len(weights[0])
    h_ns, c_ns = [], []
    for k, layer_weights in enumerate(weights):
        h0_k = h0[k * D:(k + 1) * D]
        c0_k = c0[k * D:(k + 1) * D] if c0 is not None else None
        with scope(name=SCOPE_NAMES[mode], layer=k):
            if unroll:
                x, h_n, c_n = _unrolled_layer(mode, x, h0_k, c0_k, layer_weights, lengths, k)
            else:
                x, h_n, c_n = _fused_layer(mode, x, h0_k, c0_k, layer_weights, lengths)
            if dropout_p > 0 and training and k < len(weights) - 1:
                x = dropout(x, dropout_p, training=True, generator=generator)
        h_ns.append(h_n)
        c_ns.append(c_n)
    h_n = h_ns[0] if len(h_ns) == 1 else cat(h_ns, 0)
    c_n = None if c0 is None else c_ns[0] if len(c_ns) == 1 else cat(c_ns, 0)
    return x, h_n, c_n


def _fused_layer(mode, x, h0, c0, layer_weights, lengths):
    """One layer, both directions, as one FusedRNN node."""
    has_bias = layer_weights[0][2] is not None
    flat = [w for ws in layer_weights for w in (ws if has_bias else ws[:2])]
    states = (h0, c0) if mode == "lstm" else (h0,)
    outs = FusedRNN.apply(x, *states, *flat, mode=mode, lengths=lengths, num_directions=len(layer_weights),
                          has_bias=has_bias)
    return outs[0], outs[1], outs[2] if mode == "lstm" else None


def _unrolled_layer(mode, x, h0, c0, layer_weights, lengths, layer: int):
    """One layer, step by step through the cell equations; returns (out, h_n, c_n)."""
    T = x.shape[0]
    masks = None
    if lengths is not None:
        on = np.arange(T)[:, None, None] < lengths[None, :, None]          # (T, B, 1): inside the sequence
        masks = (tensor(on, device=x.device), tensor(on.astype(x.dtype), device=x.device))
    outs, h_ns, c_ns = [], [], []
    for d, (w_ih, w_hh, b_ih, b_hh) in enumerate(layer_weights):
        direction = "forward" if d == 0 else "reverse"
        h = h0[d]
        c = c0[d] if c0 is not None else None
        steps = [None] * T
        for t in (range(T) if d == 0 else range(T - 1, -1, -1)):
            with scope(direction=direction, t=t):
                x_t = x[t]
                if mode == "lstm":
                    h_new, c_new = lstm_cell(x_t, h, c, w_ih, w_hh, b_ih, b_hh)
                elif mode == "gru":
                    h_new, c_new = gru_cell(x_t, h, w_ih, w_hh, b_ih, b_hh), None
                else:
                    h_new, c_new = rnn_cell(x_t, h, w_ih, w_hh, b_ih, b_hh, nonlinearity=mode[4:]), None
                if masks is None:
                    h, c = h_new, c_new
                    steps[t] = h
                else:                                    # past a sequence's end its state is frozen
                    active, keep = masks[0][t], masks[1][t]
                    if c is not None:
                        with scope(gate="c"):
                            c = where(active, c_new, c)
                    with scope(gate="h"):
                        h = where(active, h_new, h)
                        steps[t] = h * keep              # outputs past the end are zero
                if _state_log is not None:
                    _state_log.append({"layer": layer, "direction": d, "t": t, "h": h_new, "c": c_new})
        outs.append(stack(steps, 0))
        h_ns.append(h)
        c_ns.append(c)
    out = outs[0] if len(outs) == 1 else cat(outs, 2)
    return out, stack(h_ns, 0), (stack(c_ns, 0) if c0 is not None else None)


# ------------------------------------------------------------------------------------------------
# Modules


class RNNBase(Module):
    """Parameters, argument checks and the forward shared by :class:`RNN`, :class:`LSTM`, :class:`GRU`."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=None, device=None) -> None:
        super().__init__()
        check_positive_int(input_size, "input_size")
        check_positive_int(hidden_size, "hidden_size")
        check_positive_int(num_layers, "num_layers")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout={dropout} acts between stacked layers only, so with num_layers=1 it does "
                          "nothing", UserWarning, stacklevel=3)
        fk = factory_kwargs(dtype, device)
        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        self.proj_size = 0
        D = 2 if bidirectional else 1
        G = GATES[mode] * hidden_size
        self._flat_weights_names = []
        self._all_weights = []
        for k in range(num_layers):
            layer_in = input_size if k == 0 else hidden_size * D
            for d in range(D):
                sfx = f"_l{k}" + ("_reverse" if d == 1 else "")
                names = [f"weight_ih{sfx}", f"weight_hh{sfx}"] + ([f"bias_ih{sfx}", f"bias_hh{sfx}"] if bias else [])
                shapes = [(G, layer_in), (G, hidden_size), (G,), (G,)]
                for name, shape in zip(names, shapes):
                    setattr(self, name, Parameter(empty(*shape, **fk)))
                self._flat_weights_names.extend(names)
                self._all_weights.append(names)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter ~ U(-1/√H, 1/√H), drawn in registration order (as PyTorch)."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        with no_grad():
            for w in self.parameters():
                w.uniform_(-stdv, stdv)

    def flatten_parameters(self) -> None:
        """Accepted so ported PyTorch code runs; there is no flat weight buffer to compact here."""

    @property
    def all_weights(self) -> list:
        """Per layer and direction, ``[weight_ih, weight_hh, bias_ih, bias_hh]`` (PyTorch's ``all_weights``)."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, name) for name in self._flat_weights_names]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if self.batch_first is not False:
            s += f", batch_first={self.batch_first}"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:
            s += f", bidirectional={self.bidirectional}"
        return s

    def _layer_weights(self) -> list:
        """Per layer, per direction, ``(w_ih, w_hh, b_ih, b_hh)`` (biases None without bias)."""
        D = 2 if self.bidirectional else 1
        per_dir = [tuple(ws) + (None, None) * (not self.bias) for ws in self.all_weights]
        return [per_dir[k * D:(k + 1) * D] for k in range(self.num_layers)]

    # ----------------------------------------------------------------- argument checks
    def _check_state(self, h, name: str, batched: bool, B: int, x_shape: tuple) -> Tensor:
        if not isinstance(h, Tensor):
            raise TypeError(f"{name}: expected a Tensor, got {type(h).__name__}")
        LD = self.num_layers * (2 if self.bidirectional else 1)
        want = (LD, B, self.hidden_size) if batched else (LD, self.hidden_size)
        if tuple(h.shape) != want:
            what = "(num_layers * num_directions, batch, hidden_size)" if batched else \
                "(num_layers * num_directions, hidden_size) for unbatched input"
            raise ValueError(f"{name}: expected shape {want} {what} for input of shape {x_shape}, "
                             f"got {tuple(h.shape)}")
        check_input_dtype(h, self.weight_ih_l0, name)
        return h if batched else h.unsqueeze(1)

    def _states(self, hx, batched: bool, B: int, x_shape: tuple, like: Tensor):
        """(h0, c0) as ``(L*D, B, H)`` tensors (zeros when ``hx`` is None); c0 None unless LSTM."""
        is_lstm = self.mode == "lstm"
        if hx is None:
            LD = self.num_layers * (2 if self.bidirectional else 1)
            z = zeros(LD, B, self.hidden_size, dtype=like.dtype, device=like.device)
            return z, (z if is_lstm else None)
        if is_lstm:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"hx: LSTM expects a tuple (h_0, c_0) of two Tensors, got {type(hx).__name__}")
            return (self._check_state(hx[0], "hx[0] (h_0)", batched, B, x_shape),
                    self._check_state(hx[1], "hx[1] (c_0)", batched, B, x_shape))
        if not isinstance(hx, Tensor):
            raise TypeError(f"hx: {type(self).__name__} expects a Tensor h_0, got {type(hx).__name__}")
        return self._check_state(hx, "hx", batched, B, x_shape), None

    def _check_lengths(self, lengths, T: int, B: int, x_shape: tuple):
        if lengths is None:
            return None
        arr = _lengths_array(lengths)
        if arr.shape[0] != B:
            raise ValueError(f"lengths: expected {B} lengths (one per sequence of input {x_shape}), "
                             f"got {arr.shape[0]}")
        if arr.min() < 1 or arr.max() > T:
            raise ValueError(f"lengths: expected every length in 1..{T} (the sequence length of input "
                             f"{x_shape}), got {arr.tolist()}")
        return arr

    # ----------------------------------------------------------------- forward
    def forward(self, input, hx=None, *, lengths=None, unroll: bool = False, generator=None):
        """Run the stack over a sequence; see the class docstring for shapes."""
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError("lengths: a PackedSequence carries its own lengths; do not pass lengths= too")
            x, lens = pad_packed_sequence(input)
            lengths = lens.numpy()
            batched = True
        else:
            if not isinstance(input, Tensor):
                raise TypeError(f"input: expected a Tensor or a PackedSequence, got {type(input).__name__}")
            if input.ndim not in (2, 3):
                raise ValueError(f"input: expected a 3-D (batched) or 2-D (unbatched) tensor, got shape "
                                 f"{tuple(input.shape)}")
            batched = input.ndim == 3
            x = input if not batched or not self.batch_first else input.transpose(0, 1)
            if not batched:
                x = x.unsqueeze(1)
        x_shape = tuple(input.data.shape if packed else input.shape)
        check_input_dtype(x, self.weight_ih_l0)
        if x.shape[-1] != self.input_size:
            raise ValueError(f"input: expected the last dimension (features) to be input_size={self.input_size}, "
                             f"got input of shape {x_shape}")
        if x.shape[0] == 0:
            raise ValueError(f"input: expected at least one time step, got shape {x_shape}")
        T, B = x.shape[0], x.shape[1]
        lengths = self._check_lengths(lengths, T, B, x_shape)
        h0, c0 = self._states(hx, batched, B, x_shape, x)

        out, h_n, c_n = run_layers(self.mode, x, h0, c0, self._layer_weights(), lengths, self.dropout,
                                   self.training, unroll, generator)

        if packed:
            out = _pack_like(out, input)
        elif not batched:
            out, h_n = out.squeeze(1), h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        elif self.batch_first:
            out = out.transpose(0, 1)
        return (out, (h_n, c_n)) if self.mode == "lstm" else (out, h_n)


def _pack_like(padded: Tensor, like: PackedSequence) -> PackedSequence:
    """Pack a time-major ``(T, B, *)`` output with the layout (batch sizes, order) of ``like``."""
    bs = like.batch_sizes.numpy().astype(np.int64)
    B = padded.shape[1]
    order = np.arange(B) if like.sorted_indices is None else like.sorted_indices.numpy().astype(np.int64)
    rows = np.concatenate([t * B + order[:n] for t, n in enumerate(bs)])
    data = padded.reshape(padded.shape[0] * B, *padded.shape[2:])[tensor(rows, device=padded.device)]
    return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)


_SHAPES_DOC = """
    Shape (N = batch, L = sequence length, D = 2 if bidirectional else 1, H_out = hidden_size):
        - input: ``(L, N, H_in)``, ``(N, L, H_in)`` with ``batch_first``, ``(L, H_in)`` unbatched, or a
          :class:`~tinygrad_rnn.nn.utils.rnn.PackedSequence`.
        - {state}: ``(D * num_layers, N, H_out)`` (``(D * num_layers, H_out)`` unbatched); zeros if omitted.
        - output: ``(L, N, D * H_out)`` (``(N, L, D * H_out)`` with ``batch_first``, a ``PackedSequence`` for
          packed input): the last layer's hidden state at every step, both directions concatenated.
        - {state_n}: the state after the last step, per layer and direction, ordered ``layer0 forward,
          layer0 reverse, layer1 forward, ...``; with lengths, each sequence's state at its own end.

    Call: ``layer(input, hx=None, *, lengths=None, unroll=False, generator=None)``. ``lengths`` (ints in
    1..L, any order) marks right-padded input; ``unroll=True`` builds the per-step graph of the cell
    equations instead of one fused node per layer (same numbers); ``generator`` draws the dropout masks
    (default: the global generator).

    Args:
        input_size: features of the input. hidden_size: features of the hidden state.
        num_layers: stacked layers (layer k+1 reads layer k's output). Default: 1.{extra_arg}
        bias: if ``False``, no ``b_ih``/``b_hh``. Default: ``True``.
        batch_first: input and output as ``(N, L, *)``; not ``h_n``. Default: ``False``.
        dropout: probability of zeroing each output of every layer but the last, in training. Default: 0.
        bidirectional: add a reverse direction per layer. Default: ``False``.
        dtype, device: of the parameters.

    Attributes:
        weight_ih_l[k]: ``({G}*hidden_size, input_size)`` for k = 0, else ``({G}*hidden_size, D*hidden_size)``.
        weight_hh_l[k]: ``({G}*hidden_size, hidden_size)``. bias_ih_l[k], bias_hh_l[k]: ``({G}*hidden_size,)``.
        ``*_reverse``: the same for the reverse direction. All ~ U(-√k, √k), k = 1/hidden_size.
"""


class RNN(RNNBase):
    r"""A stack of Elman RNN layers: for each step t, :math:`h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`
    (``nonlinearity="relu"``: ReLU). It computes the same as this loop (one layer, forward direction)::

        def rnn(x, h):                              # x (T, B, I), h (B, H)
            out = []
            for t in range(x.shape[0]):
                h = tanh(x[t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh)
                out.append(h)
            return stack(out), h
    {shapes}
    Example::

        >>> rnn = tr.nn.RNN(10, 20, num_layers=2)
        >>> output, h_n = rnn(tr.randn(5, 3, 10), tr.zeros(2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=None, device=None) -> None:
        check_nonlinearity(nonlinearity)
        super().__init__(f"rnn_{nonlinearity}", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, dtype=dtype, device=device)
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    r"""A stack of LSTM layers. For each step t (gate order i, f, g, o)::

        i_t = σ(W_ii x_t + b_ii + W_hi h_{t-1} + b_hi)      f_t = σ(W_if x_t + b_if + W_hf h_{t-1} + b_hf)
        g_t = tanh(W_ig x_t + b_ig + W_hg h_{t-1} + b_hg)   o_t = σ(W_io x_t + b_io + W_ho h_{t-1} + b_ho)
        c_t = f_t * c_{t-1} + i_t * g_t                     h_t = o_t * tanh(c_t)

    It computes the same as this loop (one layer, forward direction)::

        def lstm(x, h, c):                          # x (T, B, I), h and c (B, H)
            out = []
            for t in range(x.shape[0]):
                z = x[t] @ W_ih.T + b_ih + h @ W_hh.T + b_hh
                i, f, g, o = sigmoid(z[:, :H]), sigmoid(z[:, H:2*H]), tanh(z[:, 2*H:3*H]), sigmoid(z[:, 3*H:])
                c = f * c + i * g
                h = o * tanh(c)
                out.append(h)
            return stack(out), (h, c)
    {shapes}
    Example::

        >>> lstm = tr.nn.LSTM(10, 20, num_layers=2, bidirectional=True)
        >>> output, (h_n, c_n) = lstm(tr.randn(5, 3, 10))       # output (5, 3, 40), h_n (4, 3, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=None, device=None) -> None:
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype=dtype, device=device)


class GRU(RNNBase):
    r"""A stack of GRU layers. For each step t (gate order r, z, n)::

        r_t = σ(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z_t = σ(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n_t = tanh(W_in x_t + b_in + r_t * (W_hn h_{t-1} + b_hn))
        h_t = (1 - z_t) * n_t + z_t * h_{t-1}

    It computes the same as this loop (one layer, forward direction)::

        def gru(x, h):                              # x (T, B, I), h (B, H)
            out = []
            for t in range(x.shape[0]):
                gi, gh = x[t] @ W_ih.T + b_ih, h @ W_hh.T + b_hh
                r = sigmoid(gi[:, :H] + gh[:, :H])
                z = sigmoid(gi[:, H:2*H] + gh[:, H:2*H])
                n = tanh(gi[:, 2*H:] + r * gh[:, 2*H:])
                h = (1 - z) * n + z * h
                out.append(h)
            return stack(out), h
    {shapes}
    Example::

        >>> gru = tr.nn.GRU(10, 20, batch_first=True)
        >>> output, h_n = gru(tr.randn(3, 5, 10))                # output (3, 5, 20), h_n (1, 3, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 dtype=None, device=None) -> None:
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype=dtype, device=device)


def _fill_doc(cls, **kw) -> None:
    if cls.__doc__:                       # None under python -OO
        cls.__doc__ = cls.__doc__.replace("{shapes}", _SHAPES_DOC.format(**kw))


_fill_doc(RNN, state="hx (h_0)", state_n="h_n", G="",
          extra_arg='\n        nonlinearity: ``"tanh"`` or ``"relu"``. Default: ``"tanh"``.')
_fill_doc(LSTM, state="hx = (h_0, c_0)", state_n="(h_n, c_n)", G="4", extra_arg="")
_fill_doc(GRU, state="hx (h_0)", state_n="h_n", G="3", extra_arg="")
