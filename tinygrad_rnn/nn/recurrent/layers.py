"""Recurrent layers: ``Recurrent`` (any cell), and ``RNN``, ``LSTM``, ``GRU`` — its front doors.

:class:`Recurrent` runs a cell over the whole sequence, for each of ``num_layers`` stacked layers and,
when ``bidirectional``, a second direction that reads the sequence backward; layer ``k+1`` reads the
concatenated outputs of both directions of layer ``k`` (after dropout, in training). Two paths give
one answer:

- **unrolled** (``layer(x, unroll=True)``, and always for a cell kind that is not registered): the
  cell module called step by step, every op a graph node tagged ``scope(name=, layer=, direction=,
  t=, gate=)``, the unfolded graph (a built-in cell runs its unchecked step, ``cells.unchecked_step``);
- **fused** (default for a registered kind, see ``kinds/``): one ``FusedRNN`` node (:func:`~.fused.fused_rnn`) per
  layer (both directions), with a hand-written BPTT backward.

Arguments are validated once, in :meth:`Recurrent.forward` (input, ``hx``, ``lengths``): the fused
node (:func:`~.fused._fused_rnn`) and the built-in cells' steps trust what it checked and built.

Variable lengths (``lengths=`` or a :class:`PackedSequence`) use one algorithm on both paths and for
every cell: a sequence's state is frozen after its last step (so ``h_n`` is its state at its own last
step), the reverse direction starts from ``h_0`` at each sequence's own last step, outputs past a
sequence's end are zero, and padded steps get zero gradient.
"""

from __future__ import annotations

import numbers
import warnings
from contextlib import contextmanager

import numpy as np

from ...autograd.grad_mode import no_grad
from ...autograd.scope import scope
from ...tensor import Tensor, cat, dropout, stack, tensor, where, zeros
from ..module import Module
from ..utils.rnn import PackedSequence, _lengths_array, pad_packed_sequence
from . import recording
from .cells import check_input_dtype, check_nonlinearity, check_positive_int, check_proj_size, unchecked_step
from .fused import _fused_rnn, loop_for
from .kinds import CellKind, get_kind, kind_of

_local_log = []            # the lists of record_states() blocks in force (innermost last)


@contextmanager
def record_states():
    """Inside the block, the unrolled path appends one dict per layer, direction and step:
    ``{"layer": k, "direction": 0 | 1, "t": t (0-based), "states": (h_t, ...), "names": ("h", ...),
    "h": h_t, "c": c_t or None}``: the states the cell returned at step t, before the length mask."""
    log = []
    _local_log.append(log)
    try:
        yield log
    finally:
        _local_log.remove(log)


def _state_names(cell: type, kind: CellKind | None, n: int) -> tuple:
    """Names of a cell's ``n`` state elements: the kind's, the cell's ``state_names``, or h, s1, s2..."""
    if kind is not None:
        return kind.states
    names = getattr(cell, "state_names", None)
    if isinstance(names, (tuple, list)) and len(names) == n and all(isinstance(x, str) for x in names):
        return tuple(names)
    return ("h",) + tuple(f"s{k}" for k in range(1, n))


# ------------------------------------------------------------------------------------------------
# The stacked, bidirectional computation on tensors (shared by the modules and gradcheck)


def run_layers(mode, x: Tensor, h0, c0, weights, lengths=None, dropout_p: float = 0.0, training: bool = False,
               unroll: bool = False, generator=None):
    """Run a stack of recurrent layers of a registered kind over a time-major sequence (functional form).

    Args:
        mode: a registered kind's name (``"rnn_tanh"``, ``"rnn_relu"``, ``"lstm"``, ``"gru"``) or the kind.
        x: ``(T, B, I)``. h0, c0: ``(L*D, B, H)`` (c0 only for a kind with a second state, else None).
        weights: per layer, per direction, ``(w_ih, w_hh, b_ih, b_hh)`` (biases may be None), or for the
            LSTM with a projection ``(w_ih, w_hh, b_ih, b_hh, w_hr)`` (then h0 is ``(L*D, B, P)``).
        lengths: None or a ``(B,)`` NumPy int array (each 1..T), already checked.
        dropout_p, training, generator: dropout on the outputs of every layer but the last.
        unroll: True for the step-by-step cell equations, False for one fused node per layer.

    Returns:
        ``out (T, B, D*H)``, ``h_n (L*D, B, H)``, ``c_n`` (LSTM, else None); ``P`` for ``H`` in out and h_n
        with a projection.
    """
    kind = mode if isinstance(mode, CellKind) else get_kind(mode)
    state0 = (h0,) if c0 is None else (h0, c0)
    kw = {"nonlinearity": kind.cell_kwargs["nonlinearity"]} if "nonlinearity" in kind.cell_kwargs else {}

    def step_fn(k, d):
        w = weights[k][d]
        return lambda x_t, s: kind.cell_fn(x_t, *s, *w, **kw)

    out, states, _ = _run_stack(kind, kind.cell, x, state0, weights, step_fn, lengths, dropout_p, training,
                                unroll, generator, kind.scope, kind.name)
    return out, states[0], (states[1] if len(states) > 1 else None)


def _run_stack(kind, cell_class, x, state0, weights, step_fn, lengths, dropout_p, training, unroll, generator,
               scope_name, kind_name):
    """The stack: per layer fused (a registered kind) or unrolled through ``step_fn(k, d)(x_t, state)``.

    ``state0``: None (zeros: the cell makes them) or a tuple of ``(L*D, B, H_k)`` tensors. Returns
    ``(out, states, is_tuple)``: the final states as a tuple and whether the cell's state is a tuple.
    """
    L = len(weights)
    D = len(weights[0])
    finals = []
    is_tuple = kind is not None and len(kind.states) > 1
    for k in range(L):
        s0 = None if state0 is None else tuple(s[k * D:(k + 1) * D] for s in state0)
        with scope(name=scope_name, layer=k):
            if unroll or kind is None:
                x, s_n, is_tuple = _unrolled_layer(x, s0, [step_fn(k, d) for d in range(D)], lengths, k, kind,
                                                   cell_class, kind_name)
            else:
                x, s_n = _fused_layer(kind, x, s0, weights[k], lengths, k)
            if dropout_p > 0 and training and k < L - 1:
                x = dropout(x, dropout_p, training=True, generator=generator)
        finals.append(s_n)
    states = tuple(f[0] if L == 1 else cat(list(f), 0) for f in zip(*finals))
    return x, states, is_tuple


def _fused_layer(kind: CellKind, x, s0, layer_weights, lengths, layer: int):
    """One layer, both directions, as one FusedRNN node."""
    D = len(layer_weights)
    has_proj = len(layer_weights[0]) == 5                   # (w_ih, w_hh, b_ih, b_hh, w_hr): LSTM with proj_size
    if s0 is None:
        P = layer_weights[0][1].shape[1]                    # h: w_hh's columns; other states: hidden_size
        H = layer_weights[0][1].shape[0] // kind.num_gates
        s0 = tuple(zeros(D, x.shape[1], P if i == 0 else H, dtype=x.dtype, device=x.device)
                   for i in range(len(kind.states)))
    has_bias = layer_weights[0][2] is not None
    flat = [w for ws in layer_weights for w in (ws[:4] if has_bias else ws[:2]) + tuple(ws[4:])]
    outs = _fused_rnn(x, *s0, *flat, mode=kind.name, lengths=lengths, num_directions=D, has_bias=has_bias,
                      layer=layer, loop=loop_for(x.device, x.dtype), has_proj=has_proj)
    return outs[0], tuple(outs[1:])


def _unrolled_layer(x, s0, step_fns, lengths, layer: int, kind, cell_class, kind_name: str):
    """One layer, step by step through the cells; returns (out, final states (D, B, H_k) each, is_tuple)."""
    T = x.shape[0]
    masks = None
    if lengths is not None:
        on = np.arange(T)[:, None, None] < lengths[None, :, None]          # (T, B, 1): inside the sequence
        masks = (tensor(on, device=x.device), tensor(on.astype(x.dtype), device=x.device))
    rec = recording.active()
    logs = list(_local_log)
    entry = names = None
    is_tuple = False
    outs, finals = [], []
    for d, step in enumerate(step_fns):
        direction = "forward" if d == 0 else "reverse"
        state = None if s0 is None else tuple(s[d] for s in s0)
        steps = [None] * T
        for t in (range(T) if d == 0 else range(T - 1, -1, -1)):
            with scope(direction=direction, t=t):
                raw = step(x[t], state)
                is_tuple = isinstance(raw, (tuple, list))
                new = tuple(raw) if is_tuple else (raw,)
                if names is None:
                    names = _state_names(cell_class, kind, len(new))
                    if rec is not None:
                        entry = recording.LayerStateGrads(layer, kind_name, names, "unrolled", T, len(step_fns),
                                                          x.shape[1])
                        rec.layers.append(entry)
                if entry is not None:
                    recording.watch_step(entry, d, t, new)
                for log in logs:
                    log.append({"layer": layer, "direction": d, "t": t, "states": new, "names": names,
                                "h": new[0], "c": new[1] if len(new) > 1 else None})
                if masks is None:
                    state = new
                    steps[t] = new[0]
                else:                                    # past a sequence's end its state is frozen
                    active, keep = masks[0][t], masks[1][t]
                    old = state if state is not None else tuple(n.new_zeros(*n.shape) for n in new)
                    kept = []
                    for name, n, o in reversed(list(zip(names, new, old))):
                        with scope(gate=name):
                            kept.append(where(active, n, o))
                    state = tuple(reversed(kept))
                    with scope(gate=names[0]):
                        steps[t] = state[0] * keep       # outputs past the end are zero
        outs.append(stack(steps, 0))
        finals.append(state)
    out = outs[0] if len(outs) == 1 else cat(outs, 2)
    return out, tuple(stack(list(f), 0) for f in zip(*finals)), is_tuple


# ------------------------------------------------------------------------------------------------
# Modules


class Recurrent(Module):
    r"""Run any recurrent cell over a sequence: stacked layers, both directions, lengths, dropout.

    A *cell* follows PyTorch's cell modules: a ``Module`` subclass built as
    ``cell(input_size, hidden_size, bias=bias, **cell_kwargs)`` (one instance per layer and
    direction; layer ``k > 0`` gets ``D * hidden_size`` inputs, ``D * proj_size`` for a cell with a
    non-zero ``proj_size`` attribute such as ``LSTMPCell``), whose ``forward(input, hx=None)`` takes
    ``input (B, I)`` and a state and returns the new state: a Tensor ``(B, H)``, or a tuple whose first
    element is the output ``h`` (as ``LSTMCell`` returns ``(h, c)``); ``hx=None`` means the zero state.
    It computes the same as this loop (one layer, forward direction)::

        def recurrent(x, state=None):             # x (T, B, I)
            out = []
            for t in range(x.shape[0]):
                state = cell(x[t], state)
                out.append(state if isinstance(state, Tensor) else state[0])
            return stack(out), state

    A registered cell kind (``tr.nn.RNNCell``, ``LSTMCell``, ``GRUCell``; see ``kinds/``) runs fused by
    default; any other cell runs unrolled through autograd (``unroll`` is then ignored).

    Parameters are named as PyTorch's recurrent layers name them: a cell's parameter ``weight_ih`` of
    layer ``k`` is ``weight_ih_l{k}`` (``weight_ih_l{k}_reverse`` for the reverse direction; dots of
    a nested cell parameter become ``_``). So ``Recurrent(tr.nn.LSTMCell, 8, 16, num_layers=2,
    bidirectional=True)`` has ``nn.LSTM(8, 16, 2, bidirectional=True)``'s ``state_dict`` keys, loads its
    ``state_dict`` and computes the same function.

    Call: ``layer(input, hx=None, *, lengths=None, unroll=False, generator=None)``.

    Shape (N = batch, L = sequence length, D = 2 if bidirectional else 1):
        - input: ``(L, N, H_in)``, ``(N, L, H_in)`` with ``batch_first``, ``(L, H_in)`` unbatched, or a
          :class:`~tinygrad_rnn.nn.utils.rnn.PackedSequence`.
        - hx: the cell's state structure (a Tensor or a tuple), each element ``(D * num_layers, N, H_k)``
          (``(D * num_layers, H_k)`` unbatched); zeros if omitted.
        - output: ``(L, N, D * H)`` (batch first as asked; a ``PackedSequence`` for packed input): the
          last layer's first state element at every step, both directions concatenated.
        - h_n: like ``hx``: the state after each sequence's own last step, per layer and direction.

    Args:
        cell: the cell class. input_size, hidden_size: features of the input and of the state.
        num_layers, bias, batch_first, dropout, bidirectional: as ``tr.nn.LSTM``.
        **cell_kwargs: passed to every cell (``nonlinearity=``, ``dtype=``, ``device=``, ...).

    Example::

        >>> layer = tr.nn.Recurrent(MyCell, 10, 20, num_layers=2, bidirectional=True)
        >>> output, h_n = layer(tr.randn(5, 3, 10))                    # output (5, 3, 40)
    """

    def __init__(self, cell: type, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 **cell_kwargs) -> None:
        super().__init__()
        if not isinstance(cell, type) or not issubclass(cell, Module):
            raise TypeError(f"cell: expected a Module subclass (a cell class such as tr.nn.LSTMCell), got "
                            f"{cell!r:.80}")
        check_positive_int(input_size, "input_size")
        check_positive_int(hidden_size, "hidden_size")
        check_positive_int(num_layers, "num_layers")
        if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real) or not 0 <= dropout < 1:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout={dropout} acts between stacked layers only, so with num_layers=1 it does "
                          "nothing", UserWarning, stacklevel=2 if type(self) is Recurrent else 4)
        self.cell = cell
        self.cell_kwargs = dict(cell_kwargs)
        kind = kind_of(cell, cell_kwargs)          # looked up once (it inspects the cell's signature)
        self._kind_name = kind.name if kind is not None else None
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bool(bias)
        self.batch_first = bool(batch_first)
        self.dropout = float(dropout)
        self.bidirectional = bool(bidirectional)
        D = 2 if bidirectional else 1
        cells, self._param_map, self._all_weights, self._flat_weights_names = [], [], [], []
        out_size = hidden_size
        for k in range(num_layers):
            layer_in = input_size if k == 0 else out_size * D
            row = []
            for d in range(D):
                c = cell(layer_in, hidden_size, bias=bias, **cell_kwargs)
                out_size = getattr(c, "proj_size", 0) or hidden_size     # a projected cell outputs proj_size
                sfx = f"_l{k}" + ("_reverse" if d == 1 else "")
                names = []
                for pname, p in c.named_parameters():
                    full = pname.replace(".", "_") + sfx
                    if full in self._parameters:
                        raise ValueError(f"cell: parameter {pname!r} gives the name {full!r} twice")
                    self.register_parameter(full, p)
                    p._name = full
                    owner, _, leaf = pname.rpartition(".")
                    self._param_map.append((c.get_submodule(owner) if owner else c, leaf, full))
                    names.append(full)
                self._all_weights.append(names)
                self._flat_weights_names.extend(names)
                row.append(c)
            cells.append(row)
        object.__setattr__(self, "_cells", cells)
        # Features of each state element (h, c, ...) of a registered kind: h has the cell's output size.
        n = len(self.kind.states) if self.kind is not None else 0
        self._state_sizes = tuple(out_size if i == 0 else hidden_size for i in range(n))

    @property
    def kind(self):
        """The registered :class:`CellKind` of this layer's cell (``None``: not registered, runs unrolled);
        a saved module holds only its registry name."""
        return get_kind(self._kind_name) if self._kind_name is not None else None

    # ----------------------------------------------------------------- the cells
    def _sync(self) -> None:
        """Point every cell at this module's parameters (they may have been re-assigned, e.g. tied)."""
        for owner, leaf, full in self._param_map:
            p, old = self._parameters[full], owner._parameters.get(leaf)
            if old is not p:
                # a re-assigned parameter: the layer's one check of the weights (the fused node trusts them)
                if p is not None and old is not None and tuple(p.shape) != tuple(old.shape):
                    raise ValueError(f"{full}: expected a parameter of shape {tuple(old.shape)} (as built for "
                                     f"input_size={self.input_size}, hidden_size={self.hidden_size}), got "
                                     f"{tuple(p.shape)}")
                owner._parameters[leaf] = p

    def get_cell(self, layer: int = 0, direction: int = 0) -> Module:
        """The cell module of ``layer`` (0-based) and ``direction`` (0 forward, 1 reverse), on this
        module's parameters."""
        D = 2 if self.bidirectional else 1
        for name, value, n in (("layer", layer, self.num_layers), ("direction", direction, D)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
            if not 0 <= value < n:
                raise IndexError(f"{name}: expected an index in [0, {n}), got {value}")
        self._sync()
        return self._cells[layer][direction]

    @property
    def kind_name(self) -> str:
        """The registry name of the cell kind (``"lstm"``), or the cell's class name."""
        return self.kind.name if self.kind is not None else self.cell.__name__

    @property
    def scope_name(self) -> str:
        """The ``scope(name=...)`` of this layer's nodes: the kind's, or the cell's class name in lower case."""
        return self.kind.scope if self.kind is not None else self.cell.__name__.lower()

    def train(self, mode: bool = True) -> "Recurrent":
        super().train(mode)
        for row in self._cells:
            for c in row:
                c.train(mode)
        return self

    def reset_parameters(self) -> None:
        """Re-initialise every cell (each cell's own ``reset_parameters``), layer by layer."""
        self._sync()
        for row in self._cells:
            for c in row:
                if hasattr(c, "reset_parameters"):
                    c.reset_parameters()

    def flatten_parameters(self) -> None:
        """Accepted so ported PyTorch code runs; there is no flat weight buffer to compact here."""

    @property
    def all_weights(self) -> list:
        """Per layer and direction, the cell's parameters (``[weight_ih, weight_hh, bias_ih, bias_hh]``)."""
        return [[getattr(self, name) for name in names] for names in self._all_weights]

    @property
    def _flat_weights(self) -> list:
        return [getattr(self, name) for name in self._flat_weights_names]

    def extra_repr(self) -> str:
        s = f"{self.cell.__name__}, {self.input_size}, {self.hidden_size}"
        return s + self._repr_options()

    def _repr_options(self) -> str:
        s = ""
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
        """Per layer, per direction, ``(w_ih, w_hh, b_ih, b_hh)`` of a registered kind (biases None without)."""
        D = 2 if self.bidirectional else 1
        out = []
        for k in range(self.num_layers):
            row = []
            for d in range(D):
                sfx = f"_l{k}" + ("_reverse" if d else "")
                get = self._parameters.get
                ws = (get("weight_ih" + sfx), get("weight_hh" + sfx), get("bias_ih" + sfx), get("bias_hh" + sfx))
                w_hr = get("weight_hr" + sfx)
                row.append(ws if w_hr is None else ws + (w_hr,))
            out.append(row)
        return out

    # ----------------------------------------------------------------- argument checks
    def _first_param(self):
        return next(iter(self._parameters.values()), None)

    def _check_state(self, h, name: str, batched: bool, B: int, x_shape: tuple, size: int | None) -> Tensor:
        if not isinstance(h, Tensor):
            raise TypeError(f"{name}: expected a Tensor, got {type(h).__name__}")
        LD = self.num_layers * (2 if self.bidirectional else 1)
        last = size if size is not None else (h.shape[-1] if h.ndim else None)
        want = (LD, B, last) if batched else (LD, last)
        if tuple(h.shape) != want:
            what = "(num_layers * num_directions, batch, hidden_size)" if batched else \
                "(num_layers * num_directions, hidden_size) for unbatched input"
            raise ValueError(f"{name}: expected shape {want} {what} for input of shape {x_shape}, "
                             f"got {tuple(h.shape)}")
        w = self._first_param()
        if w is not None:
            check_input_dtype(h, w, name)
        return h if batched else h.unsqueeze(1)

    def _states(self, hx, batched: bool, B: int, x_shape: tuple):
        """The initial states as a tuple of ``(L*D, B, H_k)`` tensors, or None (zeros)."""
        if hx is None:
            return None
        kind = self.kind
        who = type(self).__name__
        if kind is not None and len(kind.states) == 1:
            if not isinstance(hx, Tensor):
                raise TypeError(f"hx: {who} expects a Tensor h_0, got {type(hx).__name__}")
            return (self._check_state(hx, "hx", batched, B, x_shape, self._state_sizes[0]),)
        if kind is not None:
            n = len(kind.states)
            if not isinstance(hx, (tuple, list)) or len(hx) != n:
                names = ", ".join(f"{s}_0" for s in kind.states)
                raise TypeError(f"hx: {who} expects a tuple ({names}) of {n} Tensors, got {type(hx).__name__}")
            return tuple(self._check_state(h, f"hx[{i}] ({s}_0)", batched, B, x_shape, self._state_sizes[i])
                         for i, (h, s) in enumerate(zip(hx, kind.states)))
        if isinstance(hx, Tensor):
            return (self._check_state(hx, "hx", batched, B, x_shape, None),)
        if not isinstance(hx, (tuple, list)) or not hx:
            raise TypeError(f"hx: expected a Tensor or a tuple of Tensors (the cell's state), got "
                            f"{type(hx).__name__}")
        return tuple(self._check_state(h, f"hx[{i}]", batched, B, x_shape, None) for i, h in enumerate(hx))

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
    def _step_fn(self, k: int, d: int):
        # forward checked the input and the states once: a built-in cell runs its unchecked step (one
        # lookup per layer and call, not per step); any other cell is called as it is (it is the user's).
        step = unchecked_step(self._cells[k][d])
        return lambda x_t, state: step(x_t, None if state is None else state[0] if len(state) == 1 else state)

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
        w = self._first_param()
        if w is not None:
            check_input_dtype(x, w)
        if x.shape[-1] != self.input_size:
            raise ValueError(f"input: expected the last dimension (features) to be input_size={self.input_size}, "
                             f"got input of shape {x_shape}")
        if x.shape[0] == 0:
            raise ValueError(f"input: expected at least one time step, got shape {x_shape}")
        T, B = x.shape[0], x.shape[1]
        lengths = self._check_lengths(lengths, T, B, x_shape)
        state0 = self._states(hx, batched, B, x_shape)
        self._sync()

        kind = self.kind
        weights = self._layer_weights() if kind is not None else [[None] * (2 if self.bidirectional else 1)] \
            * self.num_layers
        out, states, is_tuple = _run_stack(kind, self.cell, x, state0, weights, self._step_fn, lengths,
                                           self.dropout, self.training, unroll, generator, self.scope_name,
                                           self.kind_name)

        if packed:
            out = _pack_like(out, input)
        elif not batched:
            out = out.squeeze(1)
            states = tuple(s.squeeze(1) for s in states)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, (states if is_tuple else states[0])


class RNNBase(Recurrent):
    """The fused front door shared by :class:`RNN`, :class:`LSTM`, :class:`GRU`: ``Recurrent`` over the
    kind's cell, with PyTorch's layer signature and attributes (``mode``, ``all_weights``, ...)."""

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 dtype=None, device=None) -> None:
        kind = get_kind(mode)
        check_positive_int(hidden_size, "hidden_size")
        check_proj_size(proj_size, hidden_size)
        cell, kw = kind.cell, dict(kind.cell_kwargs)
        if proj_size > 0:
            if kind.proj_cell is None:
                raise ValueError(f"proj_size argument is only supported for LSTM, not RNN or GRU (mode {mode!r}, "
                                 f"proj_size={proj_size})")
            cell, kw["proj_size"] = kind.proj_cell, proj_size
        super().__init__(cell, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         dtype=dtype, device=device, **kw)
        self.mode = mode
        self.proj_size = proj_size

    def reset_parameters(self) -> None:
        """Every parameter ~ U(-1/√H, 1/√H), drawn in registration order (as PyTorch)."""
        stdv = 1.0 / self.hidden_size ** 0.5
        with no_grad():
            for w in self.parameters():
                w.uniform_(-stdv, stdv)

    def extra_repr(self) -> str:
        proj = f", proj_size={self.proj_size}" if self.proj_size else ""
        return f"{self.input_size}, {self.hidden_size}{proj}" + self._repr_options()


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
    With ``proj_size = P > 0`` (PyTorch's LSTM with projections, LSTMP) the output is projected,
    ``h_t = W_hr (o_t * tanh(c_t))``: ``h`` (so ``h_0``, ``h_n`` and ``output``) has ``P`` features
    (``output`` ``(L, N, D * P)``), ``c`` keeps ``hidden_size``; ``weight_hh_l[k]`` is
    ``(4*hidden_size, P)``, ``weight_ih_l[k]`` for ``k > 0`` is ``(4*hidden_size, D*P)``, and each layer and
    direction has ``weight_hr_l[k]`` ``(P, hidden_size)`` (after its biases, so a torch LSTMP
    ``state_dict`` loads as it is). The fused path adds one GEMM per step each way (``W_hr m_t``,
    ``W_hrᵀ dh_t``) and one for ``dW_hr`` over all steps, on the CPU and in the raw CUDA loops.

    Example::

        >>> lstm = tr.nn.LSTM(10, 20, num_layers=2, bidirectional=True)
        >>> output, (h_n, c_n) = lstm(tr.randn(5, 3, 10))       # output (5, 3, 40), h_n (4, 3, 20)
        >>> lstmp = tr.nn.LSTM(10, 20, proj_size=8)
        >>> output, (h_n, c_n) = lstmp(tr.randn(5, 3, 10))      # output (5, 3, 8), c_n (1, 3, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 dtype=None, device=None) -> None:
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, dtype=dtype, device=device)


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
_fill_doc(LSTM, state="hx = (h_0, c_0)", state_n="(h_n, c_n)", G="4",
          extra_arg="\n        proj_size: if ``> 0``, project ``h`` to this many features (LSTMP, below). Default: 0.")
_fill_doc(GRU, state="hx (h_0)", state_n="h_n", G="3", extra_arg="")
