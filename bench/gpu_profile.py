"""Where the GPU time of a fused recurrent training step goes: host (Python + launches) vs device.

    PYTHONPATH=. python3 bench/gpu_profile.py

``cupyx.profiler.benchmark`` reports, per call, the CPU time of the Python call and the GPU time
between events around it. When the CPU time is close to the GPU time, the step is bound by the
host issuing kernels one step at a time, not by the GEMMs.
"""

from __future__ import annotations

import cupy
from cupyx.profiler import benchmark

import tinygrad_rnn as tr


def main() -> None:
    for mode, (T, B, I, H) in (("LSTM", (100, 128, 512, 1024)), ("LSTM", (200, 16, 32, 128)),
                               ("GRU", (100, 128, 512, 1024)), ("RNN", (100, 128, 512, 1024))):
        tr.manual_seed(0)
        layer = getattr(tr.nn, mode)(I, H).to("cuda")
        x = tr.randn(T, B, I, device="cuda", requires_grad=True)

        def step(layer=layer, x=x):
            out, _ = layer(x)
            out.sum().backward()

        def fwd(layer=layer, x=x):
            with tr.no_grad():
                layer(x)

        for name, fn in (("train", step), ("forward", fwd)):
            r = benchmark(fn, n_repeat=10, n_warmup=3)
            cpu = r.cpu_times.mean() * 1e3
            gpu = r.gpu_times.mean() * 1e3
            print(f"{mode} {(T, B, I, H)} {name:8s} host {cpu:7.2f} ms   device {gpu:7.2f} ms   "
                  f"host per step {cpu / T * 1e3:6.1f} us")
        # the recurrent GEMM alone, as the kernel issues it: (G*H, H) @ (H, B), T times
        G = {"LSTM": 4, "GRU": 3, "RNN": 1}[mode]
        w = cupy.random.standard_normal((1, G * H, H), dtype=cupy.float32)
        h = cupy.random.standard_normal((1, H, B), dtype=cupy.float32)
        o = cupy.empty((1, G * H, B), dtype=cupy.float32)

        def gemms(w=w, h=h, o=o, T=T):
            for _ in range(T):
                cupy.matmul(w, h, out=o)

        r = benchmark(gemms, n_repeat=10, n_warmup=3)
        print(f"{mode} {(T, B, I, H)} {T} recurrent GEMMs alone: host {r.cpu_times.mean() * 1e3:7.2f} ms   "
              f"device {r.gpu_times.mean() * 1e3:7.2f} ms")


if __name__ == "__main__":
    main()
