"""Recurrent cells: one time step of an Elman RNN, an LSTM and a GRU, written as their equations.

The three functions :func:`rnn_cell`, :func:`lstm_cell` and :func:`gru_cell` are the whole math: the
cell modules (:class:`RNNCell`, :class:`LSTMCell`, :class:`GRUCell`) call them once, and the unrolled
path of the layers (``layer(x, unroll=True)``) calls them once per time step (through the cells'
``_step``: a cell's ``forward`` is ``_check_args`` then ``_step``, and the layer, which checked its
own arguments once, skips the per-step checks; see :func:`unchecked_step`). Every op they make is a
graph node; each gate is computed inside ``tr.autograd.scope(gate=...)`` so graph pictures can group
a step's nodes by gate. The tags: ``"proj"`` for the affine maps ``W x + b`` shared by all gates,
``"i" "f" "g" "o"`` (LSTM) / ``"r" "z" "n"`` (GRU) for the gates, ``"c"`` and ``"h"`` for the state
updates (each kind's description in ``kinds/`` lists its gates, states and their labels).

Equations and parameter layout are PyTorch's (gate order LSTM i,f,g,o; GRU r,z,n; weights stacked
gate by gate along dim 0), so a ``state_dict`` moves between the two unchanged.
"""

from __future__ import annotations

import math

from ...autograd.grad_mode import no_grad
from ...autograd.scope import scope
from ...tensor import Tensor, empty
from ..module import Module, Parameter, factory_kwargs

NONLINEARITIES = ("tanh", "relu")


def _affine(x: Tensor, w: Tensor, b: Tensor | None) -> Tensor:
    """x Wᵀ + b, for a batch ``(B, in)`` or one vector ``(in,)``."""
    y = x @ w.t()
    return y if b is None else y + b


# ------------------------------------------------------------------------------------------------
# The equations (one function per cell type, shared by the cell modules and the unrolled layers)


def rnn_cell(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None, nonlinearity: str = "tanh") -> Tensor:
    """h' = act(W_ih x + b_ih + W_hh h + b_hh), act = tanh or relu."""
    with scope(gate="proj"):
        z = _affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)
    with scope(gate="h"):
        return z.tanh() if nonlinearity == "tanh" else z.relu()


def lstm_cell(x: Tensor, h: Tensor, c: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
              b_hh: Tensor | None = None, w_hr: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """One LSTM step (gate order i, f, g, o)::

        i = σ(W_ii x + b_ii + W_hi h + b_hi)        f = σ(W_if x + b_if + W_hf h + b_hf)
        g = tanh(W_ig x + b_ig + W_hg h + b_hg)     o = σ(W_io x + b_io + W_ho h + b_ho)
        c' = f * c + i * g                          h' = o * tanh(c')

    With a projection ``w_hr`` ``(P, H)`` (PyTorch's LSTM with ``proj_size=P``): ``h' = W_hr (o * tanh(c'))``,
    so ``h`` has ``P`` features and ``c`` keeps ``H`` (``w_hh`` is then ``(4H, P)``).
    """
    H = c.shape[-1]
    with scope(gate="proj"):
        z = _affine(x, w_ih, b_ih) + _affine(h, w_hh, b_hh)       # the four gates' pre-activations
    with scope(gate="i"):
        i = z[..., 0:H].sigmoid()
    with scope(gate="f"):
        f = z[..., H:2 * H].sigmoid()
    with scope(gate="g"):
        g = z[..., 2 * H:3 * H].tanh()
    with scope(gate="o"):
        o = z[..., 3 * H:4 * H].sigmoid()
    with scope(gate="c"):
        c_new = f * c + i * g
    with scope(gate="h"):
        h_new = o * c_new.tanh()
        if w_hr is not None:
            h_new = h_new @ w_hr.t()                              # the projection, h' = W_hr m
    return h_new, c_new


def gru_cell(x: Tensor, h: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor | None = None,
             b_hh: Tensor | None = None) -> Tensor:
    """One GRU step (gate order r, z, n)::

        r = σ(W_ir x + b_ir + W_hr h + b_hr)
        z = σ(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn))
        h' = (1 - z) * n + z * h
    """
    H = h.shape[-1]
    with scope(gate="proj"):
        gi = _affine(x, w_ih, b_ih)                                  # W_i{r,z,n} x + b_i{r,z,n}
        gh = _affine(h, w_hh, b_hh)                                  # W_h{r,z,n} h + b_h{r,z,n}
    with scope(gate="r"):
        r = (gi[..., 0:H] + gh[..., 0:H]).sigmoid()
    with scope(gate="z"):
        z = (gi[..., H:2 * H] + gh[..., H:2 * H]).sigmoid()
    with scope(gate="n"):
        n = (gi[..., 2 * H:3 * H] + r * gh[..., 2 * H:3 * H]).tanh()
    with scope(gate="h"):
        return (1 - z) * n + z * h


# ------------------------------------------------------------------------------------------------
# Shared checks


def check_positive_int(value, arg: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{arg}: expected a positive int, got {value!r}")
    return value


def check_proj_size(proj_size, hidden_size: int, allow_zero: bool = True) -> int:
    """``proj_size``: an int in ``[0, hidden_size)`` (0: no projection; PyTorch's rule and message)."""
    if isinstance(proj_size, bool) or not isinstance(proj_size, int):
        raise TypeError(f"proj_size: expected an int, got {type(proj_size).__name__}")
    if proj_size < (0 if allow_zero else 1):
        zero = " or zero to disable projections" if allow_zero else ""
        raise ValueError(f"proj_size should be a positive integer{zero}, got {proj_size}")
    if proj_size >= hidden_size:
        raise ValueError(f"proj_size has to be smaller than hidden_size, got proj_size={proj_size} and "
                         f"hidden_size={hidden_size}")
    return proj_size


def check_nonlinearity(nonlinearity) -> str:
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(f"nonlinearity: expected 'tanh' or 'relu', got {nonlinearity!r}")
    return nonlinearity


def check_input_dtype(x, weight: Tensor, arg: str = "input") -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{arg}: expected a Tensor, got {type(x).__name__}")
    if x.dtype != weight.dtype:
        raise TypeError(f"{arg}: expected dtype {weight.dtype} (the parameters' dtype), got {x.dtype}; "
                        f"convert with .to({weight.dtype}) or the module with .float()/.double()")


# ------------------------------------------------------------------------------------------------
# Cell modules


class _CellBase(Module):
    """Parameters, initialisation and input checks shared by the three cells."""

    _gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=None, device=None) -> None:
        super().__init__()
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.bias = bool(bias)
        G = self._gates * hidden_size
        fk = factory_kwargs(dtype, device)
        self.weight_ih = Parameter(empty(G, input_size, **fk))
        self.weight_hh = Parameter(empty(G, hidden_size, **fk))
        if bias:
            self.bias_ih = Parameter(empty(G, **fk))
            self.bias_hh = Parameter(empty(G, **fk))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every parameter ~ U(-1/√H, 1/√H), drawn in registration order (as PyTorch)."""
        stdv = 1.0 / math.sqrt(self.hidden_size) if self.hidden_size > 0 else 0.0
        with no_grad():
            for w in self.parameters():
                w.uniform_(-stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        if getattr(self, "nonlinearity", "tanh") != "tanh":
            s += f", nonlinearity={self.nonlinearity}"
        return s

    def _check_input(self, x) -> bool:
        """Validate ``x``, ``(B, I)`` or ``(I,)``; return whether it is batched."""
        check_input_dtype(x, self.weight_ih)
        if x.ndim not in (1, 2):
            raise ValueError(f"input: expected a 1-D (unbatched) or 2-D (batch, input_size) tensor, got shape "
                             f"{tuple(x.shape)}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"input: expected the last dimension to be input_size={self.input_size}, got shape "
                             f"{tuple(x.shape)}")
        return x.ndim == 2

    def _check_state(self, h, x: Tensor, batched: bool, name: str) -> None:
        if not isinstance(h, Tensor):
            raise TypeError(f"{name}: expected a Tensor, got {type(h).__name__}")
        want = (x.shape[0], self.hidden_size) if batched else (self.hidden_size,)
        if tuple(h.shape) != want:
            raise ValueError(f"{name}: expected shape {want} (batch, hidden_size) for input of shape "
                             f"{tuple(x.shape)}, got {tuple(h.shape)}")
        check_input_dtype(h, self.weight_ih, name)

    def _check_args(self, input, hx) -> None:
        """Validate ``forward``'s arguments for a cell whose state is one Tensor ``h`` (RNN, GRU)."""
        batched = self._check_input(input)
        if hx is not None:
            self._check_state(hx, input, batched, "hx")

    def _zeros(self, x: Tensor) -> Tensor:
        shape = (x.shape[0], self.hidden_size) if x.ndim == 2 else (self.hidden_size,)
        return x.new_zeros(*shape)

    def _weights(self) -> tuple:
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh


class RNNCell(_CellBase):
    r"""An Elman RNN cell with tanh or ReLU non-linearity.

    .. math::
        h' = \tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})      (or ReLU)

    Args:
        input_size: the number of features in the input ``x``.
        hidden_size: the number of features in the hidden state ``h``.
        bias: if ``False``, the cell has no ``bias_ih`` and ``bias_hh``. Default: ``True``.
        nonlinearity: ``"tanh"`` or ``"relu"``. Default: ``"tanh"``.
        dtype, device: of the parameters.

    Shape:
        - input: ``(N, H_in)`` or ``(H_in,)``; hidden: ``(N, H_out)`` or ``(H_out,)``, zeros if omitted.
        - output: ``(N, H_out)`` or ``(H_out,)``, the next hidden state.

    Attributes:
        weight_ih: ``(hidden_size, input_size)``; weight_hh: ``(hidden_size, hidden_size)``;
        bias_ih, bias_hh: ``(hidden_size,)``. All initialised from U(-√k, √k), k = 1/hidden_size.

    Example::

        >>> cell = tr.nn.RNNCell(10, 20)
        >>> x, h = tr.randn(6, 3, 10), tr.randn(3, 20)
        >>> outputs = []
        >>> for t in range(6):
        ...     h = cell(x[t], h)
        ...     outputs.append(h)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh",
                 dtype=None, device=None) -> None:
        check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, dtype=dtype, device=device)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        self._check_args(input, hx)
        return self._step(input, hx)

    def _step(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """:meth:`forward` on checked arguments (see :func:`unchecked_step`)."""
        h = self._zeros(input) if hx is None else hx
        return rnn_cell(input, h, *self._weights(), nonlinearity=self.nonlinearity)


class LSTMCell(_CellBase):
    r"""A long short-term memory (LSTM) cell.

    .. math::
        i = \sigma(W_{ii} x + b_{ii} + W_{hi} h + b_{hi})       f = \sigma(W_{if} x + b_{if} + W_{hf} h + b_{hf})
        g = \tanh(W_{ig} x + b_{ig} + W_{hg} h + b_{hg})        o = \sigma(W_{io} x + b_{io} + W_{ho} h + b_{ho})
        c' = f * c + i * g                                      h' = o * \tanh(c')

    Args:
        input_size, hidden_size, bias, dtype, device: as :class:`RNNCell`.

    Shape:
        - input: ``(N, H_in)`` or ``(H_in,)``; ``(h_0, c_0)``: each ``(N, H_out)`` or ``(H_out,)``, zeros
          if omitted.
        - output: ``(h_1, c_1)``, each ``(N, H_out)`` or ``(H_out,)``.

    Attributes:
        weight_ih: ``(4*hidden_size, input_size)``, rows ``W_ii|W_if|W_ig|W_io``;
        weight_hh: ``(4*hidden_size, hidden_size)``; bias_ih, bias_hh: ``(4*hidden_size,)``.
        All initialised from U(-√k, √k), k = 1/hidden_size.

    Example::

        >>> cell = tr.nn.LSTMCell(10, 20)
        >>> x, h, c = tr.randn(6, 3, 10), tr.randn(3, 20), tr.randn(3, 20)
        >>> for t in range(6):
        ...     h, c = cell(x[t], (h, c))
    """

    _gates = 4

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        self._check_args(input, hx)
        return self._step(input, hx)

    def _check_args(self, input, hx) -> None:
        batched = self._check_input(input)
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                raise TypeError(f"hx: expected a tuple (h_0, c_0) of two Tensors, got {type(hx).__name__}")
            h, c = hx
            self._check_state(h, input, batched, "hx[0] (h_0)")
            self._check_state(c, input, batched, "hx[1] (c_0)")

    def _step(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """:meth:`forward` on checked arguments (see :func:`unchecked_step`)."""
        if hx is None:
            h = c = self._zeros(input)
        else:
            h, c = hx
        return lstm_cell(input, h, c, *self._weights())


class GRUCell(_CellBase):
    r"""A gated recurrent unit (GRU) cell.

    .. math::
        r = \sigma(W_{ir} x + b_{ir} + W_{hr} h + b_{hr})
        z = \sigma(W_{iz} x + b_{iz} + W_{hz} h + b_{hz})
        n = \tanh(W_{in} x + b_{in} + r * (W_{hn} h + b_{hn}))
        h' = (1 - z) * n + z * h

    Args:
        input_size, hidden_size, bias, dtype, device: as :class:`RNNCell`.

    Shape:
        - input: ``(N, H_in)`` or ``(H_in,)``; hidden: ``(N, H_out)`` or ``(H_out,)``, zeros if omitted.
        - output: ``(N, H_out)`` or ``(H_out,)``.

    Attributes:
        weight_ih: ``(3*hidden_size, input_size)``, rows ``W_ir|W_iz|W_in``;
        weight_hh: ``(3*hidden_size, hidden_size)``; bias_ih, bias_hh: ``(3*hidden_size,)``.
        All initialised from U(-√k, √k), k = 1/hidden_size.

    Example::

        >>> cell = tr.nn.GRUCell(10, 20)
        >>> x, h = tr.randn(6, 3, 10), tr.randn(3, 20)
        >>> for t in range(6):
        ...     h = cell(x[t], h)
    """

    _gates = 3

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        self._check_args(input, hx)
        return self._step(input, hx)

    def _step(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        """:meth:`forward` on checked arguments (see :func:`unchecked_step`)."""
        h = self._zeros(input) if hx is None else hx
        return gru_cell(input, h, *self._weights())


class LSTMPCell(_CellBase):
    r"""An LSTM cell with a projected output: the step that ``tr.nn.LSTM(..., proj_size=P)`` runs in each
    layer and direction (PyTorch has no public cell for it: ``torch.nn.LSTMCell`` has no ``proj_size``).

    .. math::
        i, f, g, o = \sigma, \sigma, \tanh, \sigma(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})
        c' = f * c + i * g                  h' = W_{hr} (o * \tanh(c'))

    Args:
        input_size, hidden_size, bias, dtype, device: as :class:`LSTMCell`.
        proj_size: ``P``, the features of ``h`` (``1 <= P < hidden_size``); ``c`` keeps ``hidden_size``.

    Shape:
        - input: ``(N, H_in)`` or ``(H_in,)``; ``(h_0, c_0)``: ``(N, P)`` and ``(N, hidden_size)`` (or
          unbatched), zeros if omitted.
        - output: ``(h_1, c_1)``, shaped as ``(h_0, c_0)``.

    Attributes:
        weight_ih: ``(4*hidden_size, input_size)``; weight_hh: ``(4*hidden_size, P)``;
        bias_ih, bias_hh: ``(4*hidden_size,)``; weight_hr: ``(P, hidden_size)`` (registered last, as
        PyTorch's ``weight_hr_l{k}``). All initialised from U(-√k, √k), k = 1/hidden_size, in that order.
    """

    _gates = 4

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, *, proj_size: int,
                 dtype=None, device=None) -> None:
        Module.__init__(self)
        self.input_size = check_positive_int(input_size, "input_size")
        self.hidden_size = check_positive_int(hidden_size, "hidden_size")
        self.proj_size = check_proj_size(proj_size, hidden_size, allow_zero=False)
        self.bias = bool(bias)
        G = 4 * hidden_size
        fk = factory_kwargs(dtype, device)
        self.weight_ih = Parameter(empty(G, input_size, **fk))
        self.weight_hh = Parameter(empty(G, proj_size, **fk))
        if bias:
            self.bias_ih = Parameter(empty(G, **fk))
            self.bias_hh = Parameter(empty(G, **fk))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.weight_hr = Parameter(empty(proj_size, hidden_size, **fk))
        self.reset_parameters()

    def extra_repr(self) -> str:
        return super().extra_repr() + f", proj_size={self.proj_size}"

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        self._check_args(input, hx)
        return self._step(input, hx)

    def _check_args(self, input, hx) -> None:
        batched = self._check_input(input)
        if hx is None:
            return
        batch = (input.shape[0],) if batched else ()
        if not isinstance(hx, (tuple, list)) or len(hx) != 2:
            raise TypeError(f"hx: expected a tuple (h_0, c_0) of two Tensors, got {type(hx).__name__}")
        h, c = hx
        for name, t, size in (("hx[0] (h_0)", h, self.proj_size), ("hx[1] (c_0)", c, self.hidden_size)):
            if not isinstance(t, Tensor):
                raise TypeError(f"{name}: expected a Tensor, got {type(t).__name__}")
            if tuple(t.shape) != (*batch, size):
                raise ValueError(f"{name}: expected shape {(*batch, size)} for input of shape "
                                 f"{tuple(input.shape)}, got {tuple(t.shape)}")
            check_input_dtype(t, self.weight_ih, name)

    def _step(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        """:meth:`forward` on checked arguments (see :func:`unchecked_step`)."""
        if hx is None:
            batch = (input.shape[0],) if input.ndim == 2 else ()
            h, c = input.new_zeros(*batch, self.proj_size), input.new_zeros(*batch, self.hidden_size)
        else:
            h, c = hx
        return lstm_cell(input, h, c, *self._weights(), self.weight_hr)


# ------------------------------------------------------------------------------------------------
# The unchecked step (for the layers' unrolled path)

# The built-in cells whose forward is "check the arguments, then _step", with their own checks.
_CHECKED_FORWARDS = frozenset((RNNCell.forward, LSTMCell.forward, GRUCell.forward, LSTMPCell.forward))
_BUILTIN_CHECKS = frozenset((_CellBase._check_args, LSTMCell._check_args, LSTMPCell._check_args))


def unchecked_step(cell: Module):
    """What a layer calls for one step of ``cell``: ``cell._step`` (its forward without the argument
    checks) for a built-in cell, else ``cell`` itself.

    ``Recurrent`` checks the sequence, the state and the dtypes once per forward and then calls the
    cell once per time step on inputs and states it built, so the built-in cells' per-step checks
    (``_check_args``) would only repeat its work ``T`` times. A cell runs through its own ``forward``
    (checks included) when it is not a built-in one, when its class replaces ``forward`` or
    ``_check_args``, or when the module has hooks (the hooks see every step, as ``Module.__call__`` runs them).
    """
    cls = type(cell)
    if cls.forward in _CHECKED_FORWARDS and cls._check_args in _BUILTIN_CHECKS and "_hooks" not in cell.__dict__:
        return cell._step
    return cell
