"""The LRU's complex diagonal recurrence as one ``Function`` (real and imaginary parts carried as real arrays)."""

from __future__ import annotations

from ..autograd.function import Function
from .scan import linear_recurrence


class LRUScan(Function):
    """x_t = λ ⊙ x_{t−1} + b_t with λ = exp(−exp(ν) + i·exp(θ)), x_{−1} = h0 (zeros without it).

    Arrays: ``b (T, B, 2N)``, ``h0 (B, 2N)`` and the output hold the complex numbers interleaved along the
    last dim, ``[re₀, im₀, re₁, im₁, …]`` (NumPy's and CuPy's complex layout, so they are viewed as
    complex arrays without a copy); ``nu, theta (N,)``. The recurrence runs in complex arithmetic
    (``linear_recurrence`` on complex arrays).

    VJP, with G = ∂L/∂re + i ∂L/∂im of each complex quantity: δ_t = g_t + conj(λ) δ_{t+1} (a reverse
    scan), db_t = δ_t, G_λ = Σ_{t,b} conj(x_{t−1}) δ_t, G_μ = conj(λ) G_λ for μ = log λ, so
    dν = −exp(ν) Re G_μ, dθ = exp(θ) Im G_μ, and dh0 = conj(λ) δ_0.
    """

    @staticmethod
    def forward(ctx, b, nu, theta, h0=None):
        xp = ctx.xp
        ctype = xp.result_type(b.dtype, xp.complex64)
        lam = xp.exp(-xp.exp(nu) + 1j * xp.exp(theta)).astype(ctype)
        bc = xp.ascontiguousarray(b).view(ctype)                       # (T, B, N) complex, no copy
        h0c = None if h0 is None else xp.ascontiguousarray(h0).view(ctype)
        first = None if h0c is None else lam * h0c + bc[0]
        xc = linear_recurrence(xp, xp.broadcast_to(lam, bc.shape), bc, first=first)
        ctx.lam, ctx.xc, ctx.h0c = lam, xc, h0c
        ctx.save_for_backward(nu, theta)
        return xc.view(b.dtype)

    @staticmethod
    def backward(ctx, dx):
        xp = ctx.xp
        nu, theta = ctx.saved
        lam, xc, h0c = ctx.lam, ctx.xc, ctx.h0c
        g = xp.ascontiguousarray(dx, dtype=dx.dtype).view(xc.dtype)
        cl = xp.conj(lam)
        delta = xp.empty_like(g)          # the reverse scan writes it backwards: delta stays in forward order
        linear_recurrence(xp, xp.broadcast_to(cl, g.shape), g[::-1], out=delta[::-1])
        need_b, need_nu, need_theta = ctx.needs_input_grad[:3]
        db = delta.view(dx.dtype) if need_b else None
        dnu = dtheta = dh0 = None
        if need_nu or need_theta:
            g_lam = xp.einsum("tbn,tbn->n", xp.conj(xc[:-1]), delta[1:])
            if h0c is not None:
                g_lam = g_lam + (xp.conj(h0c) * delta[0]).sum(axis=0)
            g_mu = cl * g_lam
            dnu = (-xp.exp(nu) * g_mu.real).astype(nu.dtype, copy=False) if need_nu else None
            dtheta = (xp.exp(theta) * g_mu.imag).astype(theta.dtype, copy=False) if need_theta else None
        if h0c is not None and len(ctx.needs_input_grad) > 3 and ctx.needs_input_grad[3]:
            dh0 = xp.ascontiguousarray(cl * delta[0]).view(dx.dtype)
        return (db, dnu, dtheta, dh0) if h0c is not None else (db, dnu, dtheta)
