"""CuPy elementwise kernels for the per-step gate arithmetic of the fused kernels (``fused.py``).

``fused.forward``/``fused.backward`` run the same algorithm on NumPy and CuPy; when ``xp`` is CuPy
they call these functions instead of the few NumPy ufunc calls of one step, so each step's gate math
is one kernel launch. Each kernel mirrors its NumPy twin in ``fused.py`` line for line, with the same
buffers and layout: per step a gate buffer ``(D, G*H, B)`` (gate k of direction d is rows
``k*H:(k+1)*H`` of ``gates[d]``) and states ``(D, H, B)``, feature-major. The sigmoid rows hold
pre-activations already halved (scaled weights), so σ(z) = ½·tanh(z/2) + ½ reads ``0.5*tanh(v)+0.5``.

CuPy is imported on first use, so this module imports without it. Kernels use a generic type ``T``
(float32 or float64).
"""

from __future__ import annotations

_kernels: dict = {}

_PREAMBLE = """
const int hb = H * B;
const int d = i / hb;
const int rem = i - d * hb;
const T half = 0.5;
"""

_SOURCES = {
    # gates (D, 4H, B) raw: in pre-activations (gx), out activations i,f,g,o; rec = W_hh h (scaled).
    "lstm_forward": (
        "T c_prev, raw T rec, int32 H, int32 B",
        "raw T gates, T c, T tc, T h",
        _PREAMBLE + """
        const int k = d * 4 * hb + rem;
        const T ig = half * tanh(gates[k] + rec[k]) + half;
        const T fg = half * tanh(gates[k + hb] + rec[k + hb]) + half;
        const T gg = tanh(gates[k + 2 * hb] + rec[k + 2 * hb]);
        const T og = half * tanh(gates[k + 3 * hb] + rec[k + 3 * hb]) + half;
        gates[k] = ig;
        gates[k + hb] = fg;
        gates[k + 2 * hb] = gg;
        gates[k + 3 * hb] = og;
        c = fg * c_prev + ig * gg;
        tc = tanh(c);
        h = og * tc;
        """),
    # gates (D, 3H, B) raw: r,z,n; rec = W_hh h (r,z rows scaled); b_hn (D, H) raw (zeros if no bias).
    "gru_forward": (
        "T h_prev, raw T rec, raw T b_hn, int32 H, int32 B",
        "raw T gates, T hn, T h",
        _PREAMBLE + """
        const int k = d * 3 * hb + rem;
        const T r = half * tanh(gates[k] + rec[k]) + half;
        const T z = half * tanh(gates[k + hb] + rec[k + hb]) + half;
        hn = rec[k + 2 * hb] + b_hn[d * H + rem / B];
        const T n = tanh(gates[k + 2 * hb] + r * hn);
        gates[k] = r;
        gates[k + hb] = z;
        gates[k + 2 * hb] = n;
        h = n + z * (h_prev - n);
        """),
    "rnn_forward": (
        "T g, T rec, int32 relu",
        "T h",
        """
        const T v = g + rec;
        h = relu ? (v > (T)0 ? v : (T)0) : tanh(v);
        """),
    # K (D, 4H, B) raw: in the step-independent factors, out dz (i,f,g by dc, o by dh).
    "lstm_backward": (
        "T dh, T dc_next, T k1, T f, int32 H, int32 B",
        "raw T K, T dc, T dc_prev",
        _PREAMBLE + """
        const int k = d * 4 * hb + rem;
        const T v = dh * k1 + dc_next;
        dc = v;
        K[k] *= v;
        K[k + hb] *= v;
        K[k + 2 * hb] *= v;
        K[k + 3 * hb] *= dh;
        dc_prev = v * f;
        """),
    "gru_backward_carry": (
        "T dh, T z",
        "T rec",
        "rec += dh * z;"),
}


def _kernel(name: str):
    k = _kernels.get(name)
    if k is None:
        import cupy

        ins, outs, body = _SOURCES[name]
        k = _kernels[name] = cupy.ElementwiseKernel(ins, outs, body, f"tinygrad_rnn_{name}")
    return k


def lstm_forward_step(gates, rec, c_prev, c, tc, h, H: int, B: int) -> None:
    """One LSTM step: activate ``gates`` in place, write ``c``, ``tc = tanh(c)`` and ``h``."""
    _kernel("lstm_forward")(c_prev, rec, H, B, gates, c, tc, h)


def gru_forward_step(gates, rec, b_hn, h_prev, hn, h, H: int, B: int) -> None:
    """One GRU step: activate ``gates`` in place, write ``hn = W_hn h + b_hn`` and ``h``."""
    _kernel("gru_forward")(h_prev, rec, b_hn, H, B, gates, hn, h)


def rnn_forward_step(g, rec, h, relu: bool) -> None:
    """One Elman step: ``h = act(g + rec)``."""
    _kernel("rnn_forward")(g, rec, int(relu), h)


def lstm_backward_step(dh, dc_next, k1, f, K, dc, dc_prev, H: int, B: int) -> None:
    """One LSTM BPTT step: ``dc = dc_next + dh*k1``; gate factors ``K`` become dz in place; ``dc_prev = dc*f``."""
    _kernel("lstm_backward")(dh, dc_next, k1, f, H, B, K, dc, dc_prev)


def gru_backward_carry(rec, dh, z) -> None:
    """``rec += dh * z``: the direct path of ``h' = (1-z)*n + z*h`` added to ``W_hh^T dz``."""
    _kernel("gru_backward_carry")(dh, z, rec)
