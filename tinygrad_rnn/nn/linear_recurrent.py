"""Linear-recurrence layers: ``LRU`` (Orvieto et al. 2023), ``MinGRU`` and ``MinLSTM`` (Feng et al. 2024).

Each recurrence is linear in its state, ``h_t = a_t ⊙ h_{t−1} + b_t``, with ``a_t`` and ``b_t`` computed
from the input alone, so a whole sequence is one :func:`tr.linear_scan` (O(T) work, O(log T) depth).
Each layer has the project's two paths, one answer (held by ``tests/nn/test_linear_recurrent.py``):

- **unrolled** (``layer(x, unroll=True)``): its cell (``LRUCell``, ``MinGRUCell``, ``MinLSTMCell``) run step
  by step through :class:`tr.nn.Recurrent`, every op a graph node, so ``tr.viz`` and ``tr.analysis``
  take it; while a ``record_state_grads`` block is active (the gradient-flow analysis) the layer runs
  this path;
- **scan** (default): the projections of all steps at once and one ``linear_scan``.

Lengths follow :class:`tr.nn.Recurrent`: a sequence's state is frozen after its own last step (``h_n`` is
the state there), outputs past its end are zero. The layers are causal and forward-only, so the scan
path runs the scan over the padding too and reads ``h_n`` at each sequence's last step: the same numbers.
"""

from __future__ import annotations

import math

import numpy as np

from ..autograd.scope import scope
from ..nn.recurrent import recording
from ..ops.lru import LRUScan
from ..scan import linear_scan
from ..tensor import Tensor, cat, empty, stack, tensor, where
from .module import Module, Parameter
from .recurrent.cells import check_positive_int
from .recurrent.layers import Recurrent
from .utils.rnn import PackedSequence

__all__ = ["LRU", "LRUCell", "MinGRU", "MinGRUCell", "MinLSTM", "MinLSTMCell"]


def _g(x: Tensor) -> Tensor:
    """The paper's positive activation of the candidate state: ``g(x) = x + ½ (x ≥ 0), σ(x) (x < 0)``."""
    return where(x >= 0, x + 0.5, x.sigmoid())


def _linear(x: Tensor, w: Tensor) -> Tensor:
    """``x @ wᵀ`` over the last dim of ``x (…, I)`` as one 2-D GEMM (a batched matmul would run one small
    GEMM per step, and its weight gradient a (T, I, O) temporary)."""
    if x.ndim == 2:
        return x @ w.t()
    return (x.reshape(-1, x.shape[-1]) @ w.t()).reshape(*x.shape[:-1], w.shape[0])


def _uniform(shape, bound: float, dtype, device) -> Parameter:
    return Parameter(empty(*shape, dtype=dtype, device=device).uniform_(-bound, bound))


# --------------------------------------------------------------------------------------------------
# cells (one step; the unrolled path)


class _MinCell(Module):
    """What minGRU and minLSTM share: ``blocks`` row blocks of ``weight_ih`` from ``x_t`` alone (no
    ``weight_hh``), and the step ``h_t = a ⊙ h_{t−1} + b`` from the subclass's :meth:`gates`."""

    state_names = ("h",)
    blocks = 0

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, dtype=None, device=None) -> None:
        super().__init__()
        check_positive_int(input_size, "input_size")
        check_positive_int(hidden_size, "hidden_size")
        self.input_size, self.hidden_size = input_size, hidden_size
        k = 1 / math.sqrt(input_size)
        self.weight_ih = _uniform((self.blocks * hidden_size, input_size), k, dtype, device)
        self.bias_ih = _uniform((self.blocks * hidden_size,), k, dtype, device) if bias else None

    def _project(self, x: Tensor) -> Tensor:
        p = _linear(x, self.weight_ih)
        return p if self.bias_ih is None else p + self.bias_ih

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        a, b = self.gates(input)
        with scope(gate="h"):
            return b if hx is None else a * hx + b


class MinGRUCell(_MinCell):
    r"""One step of minGRU (Feng et al. 2024, "Were RNNs all we needed?"): the gates read ``x_t`` only::

        z_t = σ(W_z x_t + b_z)            h̃_t = g(W_h x_t + b_h)
        h_t = (1 − z_t) ⊙ h_{t−1} + z_t ⊙ h̃_t

    with the paper's ``g(x) = x + ½`` for ``x ≥ 0`` and ``σ(x)`` otherwise (the activation of its log-space
    version, which keeps ``h̃_t > 0``). ``weight_ih`` ``(2H, I)`` holds the rows of ``z`` then ``h``.

    Args:
        input_size, hidden_size: features of ``x_t`` and ``h_t``. bias: add ``bias_ih`` ``(2H,)``.
        dtype, device: of the parameters. Weights ~ U(−1/√I, 1/√I) (as ``nn.Linear``).
    """

    blocks = 2

    def gates(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(a, b)`` of ``h_t = a ⊙ h_{t−1} + b`` for inputs ``x (…, I)``: ``(1 − z, z ⊙ h̃)``."""
        H = self.hidden_size
        p = self._project(x)
        with scope(gate="z"):
            k = p[..., :H]
            z, one_minus_z = k.sigmoid(), (-k).sigmoid()
        with scope(gate="n"):
            n = _g(p[..., H:])
        return one_minus_z, z * n


class MinLSTMCell(_MinCell):
    r"""One step of minLSTM (Feng et al. 2024): forget and input gates from ``x_t`` only, normalised::

        f_t = σ(W_f x_t + b_f)    i_t = σ(W_i x_t + b_i)    h̃_t = g(W_h x_t + b_h)
        f'_t = f_t / (f_t + i_t)  i'_t = i_t / (f_t + i_t)
        h_t = f'_t ⊙ h_{t−1} + i'_t ⊙ h̃_t

    (``g`` as in :class:`MinGRUCell`). ``weight_ih`` ``(3H, I)`` holds the rows of ``f``, ``i``, ``h``.
    """

    blocks = 3

    def gates(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(a, b)`` of ``h_t = a ⊙ h_{t−1} + b``: ``(f', i' ⊙ h̃)``."""
        H = self.hidden_size
        p = self._project(x)
        with scope(gate="f"):
            f = p[..., :H].sigmoid()
        with scope(gate="i"):
            i = p[..., H:2 * H].sigmoid()
        with scope(gate="n"):
            n = _g(p[..., 2 * H:])
        s = f + i
        return f / s, (i / s) * n


class LRUCell(Module):
    r"""One step of the Linear Recurrent Unit (Orvieto et al. 2023), complex numbers as real pairs::

        λ = exp(−exp(ν) + i·exp(θ))              (diagonal, |λ| = exp(−exp(ν)) < 1)
        x_t = λ ⊙ x_{t−1} + γ ⊙ (B u_t)          γ = exp(γ_log), initialised to √(1 − |λ|²)
        y_t = Re(C x_t) + D ⊙ u_t                (+ bias, when ``bias``)

    The state is ``(y, x_re, x_im)``: the output first (so ``Recurrent`` emits it), then the real and
    imaginary parts of ``x_t``. Ring initialisation: ``|λ|`` uniform on the ring ``[r_min, r_max]`` (in
    the area sense: ``|λ|² ~ U[r_min², r_max²]``), ``arg λ ~ U[0, max_phase]``; ``B ~ N(0, 1/(2I))``
    (real and imaginary parts), ``C ~ N(0, 1/N)``, ``D ~ N(0, 1)``.

    Args:
        input_size: features of ``u_t``. hidden_size: features of ``y_t``.
        bias: add an output bias (the paper has none; ``nn.LRU`` uses ``bias=False``).
        state_size: N, the complex state's size (default: ``hidden_size``).
        r_min, r_max, max_phase: the ring initialisation.
        dtype, device: of the parameters.

    Attributes:
        nu_log, theta_log, gamma_log: ``(N,)``. B_re, B_im: ``(N, input_size)``. C_re, C_im:
        ``(hidden_size, N)``. D: ``(hidden_size,)`` when ``input_size == hidden_size`` (the paper's
        ``D ⊙ u``), else ``(hidden_size, input_size)`` (a linear skip ``D u``).
    """

    state_names = ("y", "re", "im")

    def __init__(self, input_size: int, hidden_size: int, bias: bool = False, state_size: int | None = None,
                 r_min: float = 0.0, r_max: float = 1.0, max_phase: float = 6.283, dtype=None, device=None) -> None:
        super().__init__()
        check_positive_int(input_size, "input_size")
        check_positive_int(hidden_size, "hidden_size")
        N = hidden_size if state_size is None else state_size
        check_positive_int(N, "state_size")
        for name, v in (("r_min", r_min), ("r_max", r_max), ("max_phase", max_phase)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise TypeError(f"{name}: expected a finite number, got {v!r}")
        if not 0 <= r_min < r_max <= 1:
            raise ValueError(f"r_min, r_max: expected 0 <= r_min < r_max <= 1, got r_min={r_min}, r_max={r_max}")
        if max_phase <= 0:
            raise ValueError(f"max_phase: expected a positive number, got {max_phase}")
        self.input_size, self.hidden_size, self.state_size = input_size, hidden_size, N
        self.r_min, self.r_max, self.max_phase = float(r_min), float(r_max), float(max_phase)

        def param(*shape):
            return Parameter(empty(*shape, dtype=dtype, device=device))

        self.nu_log, self.theta_log, self.gamma_log = param(N), param(N), param(N)
        self.B_re, self.B_im = param(N, input_size), param(N, input_size)
        self.C_re, self.C_im = param(hidden_size, N), param(hidden_size, N)
        self.D = param(hidden_size) if input_size == hidden_size else param(hidden_size, input_size)
        self.bias = param(hidden_size) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The paper's ring initialisation (drawn from the global generator)."""
        from ..autograd.grad_mode import no_grad
        N, dt, dev = self.state_size, self.nu_log.dtype, self.nu_log.device
        with no_grad():
            u1 = empty(N, dtype="float64").uniform_(0.0, 1.0).numpy()
            u2 = empty(N, dtype="float64").uniform_(0.0, 1.0).numpy()
            u1 = np.clip(u1, 1e-12, 1.0)
            mag2 = u1 * (self.r_max ** 2 - self.r_min ** 2) + self.r_min ** 2          # |λ|²
            nu = np.log(-0.5 * np.log(np.clip(mag2, 1e-300, 1 - 1e-12)))            # |λ| = exp(-exp(ν))
            theta = np.log(np.maximum(self.max_phase * u2, 1e-12))
            gamma = np.log(np.sqrt(1 - np.exp(-2 * np.exp(nu))))
            for p, v in ((self.nu_log, nu), (self.theta_log, theta), (self.gamma_log, gamma)):
                p.copy_(tensor(v, dtype=dt, device=dev))
            s_b = 1 / math.sqrt(2 * self.input_size)
            self.B_re.normal_(0.0, s_b)
            self.B_im.normal_(0.0, s_b)
            self.C_re.normal_(0.0, 1 / math.sqrt(N))
            self.C_im.normal_(0.0, 1 / math.sqrt(N))
            self.D.normal_(0.0, 1.0)
            if self.bias is not None:
                self.bias.zero_()

    def eigenvalues(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(|λ|, arg λ, γ)``, each ``(N,)``."""
        return (-self.nu_log.exp()).exp(), self.theta_log.exp(), self.gamma_log.exp()

    def inputs(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """``γ ⊙ (B u)`` as ``(re, im)`` for ``u (…, I)``."""
        gamma = self.gamma_log.exp()
        N = self.state_size
        b = _linear(u, cat([self.B_re, self.B_im], 0)) * cat([gamma, gamma], 0)      # one GEMM for both parts
        return b[..., :N], b[..., N:]

    def readout(self, x_re: Tensor, x_im: Tensor, u: Tensor) -> Tensor:
        """``y = Re(C x) + D ⊙ u`` (``+ bias``)."""
        skip = u * self.D if self.D.ndim == 1 else _linear(u, self.D)
        y = _linear(x_re, self.C_re) - _linear(x_im, self.C_im) + skip
        return y if self.bias is None else y + self.bias

    def forward(self, input: Tensor, hx: tuple | None = None) -> tuple[Tensor, Tensor, Tensor]:
        r, phi, _ = self.eigenvalues()
        a_re, a_im = r * phi.cos(), r * phi.sin()
        b_re, b_im = self.inputs(input)
        with scope(gate="x"):
            if hx is None:
                x_re, x_im = b_re, b_im
            else:
                _, p_re, p_im = hx
                x_re = a_re * p_re - a_im * p_im + b_re
                x_im = a_im * p_re + a_re * p_im + b_im
        with scope(gate="y"):
            y = self.readout(x_re, x_im, input)
        return y, x_re, x_im


# --------------------------------------------------------------------------------------------------
# layers (the scan path, and the unrolled one through Recurrent)


class _LinearRecurrent(Recurrent):
    """One forward layer of a linear-recurrence cell: the unrolled path by ``Recurrent``, the scan here."""

    def forward(self, input, hx=None, *, lengths=None, unroll: bool = False, generator=None):
        """Run the layer over a sequence; ``unroll=True`` (or an active ``record_state_grads``) runs the cell
        step by step, else one scan. Same shapes and lengths as :class:`tr.nn.Recurrent`."""
        if unroll or recording.active() is not None:
            return super().forward(input, hx, lengths=lengths, unroll=True, generator=generator)
        packed = isinstance(input, PackedSequence)
        if packed or not isinstance(input, Tensor) or input.ndim not in (2, 3) or input.shape[0] == 0 \
                or input.shape[-1] != self.input_size:
            # packed input, and every argument error, go through Recurrent's checks and unrolled path
            return super().forward(input, hx, lengths=lengths, unroll=True, generator=generator)
        batched = input.ndim == 3
        x = input if not batched or not self.batch_first else input.transpose(0, 1)
        if not batched:
            x = x.unsqueeze(1)
        x_shape = tuple(input.shape)
        from .recurrent.cells import check_input_dtype
        check_input_dtype(x, self._first_param())
        T, B = x.shape[0], x.shape[1]
        lens = self._check_lengths(lengths, T, B, x_shape)
        state0 = self._states(hx, batched, B, x_shape)
        self._sync()
        s0 = None if state0 is None else tuple(s[0] for s in state0)
        with scope(name=self.scope_name, layer=0, direction="forward"):
            out, states = self._scan(self._cells[0][0], x, s0)        # (T, B, H), final states (B, ·)
            if lens is not None:
                on = np.arange(T)[:, None, None] < lens[None, :, None]
                last = (np.arange(T)[:, None, None] == (lens - 1)[None, :, None])
                keep = tensor(on.astype(x.dtype), device=x.device)
                pick = tensor(last.astype(x.dtype), device=x.device)
                states = tuple((s * pick).sum(0) for s in states)
                out = out * keep
            else:
                states = tuple(s[-1] for s in states)
        states = tuple(s.unsqueeze(0) for s in states)
        if not batched:
            out = out.squeeze(1)
            states = tuple(s.squeeze(1) for s in states)
        elif self.batch_first:
            out = out.transpose(0, 1)
        return out, (states if len(states) > 1 else states[0])

    def _scan(self, cell, x: Tensor, s0):
        """``(out (T, B, H), per-step states as a tuple of (T, B, ·))`` over the whole sequence."""
        a, b = cell.gates(x)
        h = linear_scan(a, b, None if s0 is None else s0[0], dim=0)
        return h, (h,)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        return s + (", batch_first=True" if self.batch_first else "")


_LAYER_DOC = """
    Call: ``layer(input, hx=None, *, lengths=None, unroll=False)``; returns ``(output, h_n)``.

    Shape (N = batch, L = sequence length):
        - input: ``(L, N, input_size)``, ``(N, L, input_size)`` with ``batch_first``, ``(L, input_size)``
          unbatched, or a ``PackedSequence`` (runs unrolled).
        - hx: {hx}; zeros if omitted.
        - output: ``(L, N, hidden_size)`` (batch first as asked), zero past each sequence's length.
        - h_n: {hn}, at each sequence's own last step.
"""


class MinGRU(_LinearRecurrent):
    __doc__ = (MinGRUCell.__doc__.replace("One step of minGRU", "A minGRU layer") + """
    Trained in parallel: ``a = 1 − z = σ(−k)``, ``b = z ⊙ h̃`` for all steps, then
    ``h = tr.linear_scan(a, b, h_0)``. The paper evaluates this scan in log space (a cumulative sum of
    ``log a`` and a log-cum-sum-exp) to avoid dividing by vanishing products of ``a``; ``linear_scan``
    combines the pairs ``(a, b)`` directly and never divides, so it needs no log form for stability
    (same model, same numbers).
""" + _LAYER_DOC.format(hx="``(1, N, hidden_size)`` (``h_0``)", hn="``(1, N, hidden_size)``") + """
    Example::

        >>> layer = tr.nn.MinGRU(4, 16)
        >>> out, h_n = layer(tr.randn(100, 8, 4))                 # out (100, 8, 16), h_n (1, 8, 16)
    """)

    def __init__(self, input_size: int, hidden_size: int, batch_first: bool = False, bias: bool = True,
                 dtype=None, device=None) -> None:
        super().__init__(MinGRUCell, input_size, hidden_size, bias=bias, batch_first=batch_first, dtype=dtype,
                         device=device)


class MinLSTM(_LinearRecurrent):
    __doc__ = (MinLSTMCell.__doc__.replace("One step of minLSTM", "A minLSTM layer") + """
    Trained in parallel as ``h = tr.linear_scan(f', i' ⊙ h̃, h_0)`` (see :class:`MinGRU` on the log form).
""" + _LAYER_DOC.format(hx="``(1, N, hidden_size)`` (``h_0``)", hn="``(1, N, hidden_size)``") + """
    Example::

        >>> out, h_n = tr.nn.MinLSTM(4, 16)(tr.randn(100, 8, 4))
    """)

    def __init__(self, input_size: int, hidden_size: int, batch_first: bool = False, bias: bool = True,
                 dtype=None, device=None) -> None:
        super().__init__(MinLSTMCell, input_size, hidden_size, bias=bias, batch_first=batch_first, dtype=dtype,
                         device=device)


class LRU(_LinearRecurrent):
    __doc__ = (LRUCell.__doc__.replace("One step of the Linear Recurrent Unit", "A Linear Recurrent Unit layer")
               + """
    Trained in parallel: ``γ ⊙ (B u_t)`` for all steps as one GEMM, the complex recurrence as one
    :class:`~tinygrad_rnn.ops.lru.LRUScan` node (complex arithmetic on the backend; the scan kernel of
    ``tr.linear_scan``; a hand-written backward that is itself a reverse scan with ``conj(λ)``), the
    read-out ``Re(C x_t) = [C_re, −C_im] [x_re; x_im]`` as one GEMM.
""" + _LAYER_DOC.format(hx="the tuple ``(y_0, x_re_0, x_im_0)``, each ``(1, N, ·)`` (``y_0`` is not read)",
                        hn="``(y_n, x_re_n, x_im_n)``: the last output and the complex state's parts") + """
    Example::

        >>> lru = tr.nn.LRU(16, 16, state_size=64, r_min=0.9, r_max=0.999)
        >>> out, (y_n, re_n, im_n) = lru(tr.randn(1000, 8, 16))    # out (1000, 8, 16), re_n (1, 8, 64)
    """)

    def __init__(self, input_size: int, hidden_size: int, state_size: int | None = None, r_min: float = 0.0,
                 r_max: float = 1.0, max_phase: float = 6.283, batch_first: bool = False, dtype=None,
                 device=None) -> None:
        super().__init__(LRUCell, input_size, hidden_size, bias=False, batch_first=batch_first, state_size=state_size,
                         r_min=r_min, r_max=r_max, max_phase=max_phase, dtype=dtype, device=device)
        self.state_size = self._cells[0][0].state_size

    def _scan(self, cell: LRUCell, x: Tensor, s0):
        N, H = cell.state_size, cell.hidden_size
        gamma = cell.gamma_log.exp()

        def pairs(re, im, axis):                       # interleave [re₀, im₀, re₁, im₁, …] along ``axis``
            z = stack([re, im], axis + 1)
            return z.reshape(*z.shape[:axis], 2 * N, *z.shape[axis + 2:])

        b = _linear(x, pairs(cell.B_re, cell.B_im, 0)) * pairs(gamma, gamma, 0)      # γ ⊙ (B u)
        h0 = None if s0 is None else pairs(s0[1], s0[2], 1)
        xs = LRUScan.apply(b, cell.nu_log, cell.theta_log, *(() if h0 is None else (h0,)))
        skip = x * cell.D if cell.D.ndim == 1 else _linear(x, cell.D)
        y = _linear(xs, pairs(cell.C_re, -cell.C_im, 1).reshape(H, 2 * N)) + skip   # Re(C x) + D u
        if cell.bias is not None:
            y = y + cell.bias
        return y, (y, xs[..., 0::2], xs[..., 1::2])

    def extra_repr(self) -> str:
        c = self._cells[0][0]
        s = f"{self.input_size}, {self.hidden_size}, state_size={self.state_size}"
        if (c.r_min, c.r_max) != (0.0, 1.0):
            s += f", r_min={c.r_min:g}, r_max={c.r_max:g}"
        return s + (", batch_first=True" if self.batch_first else "")
