"""A cell written outside the package, as a user would: the minimal gated unit (Zhou et al. 2016).

    f  = σ(W_f [x, h] + b_f)
    h̃  = tanh(W_h [x, f ⊙ h] + b_h)
    h' = (1 − f) ⊙ h + f ⊙ h̃

Weights stacked gate by gate as PyTorch's cells do (rows ``f | h̃``). Used by the tests of
``tr.nn.Recurrent``, the pictures, the analysis and ``tinygrad-rnn memory --cells mgu_cell:MGUCell``.
"""

import math

import tinygrad_rnn as tr


class MGUCell(tr.nn.Module):
    def __init__(self, input_size, hidden_size, bias=True, dtype=None, device=None):
        super().__init__()
        self.input_size, self.hidden_size = input_size, hidden_size
        k = 1 / math.sqrt(hidden_size)

        def param(*shape):
            return tr.nn.Parameter(tr.empty(*shape, dtype=dtype, device=device).uniform_(-k, k))

        self.weight_ih, self.weight_hh = param(2 * hidden_size, input_size), param(2 * hidden_size, hidden_size)
        self.bias_ih, self.bias_hh = (param(2 * hidden_size), param(2 * hidden_size)) if bias else (None, None)

    def forward(self, input, hx=None):
        H = self.hidden_size
        h = input.new_zeros(input.shape[0], H) if hx is None else hx
        bi = self.bias_ih if self.bias_ih is not None else input.new_zeros(2 * H)
        bh = self.bias_hh if self.bias_hh is not None else input.new_zeros(2 * H)
        with tr.autograd.scope(gate="f"):
            f = (input @ self.weight_ih[:H].t() + bi[:H] + h @ self.weight_hh[:H].t() + bh[:H]).sigmoid()
        with tr.autograd.scope(gate="n"):
            n = (input @ self.weight_ih[H:].t() + bi[H:] + (f * h) @ self.weight_hh[H:].t() + bh[H:]).tanh()
        with tr.autograd.scope(gate="h"):
            return (1 - f) * h + f * n
