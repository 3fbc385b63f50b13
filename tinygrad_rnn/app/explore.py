"""``tinygrad-rnn explore``: train (or read) the runs behind the interactive page and write it.

The page (:func:`tinygrad_rnn.viz.explorer`) shows five views of real runs of this engine plus the
unrolled graph of a small LSTM. This module collects their data:

- the memory sweep (every cell, T and seed: test accuracy, ‖∂L/∂h_t‖ at init and after training, and
  for each run one test sequence it got right and one it got wrong);
- the hidden states and LSTM gates of the trained models (largest T, first seed) on one held-out
  sequence, recorded by :func:`tinygrad_rnn.analysis.hidden_trace`;
- for the vanilla RNN, σ_max(W_hh) at init and after training and the prediction
  ``‖∂L/∂h_T‖ · σ_max(W_hh)^{T−t}`` (an upper bound for tanh) beside the measured norms;
- a sequence-reversal encoder–decoder with and without attention: the encoder's states, the context
  vector, the decoder's states, outputs and attention weights of greedy decoding;
- the unrolled graph (SVG from Graphviz) of a 4-step LSTM with gradient norms on its nodes.

``--from DEMO_OUT`` reads the memory sweep and hidden traces of a finished ``tinygrad-rnn demo``
(``memory.json``, ``hidden_traces.json``); the demo keeps no models, so the per-run example sequences
and σ_max(W_hh) are then absent (the page says so) and the encoder–decoder is trained here.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import time
from dataclasses import replace

import numpy as np

from .. import nn, optim
from ..autograd import no_grad, record_grad_norms
from ..random import manual_seed
from ..tensor import randn, tensor
from . import experiments as ex

# The page's memory sweep: the demo's task and cells, fewer steps and seeds so the default run takes a few
# minutes on 2 CPU cores (the demo's own sweep is read with --from).
EXPLORE_MEMORY = replace(ex.DEMO_MEMORY, seeds=2, steps=400, test_size=300)
QUICK_MEMORY = replace(ex.QUICK_MEMORY, lengths=(5, 12), steps=40, test_size=100)

# Sequence reversal: tokens 0 = <pad>, 1 = <sos>, 2 = <eos>, 3.. = the symbols.
PAD, SOS, EOS, FIRST = 0, 1, 2, 3
S2S_SYMBOLS = 8
S2S_DEFAULT = {"lengths": (5, 8), "hidden": 32, "embed": 16, "steps": 600, "batch": 32, "lr": 1e-2}
S2S_QUICK = {"lengths": (4, 5), "hidden": 12, "embed": 8, "steps": 40, "batch": 16, "lr": 1e-2}


def _symbol_labels(K: int, D: int) -> list:
    """Names of the memory task's input channels: signal symbols A.., distractors a.., the recall cue ?."""
    return [chr(65 + i) for i in range(K)] + [chr(97 + i) for i in range(D)] + ["?"]


def _channels(x: np.ndarray) -> list:
    """The one-hot channel of every step of one sequence ``(T, C)``."""
    return [int(v) for v in np.asarray(x).argmax(-1)]


# --------------------------------------------------------------------------------------------------
# the memory sweep and what the trained models did


def run_examples(s, model, T: int, seed: int, device) -> dict:
    """The first held-out test sequence the model got right and the first it got wrong (or None)."""
    x, y = ex._batch(s, T, s.test_size, ex.test_seed(seed), device)
    with no_grad():
        pred = model(x).numpy().argmax(1)
    xs, ys = x.numpy(), y.numpy()
    out = {}
    for key, want in (("right", True), ("wrong", False)):
        hits = np.nonzero((pred == ys) == want)[0]
        if len(hits):
            b = int(hits[0])
            out[key] = {"index": b, "channels": _channels(xs[:, b]), "target": int(ys[b]), "pred": int(pred[b])}
        else:
            out[key] = None
    return out


def _sigma_max(model) -> float:
    return float(np.linalg.norm(model.rnn.weight_hh_l0.detach().numpy().astype(np.float64), 2))


def _initial_model(s, cell: str, seed: int, device):
    """The model ``train_run`` starts from (the same seed, the same construction order)."""
    manual_seed(seed)
    I, O = ex._input_output(s)
    return ex.SequenceModel(cell, I, s.hidden_size, O, forget_bias=s.forget_bias, device=device)


def train_memory(s, seed: int, device, progress: bool):
    """Run the memory sweep; add examples and σ_max(W_hh) to each run record.

    Returns ``(runs, traces, models)``: the run records, the hidden traces (largest T, first seed, by cell)
    and the trained models by ``(cell, T, k)``.
    """
    sweep = ex.Sweep(s, seed=seed, device=device)
    sweep.run(progress=progress, keep_models=lambda cell, T, k: True)
    for r in sweep.runs:
        k = r["seed"] - seed
        model = sweep.models[(r["cell"], r["T"], k)]
        r["examples"] = run_examples(s, model, r["T"], r["seed"], device)
        if r["cell"] == "rnn":
            r["sigma_max_init"] = _sigma_max(_initial_model(s, "rnn", r["seed"], device))
            r["sigma_max_final"] = _sigma_max(model)
    T = max(s.lengths)
    traces = {}
    for cell in s.cells:
        model = sweep.models.get((cell, T, 0))
        if model is None:
            continue
        t = ex.trace_example(s, model, T, seed, device)
        x, _ = ex._batch(s, T, 1, ex.test_seed(seed) + 1, device)
        with no_grad():
            t["pred"] = int(model(x).numpy().argmax(1)[0])
        traces[cell] = t
    return sweep.runs, traces, sweep.models


def memory_section(s, runs: list) -> dict:
    """The memory view: every run's numbers (and examples where recorded)."""
    keep = ("cell", "T", "seed", "accuracy", "success", "grad_h1_init", "grad_h1_final", "examples")
    return {"K": s.K, "labels": _symbol_labels(s.K, s.K), "cells": list(s.cells), "lengths": list(s.lengths),
            "success_threshold": ex.MEMORY_SUCCESS,
            "runs": [{k: r.get(k) for k in keep} for r in runs]}


def gradient_section(s, runs: list) -> dict:
    """The gradient view: per (cell, T), the median ‖∂L/∂h_t‖ over seeds at init and after training;
    for the vanilla RNN the median of ``‖∂L/∂h_T‖ · σ_max(W_hh)^{T−t}`` per seed beside it."""
    curves = []
    for T in s.lengths:
        for cell in s.cells:
            rs = [r for r in runs if r["cell"] == cell and r["T"] == T]
            if not rs:
                continue
            row = {"cell": cell, "T": T, "seeds": len(rs)}
            for when in ("init", "final"):
                g = np.array([r[f"grad_norms_{when}"] for r in rs], dtype=np.float64)
                row[when] = np.median(g, axis=0).tolist()
                sig = [r.get(f"sigma_max_{when}") for r in rs]
                if cell == "rnn" and all(v is not None for v in sig):
                    powers = np.arange(T - 1, -1, -1, dtype=np.float64)
                    pred = g[:, -1:] * np.array(sig)[:, None] ** powers[None, :]
                    row[f"predicted_{when}"] = np.median(pred, axis=0).tolist()
                    row[f"sigma_max_{when}"] = float(np.median(sig))
            curves.append(row)
    return {"lengths": list(s.lengths), "cells": list(s.cells), "curves": curves}


def hidden_section(s, traces: dict) -> dict:
    """The hidden-state view: each cell's ``h_t`` on one held-out sequence (largest T, first seed)."""
    T = max(s.lengths)
    first = next(iter(traces.values()))
    return {"T": T, "labels": _symbol_labels(s.K, s.K), "channels": _channels(first["input"]),
            "target": int(np.ravel(first["target"])[0]),
            "cells": {c: {"h": t["h"], "pred": t.get("pred")} for c, t in traces.items()}}


def lstm_section(traces: dict) -> dict | None:
    """The gates view: i, f, g, o and c_t of the trained LSTM on the hidden view's sequence."""
    t = traces.get("lstm")
    if t is None:
        return None
    return {"gates": {g: t[g] for g in ("i", "f", "g", "o")}, "c": t["c"], "h": t["h"]}


# --------------------------------------------------------------------------------------------------
# the encoder–decoder


def _reversal_batch(rng: np.random.Generator, n: int, lo: int, hi: int, device):
    lengths = rng.integers(lo, hi + 1, size=n)
    S = int(lengths.max())
    src = np.full((n, S), PAD, dtype=np.int64)
    tgt = np.full((n, S + 1), PAD, dtype=np.int64)
    for b, L in enumerate(lengths):
        seq = rng.integers(FIRST, FIRST + S2S_SYMBOLS, size=L)
        src[b, :L] = seq
        tgt[b, :L] = seq[::-1]
        tgt[b, L] = EOS
    return tensor(src, device=device), lengths, tensor(tgt, device=device)


def _reversal_model(cfg: dict, attention: bool, device):
    V, H, E = FIRST + S2S_SYMBOLS, cfg["hidden"], cfg["embed"]
    enc = nn.Encoder(V, E, H, cell="lstm", padding_idx=PAD, device=device)
    attn = nn.BahdanauAttention(H, enc.output_size, H, device=device) if attention else None
    dec = nn.Decoder(V, E, H, cell="lstm", attention=attn, device=device)
    return nn.Seq2Seq(enc, dec, SOS, EOS, PAD)


def _decode_trace(model, src, lengths, max_len: int) -> dict:
    """Greedy decoding of one source, step by step: outputs, the decoder's top state, attention weights."""
    model.eval()
    with no_grad():
        keys, state, mask = model.encode(src, lengths)
        context = (state[0] if isinstance(state, tuple) else state)[-1, 0]
        pk = model.decoder.prepare(keys)
        token = tensor(np.array([SOS]), device=src.device)
        outs, states, weights = [], [], []
        for _ in range(max_len):
            logits, state, w = model.decoder.step(token, state, keys, mask, pk)
            token = logits.argmax(dim=1)
            outs.append(int(token.numpy()[0]))
            states.append((state[0] if isinstance(state, tuple) else state)[-1, 0].numpy().tolist())
            if w is not None:
                weights.append(w.numpy()[0].tolist())
            if outs[-1] == EOS:
                break
    model.train()
    return {"encoder": keys.numpy()[0].tolist(), "context": context.numpy().tolist(), "outputs": outs,
            "decoder": states, "attention": weights or None}


def _exact_accuracy(model, src, lengths, tgt) -> float:
    model.eval()
    out, _ = nn.greedy_decode(model, src, lengths, max_len=int(max(lengths)) + 1)
    model.train()
    pred, want = out.numpy(), tgt.numpy()
    ok = 0
    for p, w, n in zip(pred, want, lengths):
        p = np.concatenate([p, np.full(max(0, n + 1 - len(p)), PAD)])[:n + 1]
        ok += bool(np.array_equal(p, w[:n + 1]))
    return ok / len(lengths)


def seq2seq_section(cfg: dict, seed: int, device, progress: bool) -> dict:
    """Train the reversal model with and without attention (same data, same budget) and trace one source."""
    lo, hi = cfg["lengths"]
    test_src, test_len, test_tgt = _reversal_batch(np.random.default_rng([seed, 7]), 200, lo, hi, device)
    ex_src, ex_len, _ = _reversal_batch(np.random.default_rng([seed, 8]), 1, hi, hi, device)
    models = {}
    bar = ex.progress_bar(2 * cfg["steps"], "seq2seq", progress)
    try:
        for name, attention in (("attention", True), ("bottleneck", False)):
            manual_seed(seed)
            model = _reversal_model(cfg, attention, device)
            opt = optim.Adam(model.parameters(), lr=cfg["lr"])
            rng = np.random.default_rng([seed, 1])
            t0 = time.perf_counter()
            for _ in range(cfg["steps"]):
                src, lengths, tgt = _reversal_batch(rng, cfg["batch"], lo, hi, device)
                logits = model(src, lengths, tgt)
                loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), tgt.reshape(-1),
                                                   ignore_index=PAD)
                opt.zero_grad()
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                opt.step()
                bar.update(1)
            trace = _decode_trace(model, ex_src, ex_len, hi + 1)
            trace.update(accuracy=_exact_accuracy(model, test_src, test_len, test_tgt),
                         seconds=time.perf_counter() - t0, final_loss=float(loss.item()))
            models[name] = trace
    finally:
        bar.close()
    labels = ["<pad>", "<sos>", "<eos>"] + [chr(65 + i) for i in range(S2S_SYMBOLS)]
    return {"source": ex_src.numpy()[0].tolist(), "labels": labels, "hidden": cfg["hidden"],
            "lengths": list(cfg["lengths"]), "steps": cfg["steps"], "test_size": 200, "models": models}


# --------------------------------------------------------------------------------------------------
# the graph


def graph_section(seed: int, steps: int = 4) -> dict:
    """The unrolled graph of a small LSTM (SVG from Graphviz), or the reason it is missing."""
    import tempfile

    from ..viz import GraphvizNotFoundError, render
    manual_seed(seed)
    lstm = nn.LSTM(2, 3)
    x = randn(steps, 1, 2)
    out, (h, c) = lstm(x, unroll=True)
    with record_grad_norms():
        out.pow(2).mean().backward()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = render([out, h, c], os.path.join(tmp, "lstm.svg"), view="unrolled", detail="gate",
                          show_grads=True, title=f"LSTM, T={steps}: click a step's cluster")
        except GraphvizNotFoundError as e:
            return {"svg": None, "steps": steps, "reason": str(e)}
        with open(path, encoding="utf-8") as f:
            svg = f.read()
    return {"svg": inline_svg(svg), "steps": steps}


def inline_svg(svg: str) -> str:
    """Graphviz's SVG file as an element for an HTML page: no XML prolog, DOCTYPE or comments."""
    svg = re.sub(r"<\?xml.*?\?>", "", svg, flags=re.S)
    svg = re.sub(r"<!DOCTYPE.*?>", "", svg, flags=re.S)
    svg = re.sub(r"<!--.*?-->", "", svg, flags=re.S)
    svg = svg.replace(' xmlns:xlink="http://www.w3.org/1999/xlink"', "")
    return svg.strip()


# --------------------------------------------------------------------------------------------------
# the whole page


def read_demo(folder: str) -> tuple:
    """``(settings, runs, traces)`` from a finished ``tinygrad-rnn demo`` output folder."""
    paths = [os.path.join(folder, n) for n in ("memory.json", "hidden_traces.json")]
    for p in paths:
        if not os.path.isfile(p):
            raise FileNotFoundError(f"--from: expected a finished `tinygrad-rnn demo` output folder with "
                                    f"memory.json and hidden_traces.json, but {p} is missing")
    with open(paths[0], encoding="utf-8") as f:
        mem = json.load(f)
    with open(paths[1], encoding="utf-8") as f:
        traces = json.load(f)
    st = dict(mem["settings"])
    st["lengths"], st["cells"] = tuple(st["lengths"]), tuple(st["cells"])
    s = ex.TaskSettings(**st)
    return s, mem["runs"], traces


def collect(quick: bool = False, seed: int = 0, device="cpu", from_dir: str | None = None,
            progress: bool = False, graph: bool = True, memory_settings=None, seq2seq_settings: dict | None = None
            ) -> dict:
    """Everything the page shows, as plain JSON-able data (see the module docstring).

    Args:
        quick: tiny settings (seconds) instead of the page's defaults (a few minutes on 2 CPU cores).
        seed: base seed; runs use seed, seed + 1, ...
        device: where to train.
        from_dir: a finished ``tinygrad-rnn demo`` output folder to read the memory sweep from.
        progress: show progress bars.
        graph: include the unrolled LSTM graph (needs Graphviz's ``dot``).
        memory_settings: a :class:`~tinygrad_rnn.app.experiments.TaskSettings` for the memory sweep
            (overrides ``quick``'s choice).
        seq2seq_settings: the encoder–decoder's settings (keys of ``S2S_DEFAULT``).
    """
    if memory_settings is not None and not isinstance(memory_settings, ex.TaskSettings):
        raise TypeError(f"memory_settings: expected a TaskSettings, got {type(memory_settings).__name__}")
    unknown = sorted(set(seq2seq_settings or {}) - set(S2S_DEFAULT))
    if unknown:
        raise ValueError(f"seq2seq_settings: expected keys among {sorted(S2S_DEFAULT)}, got unknown {unknown}")
    t0 = time.perf_counter()
    if from_dir is not None:
        s, runs, traces = read_demo(from_dir)
        source = f"read from {from_dir}"
    else:
        s = memory_settings or (QUICK_MEMORY if quick else EXPLORE_MEMORY)
        if s.task != "memory":
            raise ValueError(f"memory_settings: expected settings of the memory task, got task {s.task!r}")
        runs, traces, _ = train_memory(s, seed, device, progress)
        source = "trained by tinygrad-rnn explore" + (" --quick" if quick else "")
    data = {"meta": {"source": source, "seed": seed, "device": str(device), "quick": bool(quick),
                     "settings": s.describe()},
            "hidden": hidden_section(s, traces), "gradients": gradient_section(s, runs),
            "lstm": lstm_section(traces), "memory": memory_section(s, runs)}
    cfg = dict(S2S_QUICK if quick else S2S_DEFAULT, **(seq2seq_settings or {}))
    data["seq2seq"] = seq2seq_section(cfg, seed, device, progress)
    data["graph"] = graph_section(seed) if graph else {"svg": None, "steps": 4, "reason": "--no-plots"}
    data["meta"]["seconds"] = time.perf_counter() - t0
    return data


def write_page(data: dict, out: str) -> str:
    """Write ``explore.html`` (and ``explore.json``, the same data) into ``out``; return the page's path."""
    from ..viz import explorer
    ex.ensure_folder(out)
    page = explorer(data)
    path = page.save(os.path.join(out, "explore.html"))
    ex.write_json(os.path.join(out, "explore.json"), data)
    return path


def serve(path: str, port: int = 0, ready=None) -> None:
    """Serve the folder of ``path`` on 127.0.0.1 (a free port unless ``port``); print the page's URL.

    Blocks until interrupted. ``ready(url)``, when given, is called once the socket listens.
    """
    folder, name = os.path.split(os.path.abspath(path))
    handler = functools.partial(_QuietHandler, directory=folder)
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as httpd:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/{name}"
        print(f"serving {name} at {url} (Ctrl-C stops)", flush=True)
        if ready is not None:
            ready(url)
        httpd.serve_forever()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the page's folder without a log line per request."""

    def log_message(self, format, *args) -> None:      # the base class's signature
        pass
