"""Regenerate every figure and every measured number of the docs pages.

    python docs/make_figures.py              # run everything, then fill the pages (34 min on 2 cores, see below)
    python docs/make_figures.py --reuse      # keep results already in docs/results/, redo the rest and the pages
    python docs/make_figures.py --pages      # only redraw the figures and rewrite the generated blocks from the results
    python docs/make_figures.py --quick      # the quick versions (demo --quick, examples --quick) -> results/quick/
    python docs/make_figures.py --check-quick [--exact]   # rerun the quick versions, compare with results/quick/

``make results`` runs the first (every committed result and figure; in a fresh clone on 2 CPU cores it took
34 min 11 s wall at a 1-minute load average of 3.0 at the start and 3.1 at the end, another sweep running
beside it at nice 19: 2026-12-02, `/usr/bin/time -v make results`, the demo 319 s, the seq2seq reversal
1065 s of it); ``make results-quick`` the quick
versions; CI runs ``make check-results`` (``--check-quick``), which fails when the current code no longer
reproduces the committed quick results. The comparison is exact for everything that is not a float
(success counts, settings, lengths, graph sizes, sampled text) and for floats within a relative 1e-3
(absolute 1e-6): CI's CPU and BLAS may sum in another order than the machine that committed them.
``--exact`` compares floats bit for bit, which holds on the machine that wrote them.

What it runs (each writes JSON into ``docs/results/``; figures go next to the JSON or into
``docs/figures/``):

- ``tinygrad-rnn demo`` -> ``results/demo/`` (memory and adding sweeps, the vanilla RNN's gradient flow);
- ``tinygrad-rnn adding --T 100 --steps 2500 --lr 3e-3`` -> ``results/adding_T100/``;
- the memory task at T=30 for the LSTM with three forget-gate biases -> ``results/forget_bias/``;
- the examples (char_lm, forecasting, bidirectional, clipping, truncated_bptt) -> ``results/examples/``;
- the seq2seq reversal (attention against the bottleneck, scheduled sampling) -> ``results/seq2seq_reversal.json``;
- ``tinygrad-rnn road --quick`` -> ``results/road/quick/`` (the full race, ``results/road/full/``, is hours of
  training and is not rerun here: its commands are in its console.log; the pages' road blocks read it);
- small measurements made here: graph size against T (unfolding), Jacobian products at initialisation
  (vanishing gradients), gradient norms per layer of a stacked LSTM (deep RNNs) -> ``results/*.json``;
- ``docs/make_graph_figures.py`` -> ``figures/graphs/`` (computation-graph pictures, needs Graphviz);
- the explorer's default run (``tinygrad-rnn explore``, into a temporary folder) and its screenshots
  (``docs/make_explorer_figures.py``, needs Playwright and Chromium; skipped with one line without them)
  -> ``figures/explorer/*.png`` and ``results/explorer.json`` (what the screenshots' captions say).

Then every block between ``<!-- generated: NAME -->`` and ``<!-- end generated -->`` in ``docs/*.md``
and ``README.md`` is replaced by the table NAME built from those JSON files: no number in the pages is typed by hand.
The seq2seq pages read ``results/seq2seq_reversal.json``, written by ``examples/seq2seq_reversal.py --out docs/results``
(run here too, as ``seq2seq``).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")      # small GEMMs lose time to BLAS threads on shared cores

import argparse  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import runpy  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from contextlib import contextmanager  # noqa: E402

import numpy as np  # noqa: E402

DOCS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(DOCS)
sys.path.insert(0, ROOT)

import tinygrad_rnn as tr  # noqa: E402
from tinygrad_rnn.app import cli, road  # noqa: E402
from tinygrad_rnn.app.tasks import COPY_SYMBOLS  # noqa: E402
from tinygrad_rnn.app.experiments import CELL_NAMES, format_gradflow_table, format_table, write_json  # noqa: E402

RESULTS = os.path.join(DOCS, "results")
FIGURES = os.path.join(DOCS, "figures")
EXAMPLES = ("char_lm", "forecasting", "bidirectional", "clipping", "truncated_bptt")
SEQ2SEQ = "seq2seq_reversal"        # its full run writes results/seq2seq_reversal.json (the seq2seq pages read it)
QUICK = os.path.join(RESULTS, "quick")


def res(*parts) -> str:
    return os.path.join(RESULTS, *parts)


def load(*parts):
    path = res(*parts)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# --------------------------------------------------------------------------------------------------
# runs


def run_cli(argv: list) -> None:
    print("\n$ tinygrad-rnn " + " ".join(argv), flush=True)
    t0 = time.perf_counter()
    code = cli.main(argv)
    if code != 0:
        raise SystemExit(f"make_figures: `tinygrad-rnn {' '.join(argv)}` failed with exit status {code}")
    print(f"({time.perf_counter() - t0:.0f} s)", flush=True)


@contextmanager
def fresh(folder: str):
    """A new output folder for a sweep: sweeps resume from the runs a folder holds, so regenerating
    means running into ``folder.new``, which replaces ``folder`` only once the run has finished (a
    failed or interrupted run leaves the committed results as they were)."""
    new, old = folder + ".new", folder + ".old"
    shutil.rmtree(new, ignore_errors=True)
    yield new
    shutil.rmtree(old, ignore_errors=True)
    if os.path.isdir(folder):
        os.rename(folder, old)
    os.rename(new, folder)
    shutil.rmtree(old, ignore_errors=True)


def run_demo() -> None:
    with fresh(res("demo")) as out:
        run_cli(["demo", "--out", out, "--no-progress"])


def run_adding_T100() -> None:
    with fresh(res("adding_T100")) as out:
        run_cli(["adding", "--T", "100", "--steps", "2500", "--lr", "3e-3", "--out", out, "--no-progress"])


def run_forget_bias() -> None:
    for fb in ("none", "1", "3"):
        with fresh(res("forget_bias", fb)) as out:
            run_cli(["memory", "--T", "30", "--cells", "lstm", "--forget-bias", fb, "--out", out, "--no-progress"])


def run_examples(out: str | None = None, quick: bool = False) -> None:
    out = out or res("examples")
    for name in EXAMPLES:
        run_example(name, out, quick)


def run_example(name: str, out: str, quick: bool = False) -> None:
    flags = ["--quick"] if quick else []
    print(f"\n$ python examples/{name}.py {' '.join(flags)} --out {os.path.relpath(out, ROOT)}", flush=True)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, os.path.join(ROOT, "examples", f"{name}.py"), *flags, "--out", out,
                    "--no-progress"], check=True, env=dict(os.environ, PYTHONPATH=ROOT))
    print(f"({time.perf_counter() - t0:.0f} s)", flush=True)


def run_road_quick() -> None:
    """``road --quick`` (seconds; the full race is run by hand, see docs/road.md)."""
    with fresh(res("road", "quick")) as out:
        run_cli(["road", "--quick", "--out", out, "--no-progress"])


def run_seq2seq() -> None:
    run_example(SEQ2SEQ, RESULTS)


def _explorer_figures_module():
    """docs/make_explorer_figures.py as a module (its SHOTS, MEMORY_CELL, main)."""
    import importlib.util
    path = os.path.join(DOCS, "make_explorer_figures.py")
    spec = importlib.util.spec_from_file_location("make_explorer_figures", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_explorer() -> None:
    """The explorer's default run into a temporary folder, its screenshots, and ``results/explorer.json``.

    The page itself (about 0.4 MB) is not kept; the JSON holds what the captions say (the steps shown,
    accuracies, seeds remembered, gradient norms) and the run's time, page size and load average. Without
    Playwright or Chromium it says so in one line and keeps the committed screenshots.
    """
    import platform
    import tempfile
    shots = _explorer_figures_module()
    with tempfile.TemporaryDirectory(prefix="explore_") as tmp:
        load_start, t0 = cli._loadavg(), time.perf_counter()
        run_cli(["explore", "--out", tmp, "--no-progress"])
        seconds, load_end = time.perf_counter() - t0, cli._loadavg()
        with open(os.path.join(tmp, "explore.json"), encoding="utf-8") as f:
            data = json.load(f)
        page = os.path.join(tmp, "explore.html")
        run = {"command": "tinygrad-rnn explore --out TMP --no-progress", "seconds": seconds,
               "collect_seconds": data["meta"]["seconds"], "page_bytes": os.path.getsize(page),
               "load_average_start": None if load_start is None else round(load_start, 2),
               "load_average_end": None if load_end is None else round(load_end, 2), "cpu_count": os.cpu_count(),
               "python": platform.python_version()}
        why = shots.missing_tools()
        if why:
            print(f"make_figures: explorer screenshots skipped: {why}; docs/figures/explorer/ keeps the old ones")
        else:
            print(f"\n$ python docs/make_explorer_figures.py {page}", flush=True)
            shots.main([page, "--out", os.path.join(FIGURES, "explorer")])
        run["screenshots"] = why is None
        write_json(res("explorer.json"), explorer_summary(data, run, shots.SHOTS, shots.MEMORY_CELL))


def explorer_summary(data: dict, run: dict, shots: dict, memory_cell: str) -> dict:
    """What the explorer screenshots' captions state, from the page's data (``explore.json``).

    Steps ``t`` are the page's (1-based); ``shots`` maps each view to the step its screenshot shows.
    """
    labels = data["memory"]["labels"]
    hid = data["hidden"]
    T = hid["T"]
    t_h = min(shots["hidden"], T)                          # the page clamps the step to each view's T
    hidden = {"T": T, "step": t_h, "target": labels[hid["target"]],
              "cells": {c: {"pred": labels[v["pred"]], "right": v["pred"] == hid["target"],
                            "mean_abs_h_at_step": float(np.abs(np.asarray(v["h"][t_h - 1], dtype=np.float64)).mean()),
                            "cosine_h1_h_step": _cosine(v["h"][0], v["h"][t_h - 1])}
                        for c, v in hid["cells"].items()}}
    g = data["gradients"]
    Tg = max(g["lengths"])
    grads = {"T": Tg, "step": shots["gradients"], "cells": {}}
    for row in g["curves"]:
        if row["T"] != Tg:
            continue
        c = {"seeds": row["seeds"], "ratio_h1_to_hT_init": row["init"][0] / row["init"][-1],
             "ratio_h1_to_hT_final": row["final"][0] / row["final"][-1]}
        for k in ("sigma_max_init", "sigma_max_final"):
            if k in row:
                c[k] = row[k]
        grads["cells"][row["cell"]] = c
    lstm = None
    if data.get("lstm"):
        f = np.asarray(data["lstm"]["gates"]["f"], dtype=np.float64)
        t_l = min(shots["lstm"], len(f))
        fmean = f.mean(axis=1)
        lstm = {"T": len(f), "step": t_l, "forget_mean_at_step": float(fmean[t_l - 1]),
                "forget_min_at_step": float(f[t_l - 1].min()), "forget_max_at_step": float(f[t_l - 1].max()),
                "forget_mean_lowest_step": float(fmean.min())}
    s2 = data["seq2seq"]
    L = sum(1 for tok in s2["source"] if tok != 0)            # 0 = <pad>
    models = {}
    for name, m in s2["models"].items():
        d = {"accuracy": m["accuracy"], "steps": s2["steps"], "correct_reversal": _reversal_ok(s2, m, L)}
        if m.get("attention"):
            w = np.asarray(m["attention"])
            k = min(L, len(w))
            d["attention_argmax_on_antidiagonal"] = int(sum(int(np.argmax(w[i])) == L - 1 - i for i in range(k)))
            d["attention_steps_checked"] = k
        models[name] = d
    seq2seq = {"step": shots["seq2seq"], "test_size": s2["test_size"], "lengths": s2["lengths"],
               "source_length": L, "hidden": s2["hidden"], "models": models}
    mem = data["memory"]
    Tm = max(mem["lengths"])
    rs = sorted((r for r in mem["runs"] if r["cell"] == memory_cell and r["T"] == Tm), key=lambda r: r["seed"])
    memory = {"cell": memory_cell, "T": Tm, "success_threshold": mem["success_threshold"],
              "runs": [{k: r[k] for k in ("seed", "accuracy", "success", "grad_h1_init", "grad_h1_final")}
                       for r in rs]}
    graph = {"steps": data["graph"]["steps"], "selected": shots["graph"], "drawn": data["graph"]["svg"] is not None}
    return {"run": run, "settings": data["meta"]["settings"], "seed": data["meta"]["seed"],
            "device": data["meta"]["device"], "shots": dict(shots), "hidden": hidden, "gradients": grads,
            "lstm": lstm, "seq2seq": seq2seq, "memory": memory, "graph": graph}


def _cosine(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def _reversal_ok(s2: dict, m: dict, L: int) -> bool:
    """Whether the traced greedy decoding is the reversed source followed by <eos> (token 2)."""
    src = [tok for tok in s2["source"] if tok != 0]
    return m["outputs"][:L + 1] == src[::-1] + [2]


def run_quick(out: str) -> None:
    """The quick versions: ``demo --quick`` (numbers only) and every example with ``--quick``."""
    run_cli(["demo", "--quick", "--no-plots", "--no-progress", "--out", os.path.join(out, "demo")])
    run_examples(os.path.join(out, "examples"), quick=True)
    run_example(SEQ2SEQ, os.path.join(out, "examples"), quick=True)


def quick_json_files(folder: str) -> list:
    """The JSON files under ``folder``, relative paths, sorted."""
    found = []
    for base, _, files in os.walk(folder):
        found += [os.path.relpath(os.path.join(base, f), folder) for f in files if f.endswith(".json")]
    return sorted(found)


def check_quick(exact: bool) -> int:
    """Rerun the quick versions into a temporary folder and compare with the committed ``results/quick``."""
    import tempfile

    from tinygrad_rnn.app.experiments import compare_results
    committed = quick_json_files(QUICK)
    if not committed:
        raise SystemExit(f"make_figures: no committed quick results in {QUICK}: run `make results-quick` first")
    rtol, atol = (0.0, 0.0) if exact else (1e-3, 1e-6)
    with tempfile.TemporaryDirectory(prefix="quick_results_") as tmp:
        run_quick(tmp)
        fresh = quick_json_files(tmp)
        problems = [f"{name}: not written by the quick run" for name in committed if name not in fresh]
        problems += [f"{name}: written by the quick run but not committed" for name in fresh if name not in committed]
        for name in committed:
            if name in fresh:
                with open(os.path.join(QUICK, name), encoding="utf-8") as f:
                    a = json.load(f)
                with open(os.path.join(tmp, name), encoding="utf-8") as f:
                    b = json.load(f)
                problems += [f"{name}{d}" for d in compare_results(a, b, rtol=rtol, atol=atol)]
    mode = "bit for bit" if exact else f"floats within rtol {rtol:g}, atol {atol:g}; the rest exactly"
    if problems:
        print(f"\nquick results differ from the committed docs/results/quick ({mode}): {len(problems)} "
              f"differences, first ones:", file=sys.stderr)
        for line in problems[:20]:
            print(f"  {line}", file=sys.stderr)
        print("If the change is intended, run `make results-quick` (and `make results`) and commit the results.",
              file=sys.stderr)
        return 1
    print(f"\nquick results reproduce the committed ones ({len(committed)} files, {mode})")
    return 0


def run_unfolding() -> None:
    """Nodes of the unrolled graph against T (linear) and parameters (constant): parameter sharing."""
    rows = []
    for cell in ("rnn", "gru", "lstm"):
        for T in (1, 10, 100):
            tr.manual_seed(0)
            layer = {"rnn": tr.nn.RNN, "gru": tr.nn.GRU, "lstm": tr.nn.LSTM}[cell](2, 8)
            x = tr.randn(T, 4, 2)
            unrolled = _nodes(layer(x, unroll=True)[0].sum())
            fused = _nodes(layer(x)[0].sum())
            rows.append({"cell": cell, "T": T, "unrolled_nodes": unrolled, "fused_nodes": fused,
                         "parameters": sum(p.numel() for p in layer.parameters())})
    # weight sharing: the gradient of W_hh is the sum of what each step contributes
    tr.manual_seed(1)
    rnn = tr.nn.RNN(2, 4, dtype=tr.float64)
    x = tr.randn(6, 3, 2, dtype=tr.float64)
    out, _ = rnn(x, unroll=True)
    out.pow(2).sum().backward()
    trace = tr.analysis.hidden_trace(rnn, x)
    flow_h = _per_step_grads(rnn, x)
    h = trace.h[0, 0]
    prev = np.concatenate([np.zeros((1,) + h.shape[1:]), h[:-1]])
    per_step = [((flow_h[t] * (1 - h[t] ** 2)).T @ prev[t]) for t in range(6)]
    total = np.sum(per_step, axis=0)
    write_json(res("unfolding.json"), {"rows": rows, "sharing": {
        "T": 6, "per_step_norms": [float(np.linalg.norm(p)) for p in per_step],
        "sum_of_steps_vs_autograd_max_abs_diff": float(np.abs(total - rnn.weight_hh_l0.grad.numpy()).max())}})


def _nodes(loss) -> int:
    return len(tr.autograd.graph_nodes(loss))


def _per_step_grads(rnn, x) -> np.ndarray:
    """∂L/∂h_t as arrays (T, B, H) for L = Σ out², through the unrolled graph."""
    from tinygrad_rnn.nn.recurrent.layers import record_states
    with record_states() as log:
        out, _ = rnn(x, unroll=True)
    loss = out.pow(2).sum()
    grads = tr.autograd.grad(loss, [e["h"] for e in log])
    order = np.argsort([e["t"] for e in log])
    return np.stack([grads[i].numpy() for i in order])


def run_jacobians() -> None:
    """σ_max of ∂s_T/∂s_t at initialisation for the three cells, beside the measured ‖∂L/∂h_t‖."""
    x, y = tr.tasks.adding_problem(100, 8, seed=0, dtype=tr.float64)
    out = {}
    for cell in ("rnn", "gru", "lstm"):
        tr.manual_seed(0)
        layer = {"rnn": tr.nn.RNN, "gru": tr.nn.GRU, "lstm": tr.nn.LSTM}[cell](2, 64, dtype=tr.float64)
        if cell == "lstm":
            with tr.no_grad():
                layer.bias_ih_l0[64:128] = 3.0
                layer.bias_hh_l0[64:128] = 0.0
        spec = tr.analysis.jacobian_spectrum(layer, x[:, :2])
        flow = tr.analysis.grad_norms_through_time(layer, x, lambda o: o[0][-1].pow(2).sum() / 2)
        out[cell] = {"to_end_sigma_max": spec.to_end[:, 0, 0].tolist(),
                     "step_sigma_max_mean": float(spec.step[:, 0, 0].mean()),
                     "grad_norms": flow.h[0, 0].tolist(),
                     "spectral_radius": spec.spectral_radius, "sigma_max": spec.sigma_max}
    write_json(res("jacobians.json"), {"T": 100, "hidden_size": 64, "lstm_forget_bias": 3.0, "cells": out})


def run_deep() -> None:
    """‖∂L/∂h_t‖ per layer of a 3-layer LSTM at initialisation (loss on the last output of the top layer)."""
    tr.manual_seed(0)
    lstm = tr.nn.LSTM(2, 32, num_layers=3, dtype=tr.float64)
    x, _ = tr.tasks.adding_problem(50, 16, seed=0, dtype=tr.float64)
    flow = tr.analysis.grad_norms_through_time(lstm, x, lambda o: o[0][-1].pow(2).sum() / 2)
    write_json(res("deep.json"), {"T": 50, "hidden_size": 32, "layers": 3, "h": flow.h[:, 0].tolist(),
                                  "c": flow.c[:, 0].tolist()})


def run_graphs() -> None:
    print("\n$ python docs/make_graph_figures.py", flush=True)
    runpy.run_path(os.path.join(DOCS, "make_graph_figures.py"), run_name="__main__")


RUNS = {"demo": (run_demo, "demo/demo.json"), "adding_T100": (run_adding_T100, "adding_T100/adding.json"),
        "forget_bias": (run_forget_bias, "forget_bias/3/memory.json"),
        "examples": (run_examples, "examples/truncated_bptt.json"), "unfolding": (run_unfolding, "unfolding.json"),
        "jacobians": (run_jacobians, "jacobians.json"), "deep": (run_deep, "deep.json"),
        "seq2seq": (run_seq2seq, "seq2seq_reversal.json"), "road_quick": (run_road_quick, "road/quick/road.json"),
        "graphs": (run_graphs, None), "explorer": (run_explorer, "explorer.json")}


# --------------------------------------------------------------------------------------------------
# figures made from the results


def figures() -> None:
    from tinygrad_rnn.app import plots
    os.makedirs(FIGURES, exist_ok=True)
    from tinygrad_rnn.app.experiments import Sweep
    for folder, task in (("demo", "memory"), ("demo", "adding"), ("adding_T100", "adding"),
                         (os.path.join("forget_bias", "none"), "memory"), (os.path.join("forget_bias", "1"), "memory"),
                         (os.path.join("forget_bias", "3"), "memory")):
        d = load(folder, f"{task}.json")
        if d:                                           # redrawn from the JSON (the runs drew them too)
            cli.sweep_figures(Sweep(_settings(d), runs=d["runs"]), res(folder))
    gf = load("demo", "gradflow.json")
    if gf:
        cli._gradflow_figure(gf, res("demo"))
    traces, mem = load("demo", "hidden_traces.json"), load("demo", "memory.json")
    if traces and mem:
        cli.hidden_states_figure(traces, max(mem["settings"]["lengths"]), res("demo"))
    jac = load("jacobians.json")
    if jac:
        curves, styles = {}, {}
        for cell, d in jac["cells"].items():
            name = CELL_NAMES[cell]
            curves[f"{name} σ_max(∂s_T/∂s_t)"] = d["to_end_sigma_max"]
            styles[f"{name} σ_max(∂s_T/∂s_t)"] = {"ls": "--"}
            curves[f"{name} ‖∂L/∂h_t‖"] = d["grad_norms"]
        plots.grad_norms_vs_step(curves, os.path.join(FIGURES, "jacobian_products.png"), styles=styles, ylabel="",
                                 title=f"at initialisation, T={jac['T']}, H={jac['hidden_size']}, loss ½‖h_T‖²")
    deep = load("deep.json")
    if deep:
        layer_colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
        names = [f"layer {k + 1}{' (top)' if k == len(deep['h']) - 1 else ''} ‖∂L/∂h_t‖" for k in range(len(deep["h"]))]
        plots.grad_norms_vs_step(dict(zip(names, deep["h"])),
                                 os.path.join(FIGURES, "deep_layers.png"),
                                 styles={n: {"color": layer_colors[k % 5]} for k, n in enumerate(names)},
                                 title=f"{deep['layers']}-layer LSTM at initialisation, T={deep['T']}")
    t100 = load("adding_T100", "adding.json")
    if t100:
        curves = {}
        for r in t100["runs"]:
            curves[f"{r['cell']} seed {r['seed']}"] = r["loss_curve"]
        plots.loss_curves(curves, os.path.join(FIGURES, "adding_T100_training.png"), ylabel="training MSE",
                          title="adding problem, T=100: training loss per seed")


# --------------------------------------------------------------------------------------------------
# generated blocks of the pages


def _md_table(header: list, rows: list) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def block_demo_memory() -> str:
    d = load("demo", "memory.json")
    return f"Settings: {_settings_line(d)}\n\n" + format_table(d["summary"], "memory")


def block_demo_adding() -> str:
    d = load("demo", "adding.json")
    return f"Settings: {_settings_line(d)}\n\n" + format_table(d["summary"], "adding")


def _settings(d):
    from tinygrad_rnn.app.experiments import TaskSettings
    s = dict(d["settings"])
    s["lengths"], s["cells"] = tuple(s["lengths"]), tuple(s["cells"])
    return TaskSettings(**s)


def _settings_line(d) -> str:
    return _settings(d).describe().replace("\n ", ";")


def block_demo_runtime() -> str:
    d = load("demo", "demo.json")
    load_txt = ""
    if d.get("load_average_start") is not None:
        load_txt = (f"; 1-minute load average {d['load_average_start']:.1f} at the start and "
                    f"{d['load_average_end']:.1f} at the end (other work shared the cores)")
    return (f"The demo ran in {d['seconds']:.0f} s ({d['seconds'] / 60:.1f} min) on device {d['device']}, "
            f"{d['cpu_count']} CPU cores, Python {d['python']}{load_txt}.")


def block_gradflow() -> str:
    d = load("demo", "gradflow.json")
    return (f"W_hh = ρ·Q (Q orthogonal), biases 0, T={d['T']}, H={d['hidden_size']}, one sequence "
            f"x ~ N(0, {d['input_scale']}²), loss ½‖h_T‖²:\n\n" + format_gradflow_table(d))


def block_adding_T100() -> str:
    d = load("adding_T100", "adding.json")
    rows = []
    for r in sorted(d["runs"], key=lambda r: (["rnn", "gru", "lstm"].index(r["cell"]), r["seed"])):
        rows.append([CELL_NAMES[r["cell"]], r["seed"], f"{r['mse']:.4f}", f"{r['within_0.04']:.1%}",
                     "yes" if r["success"] else "no", f"{r['seconds']:.0f} s"])
    return (f"Settings: {_settings_line(d)}\n\n"
            + _md_table(["cell", "seed", "test MSE", "within 0.04", "solved", "time"], rows))


def block_forget_bias() -> str:
    rows = []
    for fb in ("none", "1", "3"):
        d = load("forget_bias", fb, "memory.json")
        if d is None:
            continue
        accs = [r["accuracy"] for r in d["runs"]]
        label = "PyTorch default (b_f ~ U(−1/√H, 1/√H) twice)" if fb == "none" else f"b_if + b_hf = {fb}"
        rows.append([label, f"{sum(r['success'] for r in d['runs'])}/{len(accs)}",
                     ", ".join(f"{a:.3f}" for a in accs)])
    d = load("forget_bias", "3", "memory.json")
    return (f"LSTM, memory task T=30, otherwise the demo's settings ({d['settings']['steps']} steps, lr "
            f"{d['settings']['lr']:g}, H={d['settings']['hidden_size']}):\n\n"
            + _md_table(["forget-gate bias at init", "successes", "test accuracy per seed"], rows))


def block_unfolding() -> str:
    d = load("unfolding.json")
    rows = [[CELL_NAMES[r["cell"]], r["T"], r["parameters"], r["unrolled_nodes"], r["fused_nodes"]] for r in d["rows"]]
    s = d["sharing"]
    return (_md_table(["cell", "T", "parameters", "graph nodes, unrolled", "graph nodes, fused"], rows)
            + f"\n\nWeight sharing, checked: for a vanilla RNN over T={s['T']} steps, the sum over steps of "
            f"δ_t h_{{t−1}}ᵀ (δ_t = ∂L/∂h_t ⊙ (1 − h_t²)) equals the W_hh gradient that backward accumulates "
            f"to {s['sum_of_steps_vs_autograd_max_abs_diff']:.1e} (largest difference); the per-step terms have "
            f"norms {', '.join(f'{v:.3f}' for v in s['per_step_norms'])}.")


def block_jacobians() -> str:
    d = load("jacobians.json")
    rows = []
    for cell, c in d["cells"].items():
        rows.append([CELL_NAMES[cell], f"{c['step_sigma_max_mean']:.3f}", f"{c['to_end_sigma_max'][0]:.2e}",
                     f"{c['grad_norms'][0] / c['grad_norms'][-1]:.2e}",
                     "—" if c["spectral_radius"] is None else f"{c['spectral_radius']:.3f}",
                     "—" if c["sigma_max"] is None else f"{c['sigma_max']:.3f}"])
    return (f"At initialisation (H={d['hidden_size']}, T={d['T']}, adding-problem inputs, LSTM forget-gate bias "
            f"{d['lstm_forget_bias']:g}; first sequence of the batch for the Jacobians):\n\n"
            + _md_table(["cell", "mean σ_max(J_t)", "σ_max(∂s_T/∂s_1)", "‖∂L/∂h_1‖ / ‖∂L/∂h_T‖", "ρ(W_hh)",
                         "σ_max(W_hh)"], rows)
            + "\n\nFor the vanilla RNN σ_max(W_hh) exceeds the spectral radius ρ(W_hh) (W_hh is not normal), so "
              "single steps can stretch a perturbation while the product over many steps still decays at the "
              "rate ρ(W_hh) sets in the long run; the LSTM's state includes the cell, whose Jacobian block "
              "diag(f_t) is close to the identity.")


def block_deep() -> str:
    d = load("deep.json")
    rows = [[k + 1, f"{h[-1]:.2e}", f"{h[0]:.2e}", f"{h[0] / h[-1]:.2e}"] for k, h in enumerate(d["h"])]
    return (f"A {d['layers']}-layer LSTM (H={d['hidden_size']}, PyTorch's default initialisation) at "
            f"initialisation, T={d['T']}, loss on the top "
            f"layer's last output:\n\n" + _md_table(["layer", "‖∂L/∂h_T‖", "‖∂L/∂h_1‖", "ratio"], rows))


def block_char_lm() -> str:
    d = load("examples", "char_lm.json")
    sample = " ".join(w for w in d["sample"].split("\n") if w)[:300]
    return (f"{d['steps']} Adam steps (lr {d['lr']:g}, batch {d['batch']} × {d['seq_len']} characters, "
            f"H={d['hidden']}) in {d['seconds']:.0f} s: held-out **{d['valid_bpc']:.3f} bits/char** against "
            f"{d['unigram_bpc']:.2f} for letter frequencies alone. Sampled at τ = {d['temperature']:g}: "
            f"{d['real_words']} of {d['sampled_words']} words are in the word list ({d['held_out_words']} of "
            f"them held out, never seen in training):\n\n> {sample}")


def block_forecasting() -> str:
    d = load("examples", "forecasting.json")
    m, p = d["mse_by_horizon_model"], d["mse_by_horizon_persistence"]
    return (f"{d['steps']} Adam steps, context {d['context']}, horizon {d['horizon']}, H={d['hidden']} "
            f"({d['seconds']:.0f} s). Test MSE in normalised units:\n\n"
            + _md_table(["", "horizon 1", f"horizon {d['horizon']}", "mean over horizons"],
                        [["LSTM", f"{m[0]:.4f}", f"{m[-1]:.4f}", f"{d['test_mse_model']:.4f}"],
                         ["persistence", f"{p[0]:.4f}", f"{p[-1]:.4f}", f"{d['test_mse_persistence']:.4f}"],
                         ["training mean", "", "", f"{d['test_mse_mean']:.4f}"]]))


def block_bidirectional() -> str:
    d = load("examples", "bidirectional.json")
    rows = [[name, m["parameters"], f"{m['test_accuracy']:.1%}"] for name, m in d["models"].items()]
    rows.append(["best causal rule (computed)", "—", f"{d['causal_ceiling']:.1%}"])
    return (f"Local maxima, T={d['T']}, {d['steps']} Adam steps per model (lr {d['lr']:g}):\n\n"
            + _md_table(["model", "weights", "test accuracy"], rows))


def block_clipping() -> str:
    d = load("examples", "clipping.json")
    rows = []
    for r in d["runs"]:
        end = (f"diverged (inf/NaN) at step {r['diverged_at_step']}" if r["diverged_at_step"] is not None
               else f"mean loss of the last 50 steps {r['mean_loss_last_50']:.4f}")
        rows.append(["clip_grad_norm_(…, 1.0)" if r["clip"] else "none", f"{r['max_grad_norm']:.3g}",
                     f"{r['median_grad_norm']:.3g}", end])
    return (f"Vanilla tanh RNN, W_hh = {d['rho']:g}·Q at init, SGD lr {d['lr']:g}, adding problem T={d['T']}, "
            f"{d['steps']} steps:\n\n" + _md_table(["clipping", "largest ‖g‖", "median ‖g‖", "outcome"], rows))


def block_truncated_bptt() -> str:
    d = load("examples", "truncated_bptt.json")
    rows = [["carried, detached" if r["carry"] else "reset every chunk", f"{r['valid_bpc_carried']:.3f}",
             f"{r['valid_bpc_reset']:.3f}", f"{r['graph_nodes_first_chunk']} / {r['graph_nodes_last_chunk']}"]
            for r in d["runs"]]
    text = "every word written twice, " if "twice" in d.get("text", "") else ""
    return (f"Chunks of k={d['chunk']} characters ({text}{d['batch']} streams), {d['steps']} chunks, "
            f"H={d['hidden']}:\n\n"
            + _md_table(["state between chunks (training)", "held-out bpc, read with carried state",
                         "held-out bpc, read with resets", "graph nodes, first / last chunk"], rows))


SEQ2SEQ_NAMES = {"short_tf": "5–10 tokens, attention, teacher forcing",
                 "short_ss": "5–10 tokens, attention, scheduled sampling",
                 "long_attn": "15–20 tokens, attention, teacher forcing",
                 "long_ss": "15–20 tokens, attention, scheduled sampling",
                 "long_bottleneck": "15–20 tokens, no attention (final state only), teacher forcing"}


def block_seq2seq() -> str:
    d = load("seq2seq_reversal.json")
    if d is None:
        return ("_Not run yet: `python examples/seq2seq_reversal.py --out docs/results` writes "
                "docs/results/seq2seq_reversal.json._")
    seeds = [str(s) for s in d["seeds"]]
    rows = []
    for name in d["settings"]:
        accs = [d["runs"][s][name]["exact_accuracy"] for s in seeds if name in d["runs"][s]]
        steps = d["runs"][seeds[0]][name].get("steps")
        rows.append([SEQ2SEQ_NAMES.get(name, name), steps, ", ".join(f"{a:.1%}" for a in accs),
                     f"{float(np.mean(accs)):.1%}"])
    b = d["budget"]
    text = (f"Reverse a sequence of {d['vocabulary']['symbols']} symbols; {d['metric']}; seeds {', '.join(seeds)}; "
            f"{b['model']}, hidden {b['hidden']}, Adam lr {b['lr']:g}, batch {b['batch']}, clip {b['clip_grad_norm']:g}"
            f"{' (quick run)' if d.get('quick') else ''}; total {d['total_wall_time_s']:.0f} s on {d['device']}.\n\n")
    text += _md_table(["setting", "steps", "exact-sequence accuracy per seed", "mean"], rows)
    gap = d["summary"].get("long_attention_minus_bottleneck")
    if gap:
        text += (f"\n\nAttention minus bottleneck on 15–20 tokens, per seed: "
                 f"{', '.join(f'{g:+.1%}' for g in gap['per_seed'])}.")
    for key, label in (("short", "5–10"), ("long", "15–20")):
        diff = d["summary"].get(f"{key}_scheduled_sampling_minus_teacher_forcing")
        if not diff:
            continue
        text += (f" Scheduled sampling minus teacher forcing on {label} tokens, per seed: "
                 f"{', '.join(f'{g:+.1%}' for g in diff['per_seed'])}.")
        tf, ss = diff.get("mean_curve_teacher_forcing"), diff.get("mean_curve_scheduled_sampling")
        if tf and ss:
            points = "; ".join(f"step {a[0]}: {a[1]:.1%} vs {b[1]:.1%}" for a, b in zip(tf, ss) if a[0] <= 300)
            text += (f" Learning curve on {label} tokens (teacher forcing vs scheduled sampling, mean of seeds): "
                     f"{points}.")
    return text


# the explorer's screenshots (results/explorer.json, written by run_explorer)


def _explorer() -> dict:
    d = load("explorer.json")
    if d is None:
        raise KeyError("results/explorer.json (run `python docs/make_figures.py --only explorer`)")
    return d


def _pct(a: float) -> str:
    return f"{100 * a:.1f} %"


def _cell(c: str) -> str:
    return CELL_NAMES[c]


def caption_hidden(d: dict) -> str:
    h = d["hidden"]
    answers = ", ".join(f"the {_cell(c)} answers {v['pred']} ({'right' if v['right'] else 'wrong'})"
                        for c, v in h["cells"].items())
    t = h["step"]
    size = ", ".join(f"{_cell(c)} {v['mean_abs_h_at_step']:.2f}" for c, v in h["cells"].items())
    cos = ", ".join(f"{_cell(c)} {v['cosine_h1_h_step']:.2f}" for c, v in h["cells"].items())
    return (f"at t = {t} of T = {h['T']}: each trained cell's state h_t on one held-out sequence; the mean "
            f"absolute value of h_{t}'s units: {size}; its cosine with h_1 (the state just after the symbol to "
            f"recall): {cos}; at t = T the target is {h['target']}: {answers}")


def caption_gradients(d: dict) -> str:
    g = d["gradients"]
    seeds = sorted({c["seeds"] for c in g["cells"].values()})
    ratios = ", ".join(f"{_cell(c)} {v['ratio_h1_to_hT_init']:.1e}" for c, v in g["cells"].items())
    rnn = g["cells"].get("rnn", {})
    sig = (f" (σ_max(W_hh) {rnn['sigma_max_init']:.2f} at init, {rnn['sigma_max_final']:.2f} trained)"
           if "sigma_max_init" in rnn and "sigma_max_final" in rnn else "")
    return (f"‖∂L/∂h_t‖ at init (dashed) and trained (solid), median of {'/'.join(map(str, seeds))} seeds, log "
            f"scale, T = {g['T']}, with the RNN's prediction ‖∂L/∂h_T‖ · σ_max(W_hh)^(T−t) dotted{sig}; "
            f"‖∂L/∂h₁‖ / ‖∂L/∂h_T‖ at init: {ratios}")


def caption_lstm(d: dict, lines: bool = True) -> str:
    m = d["lstm"]
    if m is None:
        return "no LSTM was trained"
    return (f"at t = {m['step']} of T = {m['T']}: the forget gates' mean is {m['forget_mean_at_step']:.2f} "
            f"(units {m['forget_min_at_step']:.2f}–{m['forget_max_at_step']:.2f}; over all steps the mean is at "
            f"least {m['forget_mean_lowest_step']:.2f}){', beside every unit of c_t as a line through time' * lines}")


def caption_seq2seq(d: dict) -> str:
    s = d["seq2seq"]
    a, b = s["models"]["attention"], s["models"]["bottleneck"]
    lo, hi = s["lengths"]
    diag = ""
    if "attention_argmax_on_antidiagonal" in a:
        diag = (f"; on the traced source of {s['source_length']} tokens attention's largest weight is on the "
                f"anti-diagonal in {a['attention_argmax_on_antidiagonal']} of {a['attention_steps_checked']} steps")
    return (f"at decoder step {s['step']}: exact-sequence accuracy on {s['test_size']} test sequences of {lo}–{hi} "
            f"tokens, {_pct(a['accuracy'])} with attention against {_pct(b['accuracy'])} for the bottleneck "
            f"({a['steps']} Adam steps each){diag}")


def caption_memory(d: dict) -> str:
    m = d["memory"]
    rs = m["runs"]
    won = sum(r["success"] for r in rs)
    accs = ", ".join(_pct(r["accuracy"]) for r in rs)
    init = ", ".join(f"{r['grad_h1_init']:.0e}" for r in rs)
    final = ", ".join(f"{r['grad_h1_final']:.0e}" for r in rs)
    return (f"{_cell(m['cell'])} at T = {m['T']}: {won}/{len(rs)} seeds remember (test accuracy {accs}; remembered "
            f"means ≥ {100 * m['success_threshold']:.0f} %), ‖∂L/∂h₁‖ {init} at init and {final} trained")


def caption_graph(d: dict) -> str:
    g = d["graph"]
    return f"a {g['steps']}-step LSTM with step {g['selected']}'s cluster selected"


def _explorer_run_line(d: dict) -> str:
    r, s = d["run"], d["seq2seq"]
    load_txt = ""
    if r.get("load_average_start") is not None:
        load_txt = (f" at a 1-minute load average of {r['load_average_start']:.1f} at the start and "
                    f"{r['load_average_end']:.1f} at the end")
    shots = "" if r.get("screenshots") else " (the screenshots were not retaken: Playwright or Chromium missing)"
    return (f"`python docs/make_figures.py --only explorer` runs the default `tinygrad-rnn explore` "
            f"({d['settings'].replace(chr(10) + ' ', ';')}; a reversal encoder–decoder, hidden size {s['hidden']}, "
            f"with and without attention, {s['models']['attention']['steps']} Adam steps each) and takes the "
            f"screenshots{shots}: the run took {r['seconds']:.0f} s on {r['cpu_count']} CPU cores{load_txt} and "
            f"wrote a {r['page_bytes'] / 1e6:.2f} MB page.")


EXPLORER_VIEWS = (("hidden", "hidden state over time", caption_hidden),
                  ("gradients", "gradients through time", caption_gradients),
                  ("lstm", "LSTM gates", caption_lstm), ("seq2seq", "encoder–decoder", caption_seq2seq),
                  ("memory", "memory test", caption_memory), ("graph", "unrolled graph", caption_graph))


def block_explorer_readme() -> str:
    """README.md: how the screenshots were made, and the table of them with their captions."""
    d = _explorer()
    rows = [[f"[{title}](docs/figures/explorer/{view}.png)", fn(d)] for view, title, fn in EXPLORER_VIEWS]
    return _explorer_run_line(d) + " Screenshots from that run:\n\n" + _md_table(["view", ""], rows)


def _figure(view: str, lead: str, caption: str) -> str:
    """A docs page's screenshot: the image (the caption as its alt text) and the caption below it."""
    text = f"{lead}. {caption[0].upper()}{caption[1:]}."
    return f"![{text}](figures/explorer/{view}.png)\n\n{text}"


def block_explorer_hidden() -> str:
    """docs/unfolding.md, docs/vanilla_rnn.md: the hidden-state view."""
    return _figure("hidden", "The trained RNN, GRU and LSTM reading one memory-task sequence in the explorer",
                   caption_hidden(_explorer()))


def block_explorer_gradients() -> str:
    """docs/vanishing_gradients.md: the gradients view."""
    return _figure("gradients", "The explorer's gradients view (the page animates the backward sweep)",
                   caption_gradients(_explorer()))


def block_explorer_lstm() -> str:
    """docs/lstm.md: the LSTM gates view."""
    return _figure("lstm", "The trained LSTM's gates in the explorer (dark is near 1) and every unit of c_t as a "
                   "line through time", caption_lstm(_explorer(), lines=False))


def block_explorer_seq2seq() -> str:
    """docs/encoder_decoder.md, docs/attention.md: the encoder–decoder view."""
    return _figure("seq2seq", "The reversal model in the explorer, with attention (its weights: a row per decoder "
                   "step over the source, the current step outlined) and with the bottleneck only",
                   caption_seq2seq(_explorer()))


def block_explorer_memory() -> str:
    """docs/memory_test.md: the memory view."""
    return _figure("memory", "The explorer's memory view: per seed, recall accuracy and ‖∂L/∂h₁‖ at init and after "
                   "training, and a test sequence it got right and one it got wrong", caption_memory(_explorer()))


def block_explorer_graph() -> str:
    """docs/unfolding.md: the graph view."""
    return _figure("graph", "The explorer's unrolled graph, where clicking a step's cluster moves every view of the "
                   "page to that step", caption_graph(_explorer()))

# the road to modern sequence models (results/road/full/road.json, assembled by the commands in its
# console.log; docs/road.md). The chapter's claims are fixed text; what was measured, and the verdict, are
# built from the runs: a claim the runs stop supporting changes its verdict when the pages are filled.

ROAD_NAMES = {k: title.split(" (")[0] for k, title in road.TITLES.items()}     # "RNN (1986)" -> "RNN"
ROAD_MODERN = ("lru", "mingru", "transformer")


def _road() -> dict:
    d = load("road", "full", "road.json")
    if d is None:
        raise KeyError("results/road/full/road.json (the full race: see docs/road.md)")
    return d


def _road_rows(d: dict) -> dict:
    return {(r["task"], r["model"], r["T"]): r for r in d["summary"]}


def _road_timing(d: dict):
    """The race's time per step in ms, {(model, T): ms}, and the lengths timed."""
    t = {(r["model"], r["T"]): 1e3 * r["seconds_per_step"] for r in d["timing"]}
    return t, sorted({T for _, T in t})


def _road_runs(d: dict, task: str, kind: str, T: int) -> list:
    return sorted((r for r in d["runs"] if (r["task"], r["model"], r["T"]) == (task, kind, T)),
                  key=lambda r: r["seed"])


def _names(kinds, the: bool = False) -> str:
    """'RNN', 'RNN and LSTM', 'RNN, LSTM and GRU' (with ``the``: 'the RNN and the LSTM')."""
    names = ["the " * the + ROAD_NAMES[k] for k in kinds]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _short(x) -> str:
    """A ratio in one significant digit ('2e-24', '5e-3'); 0 is a float32 underflow, not an exact zero."""
    if x is None:
        return "—"
    if x == 0:
        return "underflow"
    m, e = f"{x:.0e}".split("e")
    return f"{m}e{int(e)}"


def _at_lengths(pairs) -> str:
    """[(T, text)] -> 'a at T = 100, b at 500 and 1000' (equal neighbours share one text)."""
    groups = []
    for T, text in pairs:
        if groups and groups[-1][1] == text:
            groups[-1][0].append(T)
        else:
            groups.append(([T], text))
    out = []
    for i, (Ts, text) in enumerate(groups):
        ts = " and ".join(str(T) for T in Ts) if len(Ts) <= 2 else ", ".join(map(str, Ts[:-1])) + f" and {Ts[-1]}"
        out.append(f"{text} at {'T = ' if i == 0 else ''}{ts}")
    return ", ".join(out)


def _solved(d: dict, task: str, kind: str):
    """{T: (successes, seeds)} for the lengths this model ran on this task."""
    rows = _road_rows(d)
    return {T: (rows[task, kind, T]["successes"], rows[task, kind, T]["seeds"])
            for T in d["settings"]["lengths"] if (task, kind, T) in rows}


def _mse(m: float) -> str:
    return f"{m:.4f}" if m >= 1e-3 else _short(m)


def _seed_line(d: dict, task: str, kind: str) -> str:
    """'3/3 seeds at T = 100 (MSE …), 1/3 at T = 500 (MSE …; …% within 0.04)' over the lengths run."""
    parts = []
    for i, T in enumerate(d["settings"]["lengths"]):
        runs = _road_runs(d, task, kind, T)
        if not runs:
            parts.append(f"not run at {'T = ' if i == 0 else ''}{T}")
            continue
        k = sum(r["success"] for r in runs)
        if task == "adding":
            detail = "MSE " + ", ".join(_mse(r["mse"]) for r in runs)
            if any(r["mse"] < 0.01 and not r["success"] for r in runs):      # close: say how close
                detail += "; " + ", ".join(f"{100 * r['within_0.04']:.0f} %" for r in runs) + " within 0.04"
        else:
            detail = ", ".join(f"{r['metric']:.2f}" for r in runs) + " of the symbols right"
        parts.append(f"{k}/{len(runs)}{' seeds' if i == 0 else ''} at {'T = ' if i == 0 else ''}{T} ({detail})")
    return ", ".join(parts)


def _ratios(d: dict, kind: str, task: str = "adding") -> dict:
    rows = _road_rows(d)
    return {T: rows[task, kind, T]["input_ratio"] for T in d["settings"]["lengths"] if (task, kind, T) in rows}


def _largest_solved(d: dict, task: str, kind: str):
    Ts = [T for T, (k, _) in _solved(d, task, kind).items() if k]
    return max(Ts) if Ts else None


def _up_to(d: dict, task: str, kind: str):
    """'up to T = 500, fading with T' (the longest T with a solved seed; fading: fewer seeds as T grows), or None."""
    top = _largest_solved(d, task, kind)
    if top is None:
        return None
    fading = top < max(d["settings"]["lengths"]) and any(k < n for k, n in _solved(d, task, kind).values())
    return f"up to T = {top}" + (", fading with T" if fading else "")


def _claim_vanilla(d):
    ratios = _ratios(d, "rnn")
    measured = (f"adding at init: ‖∂L/∂x₁‖/‖∂L/∂x_T‖ = {_at_lengths((T, _short(r)) for T, r in ratios.items())} (RNN); "
                f"seeds solved: {_at_lengths((T, f'{k}/{n}') for T, (k, n) in _solved(d, 'adding', 'rnn').items())}")
    vanish = all(r is not None and r < 1e-6 for r in ratios.values())
    long_solved = [T for T, (k, _) in _solved(d, "adding", "rnn").items() if k and T > min(ratios)]
    if vanish and not long_solved:
        verdict = "supported"
    elif vanish:
        verdict = f"the gradients vanish at init, yet the RNN solves the adding problem at T = {long_solved}"
    else:
        verdict = f"not supported: the ratio at T = {max(ratios)} is {_short(ratios[max(ratios)])}"
    return "Vanilla RNNs forget: gradients vanish through time", measured, verdict


def _claim_gating(d):
    measured = "; ".join(f"{ROAD_NAMES[k]}, adding: {_seed_line(d, 'adding', k)}" for k in ("gru", "lstm"))
    verdicts = [f"supported for the {ROAD_NAMES[k]} {_up_to(d, 'adding', k)}" if _up_to(d, "adding", k) else
                f"not for the {ROAD_NAMES[k]} with PyTorch's default initialisation in {d['settings']['steps']} steps"
                for k in ("gru", "lstm")]
    a = load("adding_T100", "adding.json")
    lstm = next((r for r in (a or {}).get("summary", []) if r["cell"] == "lstm"), None)
    if lstm is not None and _largest_solved(d, "adding", "lstm") is None:
        s = a["settings"]
        verdicts[-1] += (f"; with forget bias {s['forget_bias']:g}, {s['steps']} steps and hidden {s['hidden_size']}, "
                         f"`tinygrad-rnn adding` solves T = {s['lengths'][0]} on {lstm['successes']}/{lstm['seeds']} "
                         f"seeds: docs/results/adding_T100")
    return "Gating (LSTM, GRU) carries information over long spans", measured, "; ".join(verdicts)


def _claim_scan_speed(d):
    # python bench/road.py: three runs recorded by hand in docs/results/road/bench_road_cpu.md (not road.json)
    return ("Recurrence returns in linear recurrences / SSMs, trained in parallel with linear complexity",
            "training step at (T, B, H) = (1000, 32, 256), CPU, three idle runs: LRU 3.4–4.3× (N = H complex), "
            "6.4–6.9× (N = H/2) faster than the fused LSTM; minGRU 2.4–3.2×, minLSTM 2.0–2.5× "
            "(docs/results/road/bench_road_cpu.md)",
            "supported for the LRU at N = H/2 (the issue's ≥ 5×); at N = H (twice the LSTM's real state width) "
            "3.4–4.3×: its two dense projections are 75 % of the step, half the LSTM's FLOPs")


def _claim_mingru(d):
    measured = f"adding: minGRU {_seed_line(d, 'adding', 'mingru')}"
    top = max(d["settings"]["lengths"])
    at_top = [k for k in d["settings"]["models"] if _solved(d, "adding", k).get(top, (0, 0))[0]]
    if at_top == ["mingru"]:
        measured += f": the only model to solve it at T = {top}"
    adding, copy = _up_to(d, "adding", "mingru"), _up_to(d, "copy", "mingru")
    verdict = f"supported on the adding problem {adding}" if adding else "not supported on the adding problem"
    verdict += f"; on the copy task {copy}" if copy else "; not on the copy task (no seed at any T)"
    return "Gating from the input alone is enough (minGRU, \"were RNNs all we needed?\")", measured, verdict


def _claim_ring(d):
    lru = _ratios(d, "lru")
    others = [k for k in d["settings"]["models"] if k not in ("lru", "transformer")]

    def spread(T):
        vals = [_ratios(d, k).get(T) for k in others]
        vals = [v for v in vals if v is not None]
        if all(v == 0 for v in vals):
            return "underflow"
        pos = [v for v in vals if v > 0]
        return f"{_short(min(pos))}…{_short(max(pos))}" + (" or underflow" if len(pos) < len(vals) else "")
    measured = (f"adding at init: ‖∂L/∂x₁‖/‖∂L/∂x_T‖ = {_at_lengths((T, _short(r)) for T, r in lru.items())} (LRU), "
                f"where {_names(others)} are at {_at_lengths((T, spread(T)) for T in lru)}; LRU seeds solved, adding: "
                f"{_at_lengths((T, f'{k}/{n}') for T, (k, n) in _solved(d, 'adding', 'lru').items())}; copy: "
                f"{_at_lengths((T, f'{k}/{n}') for T, (k, n) in _solved(d, 'copy', 'lru').items())}")
    keeps = all(r is not None and r > 1e-6 for r in lru.values())
    verdict = "supported at init" if keeps else f"not supported: the LRU's ratio reaches {_short(min(lru.values()))}"
    adding = sum(k for k, _ in _solved(d, "adding", "lru").values())
    runs = sum(n for _, n in _solved(d, "adding", "lru").values())
    if adding == 0:
        verdict += f"; yet the LRU solves the adding problem on 0 of its {runs} runs"
    copies = [T for T, (k, _) in _solved(d, "copy", "lru").items() if k]
    if copies:
        verdict += f", while it copies at T = {' and '.join(map(str, copies))}"
    return "The LRU's ring initialisation (\\|λ\\| near 1) keeps gradients from vanishing", measured, verdict


def _claim_attention_path(d):
    tf = _ratios(d, "transformer")
    measured = (f"‖∂L/∂x₁‖/‖∂L/∂x_T‖ at init {_at_lengths((T, _short(r)) for T, r in tf.items())}. "
                f"Adding: {_seed_line(d, 'adding', 'transformer')}. Copy: {_seed_line(d, 'copy', 'transformer')}")
    parts = ["supported for the gradient path" if all(r is not None and r > 1e-6 for r in tf.values())
             else "not supported for the gradient path"]
    copy, adding = _largest_solved(d, "copy", "transformer"), _largest_solved(d, "adding", "transformer")
    parts.append("no copy run solved" if copy is None else f"it copies up to T = {copy}")
    top = max(d["settings"]["lengths"])
    if adding is None:
        parts.append("the small Transformer solves the adding problem at no T")
    elif adding < top:
        parts.append(f"on the adding problem the small Transformer does not learn it past T = {adding} in "
                     f"{d['settings']['steps']} steps")
    return "Self-attention reaches every position directly (no path through time)", measured, "; ".join(parts)


def _claim_cost(d):
    t, Ts = _road_timing(d)
    lo, hi = Ts[0], Ts[-1]

    def ms(x):
        return f"{x:.1f}" if x < 100 else f"{x:.0f}"
    models = [k for k in d["settings"]["models"] if (k, lo) in t]
    measured = (f"time per step (adding, batch {d['settings']['batch_size']}): "
                + ", ".join(f"{ROAD_NAMES[k]} {' / '.join(ms(t[k, T]) for T in Ts)} ms" for k in models)
                + f" at T = {' / '.join(map(str, Ts))}")
    rec = [k for k in models if k != "transformer"]
    growth = {k: t[k, hi] / t[k, lo] for k in models}
    g_rec, g_tf = [growth[k] for k in rec], growth.get("transformer")
    factor = hi // lo
    if g_tf is None:
        return "Attention's cost grows as O(T²), recurrence's as O(T)", measured, "no Transformer timed"
    verdict = ("supported" if g_tf > max(g_rec) else "not supported") + (
        f": for {factor}× the length the recurrent models' step grows {min(g_rec):.0f}–{max(g_rec):.0f}×, the "
        f"Transformer's {g_tf:.0f}×")
    if g_tf < factor ** 2:
        verdict += (f" (not the full {factor ** 2}× of T²: its O(T) projections and feed-forward block still weigh "
                    f"at T = {lo})")
    rel = [t["transformer", hi] / t[k, hi] for k in rec]
    verdict += f"; at T = {hi} its step is {min(rel):.1f}–{max(rel):.0f}× the others'"
    scans, fused = [k for k in rec if k in ROAD_MODERN], [k for k in rec if k not in ROAD_MODERN]
    if scans and fused and min(t[k, hi] for k in scans) > max(t[k, hi] for k in fused):
        widths = sorted({r["width"] for r in d["runs"] if r["model"] in rec and r["task"] == "adding"})
        verdict += (f". The scans ({_names(scans)}) are slower per step than the fused classic cells at these widths "
                    f"({min(widths)}–{max(widths)}): their gain is at large widths (the row above)")
    return "Attention's cost grows as O(T²), recurrence's as O(T)", measured, verdict


def _claim_copy(d):
    chance = 1 / COPY_SYMBOLS
    parts = []
    for T in d["settings"]["lengths"]:
        ran = [k for k in d["settings"]["models"] if _road_runs(d, "copy", k, T)]
        if not ran:
            parts.append(f"T = {T}: not run")
            continue
        said, near = [], []
        for k in ran:
            runs = _road_runs(d, "copy", k, T)
            m = [r["metric"] for r in runs]
            k_ok = sum(r["success"] for r in runs)
            if max(m) < 2 * chance and not k_ok:
                near.append((k, m))
            else:
                said.append(f"the {ROAD_NAMES[k]} {', '.join(f'{x:.2f}' for x in m)} ({k_ok}/{len(runs)})")
        if near:
            vals = [x for _, m in near for x in m]
            said.append(f"{_names([k for k, _ in near])} stay near chance ({min(vals):.2f}–{max(vals):.2f}, chance "
                        f"1/{COPY_SYMBOLS}) on every seed")
        missing = [k for k in d["settings"]["models"] if k not in ran]
        if missing:
            said.append(f"{_names(missing)} not run")
        parts.append(f"T = {T}: " + "; ".join(said))
    measured = "copied symbols right per seed (seeds solved). " + ". ".join(parts)
    copies = {k: [T for T, (n, _) in _solved(d, "copy", k).items() if n] for k in d["settings"]["models"]}
    yes = [k for k, Ts in copies.items() if Ts]
    no = [k for k, Ts in copies.items() if not Ts]
    by_lengths = {}
    for k in yes:
        by_lengths.setdefault(tuple(copies[k]), []).append(k)
    verdict = "; ".join(
        [f"supported for {_names(ks, the=True)} at T = {' and '.join(map(str, Ts))}" for Ts, ks in by_lengths.items()]
        + ([f"{_names(no)} copy at no T in {d['settings']['steps']} steps"] if no else []))
    return "Long memory: the copy task (10 symbols over T blanks)", measured, verdict


def _claim_long_range(d):
    models, lengths = d["settings"]["models"], d["settings"]["lengths"]
    long, top = [T for T in lengths if T > min(lengths)], max(lengths)
    modern, classic = [k for k in models if k in ROAD_MODERN], [k for k in models if k not in ROAD_MODERN]
    measured, wins, won = [], [], []
    for task in d["settings"]["tasks"]:
        def total(kinds, task=task):
            return sum(_solved(d, task, k).get(T, (0, 0))[0] for k in kinds for T in long)
        ran = [k for k in models if top in _solved(d, task, k)]
        at_top = [f"{ROAD_NAMES[k]} {'{}/{}'.format(*_solved(d, task, k)[top])}" for k in ran
                  if _solved(d, task, k)[top][0]]
        said = ", ".join(at_top) if at_top else "no model" if ran else "not run"
        measured.append(f"{task}: seeds solved at T ≥ {min(long)} by the classic models ({_names(classic)}) "
                        f"{total(classic)}, by the modern ones ({_names(modern)}) {total(modern)}; at T = {top}: "
                        f"{said}")
        wins.append(total(modern) > total(classic))
        won += [task] if wins[-1] else []
    verdict = ("supported" if all(wins) else f"partly: on {' and '.join(won)}, where the modern models solve more "
               f"seeds" if any(wins) else "not supported") + " (every count: the table below)"
    return "Long-range tasks at T = 500, 1000 favour the modern models", ". ".join(measured), verdict


ROAD_CLAIMS = (_claim_vanilla, _claim_gating, _claim_scan_speed, _claim_mingru, _claim_ring,
               _claim_attention_path, _claim_cost, _claim_copy, _claim_long_range)


def block_road_claims() -> str:
    """docs/road.md: the chapter's table beside what the full race measured, the verdict from the runs."""
    d = _road()
    return _md_table(["the chapter says", "measured here", "verdict"], [claim(d) for claim in ROAD_CLAIMS])


ROAD_MODELS = {"rnn": ("RNN (Elman 1990 / 1986)", "`nn.RNN`, fused kernel"),
               "lstm": ("LSTM (Hochreiter & Schmidhuber 1997)", "`nn.LSTM`, fused kernel"),
               "gru": ("GRU (Cho et al. 2014)", "`nn.GRU`, fused kernel"),
               "lru": ("LRU (Orvieto et al. 2023)", "`Linear+GELU → nn.LRU (ring [{r_min}, {r_max}]) → GELU`, scan"),
               "mingru": ("minGRU (Feng et al. 2024)", "`Linear+GELU → nn.MinGRU`, scan"),
               "transformer": ("Transformer encoder (Vaswani et al. 2017)",
                               "`Linear` + sinusoidal positions, {layers} causal pre-norm layers, {heads} heads")}


def block_road_models() -> str:
    """docs/road.md: what each model of the race is, its width and parameter count (from the runs)."""
    d = _road()
    s = d["settings"]
    rows = []
    for k in s["models"]:
        title, what = ROAD_MODELS[k]
        per_task = {r["task"]: r for r in d["runs"] if r["model"] == k}
        rows.append([title, what.format(**s)] + [f"{per_task[t]['width']} / {per_task[t]['params']}"
                                                 if t in per_task else "—" for t in s["tasks"]])
    return _md_table(["model", "what runs"] + [f"width / params ({t})" for t in s["tasks"]], rows)


def block_road_success() -> str:
    """docs/road.md: seeds solved per model, task and T (— where the run was not made)."""
    d = _road()
    cols = [(task, T) for task in d["settings"]["tasks"] for T in d["settings"]["lengths"]]
    rows = []
    for k in d["settings"]["models"]:
        solved = {task: _solved(d, task, k) for task in d["settings"]["tasks"]}
        rows.append([ROAD_NAMES[k]] + [("{}/{}".format(*solved[task][T]) if T in solved[task] else "—")
                                       for task, T in cols])
    return _md_table(["model"] + [f"{task}, T = {T}" for task, T in cols], rows)


def block_road_race() -> str:
    """docs/road.md: what the full race's folder holds and how long its training took."""
    d = _road()
    s = d["settings"]
    want = len(s["tasks"]) * len(s["lengths"]) * len(s["models"]) * s["seeds"]
    have = {(r["task"], r["model"], r["T"]) for r in d["runs"]}
    missing = [f"{task} at T = {T} ({_names([k for k in s['models'] if (task, k, T) not in have])})"
               for task in s["tasks"] for T in s["lengths"]
               if any((task, k, T) not in have for k in s["models"])]
    hours = sum(r["seconds"] for r in d["runs"]) / 3600
    text = (f"`docs/results/road/full/road.json` holds {len(d['runs'])} of the {want} runs of the full settings "
            f"({', '.join(s['tasks'])}; T ∈ {{{', '.join(map(str, s['lengths']))}}}; {s['seeds']} seeds of each of "
            f"{len(s['models'])} models; {s['steps']} Adam steps, batch {s['batch_size']}) on device {d['device']}: "
            f"{hours:.1f} hours of training in all, the sum of the seconds each run recorded")
    return text + (f". Not run yet: {'; '.join(missing)}." if missing else ".")


def block_road_time() -> str:
    """docs/road.md: the time-per-step table of the full race's last command."""
    d = _road()
    t, Ts = _road_timing(d)
    rows = [[ROAD_NAMES[k]] + [f"{t[k, T]:.1f} ms" for T in Ts] + [f"{t[k, Ts[-1]] / t[k, Ts[0]]:.0f}×"]
            for k in d["settings"]["models"] if all((k, T) in t for T in Ts)]
    return _md_table(["model"] + [f"T = {T}" for T in Ts] + [f"T = {Ts[-1]} / T = {Ts[0]}"], rows)


BLOCKS = {name[len("block_"):]: fn for name, fn in globals().items() if name.startswith("block_")}


def pages() -> list:
    """The pages with generated blocks: ``docs/*.md`` and the README."""
    paths = [os.path.join(DOCS, f) for f in sorted(os.listdir(DOCS)) if f.endswith(".md")]
    return paths + [os.path.join(ROOT, "README.md")]


GENERATED = re.compile(r"(<!-- generated: (\w+) -->\n)(.*?)(<!-- end generated -->)", re.S)


def fill_pages() -> None:
    pattern = GENERATED
    for path in pages():
        fname = os.path.relpath(path, ROOT)
        with open(path, encoding="utf-8") as f:
            text = f.read()

        def repl(m, fname=fname):
            name = m.group(2)
            if name not in BLOCKS:
                raise SystemExit(f"make_figures: {fname} asks for an unknown generated block {name!r}")
            try:
                body = BLOCKS[name]()
            except (TypeError, KeyError, AttributeError) as e:     # the results for this block are missing
                body = f"_Results missing ({e}): run `python docs/make_figures.py`._"
            return m.group(1) + body.rstrip() + "\n" + m.group(4)

        new = pattern.sub(repl, text)
        if new != text:
            with open(path, "w", encoding="utf-8") as f:
                f.write(new)
            print(f"filled {fname}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reuse", action="store_true", help="skip runs whose results already exist")
    p.add_argument("--pages", action="store_true", help="only figures from results and the generated blocks")
    p.add_argument("--only", nargs="+", choices=tuple(RUNS), help="run only these")
    p.add_argument("--quick", action="store_true", help="only the quick versions, into results/quick/")
    p.add_argument("--check-quick", action="store_true",
                   help="rerun the quick versions and compare them with the committed results/quick/")
    p.add_argument("--exact", action="store_true", help="with --check-quick: floats bit for bit")
    args = p.parse_args(argv)
    os.makedirs(RESULTS, exist_ok=True)
    if args.check_quick:
        return check_quick(args.exact)
    if args.quick:
        import shutil
        shutil.rmtree(QUICK, ignore_errors=True)
        run_quick(QUICK)
        for base, _, files in os.walk(QUICK):          # only the numbers are committed and compared
            for f in files:
                if not f.endswith(".json"):
                    os.remove(os.path.join(base, f))
        return 0
    if not args.pages:
        for name, (fn, marker) in RUNS.items():
            if args.only and name not in args.only:
                continue
            if args.reuse and marker is not None and os.path.isfile(res(marker)):
                print(f"reusing results/{marker}")
                continue
            fn()
    figures()
    fill_pages()
    return 0


if __name__ == "__main__":
    sys.exit(main())
