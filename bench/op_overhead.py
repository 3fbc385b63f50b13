"""Per-op overhead on tiny tensors, where Python bookkeeping dominates the cost.

Two workloads, each timed for raw NumPy, a minimal 30-line tape (below), tinygrad_rnn and PyTorch eager
(when installed), all in the same run:

- forward: one ``a * b`` with ``requires_grad`` leaves (a graph node is recorded);
- forward + backward: ``c = a * b + a; c.sum().backward()`` (gradients reset to ``None`` each time).

    .venv/bin/python bench/op_overhead.py [--n 4] [--rounds 15]

The machine may be shared and noisy, so the libraries are timed in turns (round-robin, in process CPU time,
with the garbage collector off as ``timeit`` does) and each column is the median over the rounds.

Targets (issue 2): forward <= 1.0x PyTorch per op, forward + backward <= 0.4x PyTorch.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import timeit

import numpy as np

try:
    import tinygrad_rnn as tr
except ImportError:                      # run from a checkout without `pip install -e .`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import tinygrad_rnn as tr


class Tape:
    """The smallest reverse-mode tape that can run the workloads: a baseline for pure Python cost."""

    __slots__ = ("value", "grad", "parents")

    def __init__(self, value, parents=()):
        self.value, self.grad, self.parents = value, None, parents

    def __mul__(self, other):
        return Tape(self.value * other.value, ((self, other.value), (other, self.value)))

    def __add__(self, other):
        return Tape(self.value + other.value, ((self, None), (other, None)))

    def sum(self):
        return Tape(self.value.sum(), ((self, np.ones_like(self.value)),))

    def backward(self):
        order, seen, stack = [], set(), [(self, False)]
        while stack:                                   # iterative topological order
            node, done = stack.pop()
            if done:
                order.append(node)
            elif id(node) not in seen:
                seen.add(id(node))
                stack.append((node, True))
                stack.extend((p, False) for p, _ in node.parents)
        grads = {id(self): np.ones_like(self.value)}
        for node in reversed(order):
            g = grads.pop(id(node))
            if not node.parents:
                node.grad = g if node.grad is None else node.grad + g
            for p, local in node.parents:
                pg = g if local is None else g * local
                grads[id(p)] = pg if id(p) not in grads else grads[id(p)] + pg


def per_call(fn, number: int) -> float:
    """CPU seconds per call of ``fn`` over one block of ``number`` calls (process time: steadier on a shared
    machine than wall time), garbage collector off."""
    return timeit.Timer(fn, timer=time.process_time).timeit(number) / number


def workloads(n: int):
    """name -> (forward fn, forward+backward fn) per library."""
    rng = np.random.default_rng(0)
    av, bv = rng.standard_normal(n).astype(np.float32), rng.standard_normal(n).astype(np.float32)
    out = {}

    def np_fwd():
        return av * bv

    def np_fwdbwd():                     # the same arithmetic, gradients written by hand
        c = av * bv + av
        g = np.ones_like(c)
        return g * bv + g, g * av

    out["numpy"] = (np_fwd, np_fwdbwd)

    ta, tb = Tape(av), Tape(bv)

    def tape_fwdbwd():
        ta.grad = tb.grad = None
        (ta * tb + ta).sum().backward()

    out["tape"] = (lambda: ta * tb, tape_fwdbwd)

    xa, xb = tr.tensor(av, requires_grad=True), tr.tensor(bv, requires_grad=True)

    def tr_fwdbwd():
        xa.grad = xb.grad = None
        (xa * xb + xa).sum().backward()

    out["tinygrad_rnn"] = (lambda: xa * xb, tr_fwdbwd)

    try:
        import torch
    except ImportError:
        print("torch is not installed: PyTorch columns skipped")
        return out
    torch.set_num_threads(1)
    pa, pb = torch.tensor(av, requires_grad=True), torch.tensor(bv, requires_grad=True)

    def torch_fwdbwd():
        pa.grad = pb.grad = None
        (pa * pb + pa).sum().backward()

    out["torch"] = (lambda: pa * pb, torch_fwdbwd)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=4, help="tensor length (tiny: overhead dominates)")
    ap.add_argument("--rounds", type=int, default=15, help="turns of every library; columns are medians")
    ap.add_argument("--number", type=int, default=4000, help="calls per timed block (fwd+bwd: a quarter)")
    args = ap.parse_args()
    libs = workloads(args.n)
    samples = {name: ([], []) for name in libs}
    for _ in range(args.rounds):                 # interleaved: a load spike hits every library alike
        for name, (fwd, fwdbwd) in libs.items():
            samples[name][0].append(per_call(fwd, args.number))
            samples[name][1].append(per_call(fwdbwd, max(1, args.number // 4)))
    results = {name: (statistics.median(f), statistics.median(fb)) for name, (f, fb) in samples.items()}
    ref = results.get("torch")
    print(f"tensors of {args.n} float32, CPU time, median of {args.rounds} interleaved rounds")
    print(f"{'':14s}{'forward/op':>12s}{'x torch':>9s}   {'fwd+bwd':>10s}{'x torch':>9s}")
    for name, (f, fb) in results.items():
        rf = f"{f / ref[0]:8.2f}x" if ref else "      -"
        rfb = f"{fb / ref[1]:8.2f}x" if ref else "      -"
        print(f"{name:14s}{f * 1e6:10.2f}us{rf}   {fb * 1e6:8.2f}us{rfb}")
    ours = results["tinygrad_rnn"]
    for base in ("numpy", "tape"):
        print(f"tinygrad_rnn / {base}: forward {ours[0] / results[base][0]:.2f}x, "
              f"fwd+bwd {ours[1] / results[base][1]:.2f}x")
    if ref:
        print(f"targets: forward <= 1.0x torch (now {ours[0] / ref[0]:.2f}x), "
              f"fwd+bwd <= 0.4x torch (now {ours[1] / ref[1]:.2f}x)")


if __name__ == "__main__":
    main()
