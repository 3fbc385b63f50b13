"""Scratch benchmark: fused kernels vs PyTorch CPU nn.RNN/LSTM/GRU, one training step (fwd + loss + bwd).

    python bench/recurrent_kernels.py [--threads 2] [--reps 7] [--modes lstm,gru,rnn_tanh]

Interleaves torch and ours in one process; prints median milliseconds and the ratio ours/torch.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from tinygrad_rnn.nn.recurrent import fused

CONFIGS = [(100, 32, 64, 256), (50, 64, 128, 512), (200, 16, 32, 128)]


def torch_net(mode, I, H, layers, bidir):
    kw = dict(input_size=I, hidden_size=H, num_layers=layers, bidirectional=bidir)
    if mode == "lstm":
        return torch.nn.LSTM(**kw)
    if mode == "gru":
        return torch.nn.GRU(**kw)
    return torch.nn.RNN(nonlinearity=mode[4:], **kw)


def weights_of(net, layers, D):
    out = []
    for layer in range(layers):
        ws = []
        for d in range(D):
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            names = ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
            ws.append(tuple(getattr(net, n + sfx).detach().numpy() for n in names))
        out.append(ws)
    return out


def bench(mode, T, B, I, H, layers=1, bidir=False, reps=7):
    D = 2 if bidir else 1
    net = torch_net(mode, I, H, layers, bidir)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((T, B, I)).astype(np.float32)
    R = rng.standard_normal((T, B, D * H)).astype(np.float32)
    ws = weights_of(net, layers, D)
    h0 = np.zeros((D, B, H), np.float32)
    c0 = h0 if mode == "lstm" else None
    xt, Rt = torch.from_numpy(x), torch.from_numpy(R)

    def step_torch():
        xg = xt.clone().requires_grad_()
        out, _ = net(xg)
        (out * Rt).sum().backward()

    def step_ours():
        inp, caches = x, []
        for layer in range(layers):
            inp, _, _, cache = fused.forward(np, mode, inp, h0, c0, ws[layer], None)
            caches.append(cache)
        _ = (inp * R).sum()
        d = R
        for cache in reversed(caches):
            d, *_ = fused.backward(np, cache, d, None, None)

    t_torch, t_ours = [], []
    for f in (step_torch, step_ours):
        f()
    for _ in range(reps):
        for f, acc in ((step_torch, t_torch), (step_ours, t_ours)):
            t0 = time.perf_counter()
            f()
            acc.append(time.perf_counter() - t0)
    a, b = np.median(t_torch) * 1e3, np.median(t_ours) * 1e3
    return a, b


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--modes", default="lstm,gru,rnn_tanh")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    print(f"{'mode':9s} {'T,B,I,H':18s} {'layers':>6s} {'torch ms':>9s} {'ours ms':>9s} {'ratio':>6s}")
    for mode in args.modes.split(","):
        runs = [(c, 1, False) for c in CONFIGS]
        if mode == "lstm":
            runs.append((CONFIGS[0], 2, True))
        for (T, B, I, H), layers, bidir in runs:
            a, b = bench(mode, T, B, I, H, layers, bidir, args.reps)
            tag = f"{layers}{' bi' if bidir else ''}"
            print(f"{mode:9s} {str((T, B, I, H)):18s} {tag:>6s} {a:9.1f} {b:9.1f} {b / a:6.2f}", flush=True)


if __name__ == "__main__":
    main()
