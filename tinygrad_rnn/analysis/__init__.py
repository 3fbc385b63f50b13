"""Looking inside a recurrent model: gradient flow through time, hidden-state traces, Jacobian spectra.

    flow = tr.analysis.grad_norms_through_time(lstm, x, loss_fn)     # ‖∂L/∂h_t‖ per step
    trace = tr.analysis.hidden_trace(lstm, x)                          # h_t, c_t, gates over time
    spec = tr.analysis.jacobian_spectrum(rnn, x)                       # σ(∂h_t/∂h_{t-1}), ρ(W_hh)
    with tr.analysis.record_state_grads() as rec:                      # per-step state gradients
        out, _ = lstm(x)
"""

from ..nn.recurrent.recording import LayerStateGrads, StateGradRecord, record_state_grads
from .gradflow import GradientFlow, grad_norms_through_time
from .spectrum import JacobianSpectrum, jacobian_spectrum, step_jacobians
from .traces import HiddenTrace, hidden_trace

__all__ = ["GradientFlow", "HiddenTrace", "JacobianSpectrum", "LayerStateGrads", "StateGradRecord",
           "grad_norms_through_time", "hidden_trace", "jacobian_spectrum", "record_state_grads", "step_jacobians"]
