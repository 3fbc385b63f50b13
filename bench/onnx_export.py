"""Export an LSTM language model with ``tr.onnx.export`` and time inference: this project's forward
(NumPy, ``no_grad``) against onnxruntime running the exported file, on the CPU.

    PYTHONPATH=. python3 bench/onnx_export.py [--threads N]

Needs the ``onnx`` extra (``pip install -e '.[onnx]'``). Prints the export time, the file size, the
largest difference between the two outputs and the median time per forward of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

import numpy as np

import tinygrad_rnn as tr


class LM(tr.nn.Module):
    def __init__(self, V: int, E: int, H: int, L: int) -> None:
        super().__init__()
        self.emb = tr.nn.Embedding(V, E)
        self.rnn = tr.nn.LSTM(E, H, num_layers=L, batch_first=True)
        self.head = tr.nn.Linear(H, V)

    def forward(self, tokens):
        out, _ = self.rnn(self.emb(tokens))
        return self.head(out)


def median_ms(fn, repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def main() -> None:
    import onnxruntime as ort
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1, help="onnxruntime intra-op threads (default 1)")
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    for V, E, H, L, B, T in ((64, 32, 128, 1, 16, 32), (256, 128, 256, 2, 32, 64)):
        tr.manual_seed(0)
        model = LM(V, E, H, L).eval()
        tokens = tr.randint(0, V, (B, T))
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "lm.onnx")
            t0 = time.perf_counter()
            tr.onnx.export(model, (tokens,), path, input_names=["tokens"], output_names=["logits"],
                           dynamic_axes={"tokens": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}})
            export_s = time.perf_counter() - t0
            size = os.path.getsize(path)
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = args.threads
            sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        feed = {"tokens": tokens.numpy()}
        with tr.no_grad():
            ours = model(tokens).numpy()
            ours_ms = median_ms(lambda m=model, x=tokens: m(x), args.repeat)
        theirs = sess.run(None, feed)[0]
        ort_ms = median_ms(lambda s=sess, f=feed: s.run(None, f), args.repeat)
        print(f"LM V={V} E={E} H={H} layers={L}, tokens ({B}, {T}): export {export_s * 1e3:.0f} ms, "
              f"{size / 1e6:.2f} MB; max |diff| {np.abs(ours - theirs).max():.1e}; forward: tinygrad_rnn "
              f"{ours_ms:.1f} ms, onnxruntime ({args.threads} thread) {ort_ms:.1f} ms")


if __name__ == "__main__":
    main()
