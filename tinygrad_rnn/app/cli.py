"""``tinygrad-rnn``: the command line (also ``python -m tinygrad_rnn``).

    tinygrad-rnn demo [--quick] [--device cuda] [--out DIR]     why vanilla RNNs forget, gated cells remember
    tinygrad-rnn memory --T 5,20,40 ...                          the memory task alone
    tinygrad-rnn adding --T 100 --steps 2500 --lr 3e-3 ...      the adding problem alone
    tinygrad-rnn gradflow                                        ‖∂L/∂h_t‖ of a vanilla RNN against its Jacobians
    tinygrad-rnn graph --cell lstm --steps 4 -o graph.svg        the unrolled computation graph
    tinygrad-rnn train char_lm [--quick] ...                     run one of the examples
    tinygrad-rnn explore [--quick] [--from DEMO_OUT] [--serve]   the interactive page (one self-contained HTML file)

Every command takes ``--help``. NumPy's BLAS is asked for one thread unless ``OPENBLAS_NUM_THREADS``
(or ``OMP_NUM_THREADS``/``MKL_NUM_THREADS``) is set: the recurrent steps multiply small matrices, where
threads only cost time. A failure that is not a bug (no CuPy for ``--device cuda``, no
Graphviz, an unwritable output folder, a missing optional package) ends with one line saying what
went wrong and what to do, exit status 1; results computed before it stay on disk.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
import time
from dataclasses import replace

EXAMPLES = ("char_lm", "forecasting", "bidirectional", "clipping", "truncated_bptt", "seq2seq_reversal")


class CommandError(Exception):
    """A failure with a plain one-line reason (printed without a traceback)."""


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors: ``PROG: error: WHAT (see `PROG --help`)``, exit status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


# --------------------------------------------------------------------------------------------------
# argument helpers


def _ints(text: str) -> list:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
    if not values or min(values) < 2:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers >= 2, got {text!r}")
    return values


def _floats(text: str) -> list:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or not all(0 < v < float("inf") for v in values):
        raise argparse.ArgumentTypeError(f"expected comma-separated positive numbers, got {text!r}")
    return values


def _graph_cells() -> tuple:
    """The cells ``tinygrad-rnn graph`` draws: the registered kinds' scope names (lstm, gru, rnn, ...)."""
    from ..nn.recurrent.kinds import REGISTRY
    return tuple(dict.fromkeys(k.scope for k in REGISTRY.values()))


def _cells(text: str) -> list:
    """Built-in cells (rnn, gru, lstm) and user cells as ``module:Class``, comma-separated."""
    from .experiments import resolve_cell
    cells = [c.strip() for c in text.split(",") if c.strip()]
    cells = [c if ":" in c else c.lower() for c in cells]
    if not cells:
        raise argparse.ArgumentTypeError(f"expected cells among rnn,gru,lstm or module:Class names, got {text!r}")
    for c in cells:
        try:
            resolve_cell(c)
        except (TypeError, ValueError) as e:
            raise argparse.ArgumentTypeError(str(e)) from None
    return cells


def _choices(text: str, allowed: tuple) -> list:
    values = [v.strip().lower() for v in text.split(",") if v.strip()]
    bad = [v for v in values if v not in allowed]
    if not values or bad:
        raise argparse.ArgumentTypeError(f"expected comma-separated names among {','.join(allowed)}, got {text!r}")
    return values


def _forget_bias(text: str):
    if text.lower() in ("none", "default"):
        return "none"
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number or 'none', got {text!r}") from None


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return v


def _nonnegative_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not v >= 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a number >= 0 (0 = off), got {text}")
    return v


def _length(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 2, got {text!r}") from None
    if v < 2:
        raise argparse.ArgumentTypeError(f"expected a sequence length >= 2 (the gradient is compared between "
                                         f"steps), got {v}")
    return v


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {v}")
    return v


def _common(p: argparse.ArgumentParser, out_default: str) -> None:
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"),
                   help="where to train: cpu (NumPy) or cuda (CuPy). Default: cpu")
    p.add_argument("--seed", type=int, default=0, help="base seed; runs use seed, seed+1, ... Default: 0")
    p.add_argument("--out", default=out_default, help=f"output folder. Default: {out_default}")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--no-plots", action="store_true",
                   help="write the numbers only: no pictures, so neither matplotlib nor Graphviz is needed")


def _scale_args(p: argparse.ArgumentParser) -> None:
    """``--jobs`` and ``--dask``: where a sweep's independent runs go (results identical to a serial run)."""
    p.add_argument("--jobs", type=_positive, default=None,
                   help="worker processes for the independent runs (results identical to --jobs 1). "
                        "Default: the number of cores")
    p.add_argument("--dask", default=None, metavar="tcp://HOST:PORT",
                   help="run on an existing Dask cluster at this scheduler address instead "
                        "(pip install 'tinygrad-rnn[dask]')")


def _sweep_args(p: argparse.ArgumentParser, task: str) -> None:
    from .experiments import DEMO_ADDING, DEMO_MEMORY
    s = DEMO_MEMORY if task == "memory" else DEMO_ADDING
    p.add_argument("--T", type=_ints, default=None,
                   help=f"sequence lengths, comma-separated. Default: {','.join(map(str, s.lengths))}")
    p.add_argument("--cells", type=_cells, default=None,
                   help="cells to train: rnn, gru, lstm and module:Class (a cell class, e.g. mypkg.cells:MyCell). "
                        "Default: rnn,gru,lstm")
    p.add_argument("--seeds", type=_positive, default=None, help=f"seeds per cell and T. Default: {s.seeds}")
    p.add_argument("--steps", type=_positive, default=None, help=f"Adam steps per run. Default: {s.steps}")
    p.add_argument("--lr", type=_positive_float, default=None, help=f"learning rate (> 0). Default: {s.lr:g}")
    p.add_argument("--hidden", type=_positive, default=None, help=f"hidden size. Default: {s.hidden_size}")
    p.add_argument("--batch", type=_positive, default=None, help=f"batch size. Default: {s.batch_size}")
    p.add_argument("--clip", type=_nonnegative_float, default=None,
                   help=f"max gradient norm, 0 = off. Default: {s.clip:g}")
    p.add_argument("--forget-bias", type=_forget_bias, default=None,
                   help=f"LSTM forget-gate bias at init, or 'none' for PyTorch's default. Default: {s.forget_bias}")
    if task == "memory":
        p.add_argument("--K", type=_positive, default=None, help=f"number of symbols (chance 1/K). Default: {s.K}")
    p.add_argument("--test-size", type=_positive, default=None,
                   help=f"held-out sequences for the final metric. Default: {s.test_size}")
    p.add_argument("--quick", action="store_true",
                   help="a tiny sweep, for checking the setup (measured: 5-63 s on 2 shared cores at load 5-18)")
    _common(p, f"out/{task}")
    _scale_args(p)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="tinygrad-rnn",
        description="Recurrent networks from scratch: train, measure and draw RNN, GRU and LSTM.",
        epilog="Run `tinygrad-rnn COMMAND --help` for a command's options.")
    version = getattr(sys.modules.get(__package__.rpartition(".")[0]), "__version__", "unknown")   # no upward import
    parser.add_argument("--version", action="version", version=f"%(prog)s {version}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    p = sub.add_parser("demo", help="why vanilla RNNs forget and gated cells remember (tables + pictures)",
                       description="Train RNN, GRU and LSTM (equal hidden size) on the memory task and the adding "
                                   "problem over a sweep of T with fixed, stated settings and 3 seeds; print success "
                                   "rates, final metrics and ‖∂L/∂h_1‖; write plots, a hidden-state heatmap, the "
                                   "vanilla RNN's gradient flow against its Jacobians and the unrolled graph of a "
                                   "short LSTM. Measured on 2 shared CPU cores: the full "
                                   "demo's memory sweep alone took 7 min at a load average of 3-10 (the adding sweep "
                                   "takes longer); --quick took 1 min at load 5 and 4 min at load 11-18.")
    p.add_argument("--quick", action="store_true",
                   help="tiny settings, for checking the setup (about 1 min on 2 cores at load 5)")
    _common(p, "demo_out")
    _scale_args(p)

    for task, text in (("memory", "recall the symbol of step 1 at step T, past distractors"),
                       ("adding", "sum the two marked values of a sequence (Hochreiter & Schmidhuber)")):
        p = sub.add_parser(task, help=f"the {task} task: {text}",
                           description=f"Train RNN, GRU and LSTM on the {task} task over a sweep of T; write "
                                       f"{task}.json (after every run), {task}_vs_T.png and gradnorm_{task}.png.")
        _sweep_args(p, task)

    p = sub.add_parser("gradflow", help="‖∂L/∂h_t‖ of a vanilla RNN against what its Jacobians predict",
                       description="A vanilla RNN with W_hh = ρ·Q (Q orthogonal): measured ‖∂L/∂h_t‖ through time "
                                   "against the bounds from the step Jacobians and from σ_max(W_hh); writes "
                                   "gradflow.json and gradflow.png.")
    p.add_argument("--radii", type=_floats, default=[0.5, 0.9, 1.0, 1.1, 1.5],
                   help="values of ρ(W_hh), comma-separated. Default: 0.5,0.9,1.0,1.1,1.5")
    p.add_argument("--T", type=_length, default=60, help="sequence length (>= 2). Default: 60")
    p.add_argument("--cells", type=_cells, default=["rnn"],
                   help="cells to measure: rnn, gru, lstm and module:Class (a cell class, e.g. mypkg.cells:MyCell); "
                        "every H×H block of a cell's weight_hh is set to ρ·Q. Default: rnn")
    p.add_argument("--hidden", type=_positive, default=32, help="hidden size. Default: 32")
    p.add_argument("--nonlinearity", choices=("tanh", "relu"), default="tanh", help="Default: tanh")
    p.add_argument("--input-scale", type=_positive_float, default=0.01,
                   help="std of the random inputs. Default: 0.01")
    _common(p, "out/gradflow")

    # tinygrad-rnn road (issue 13): the classic cells, linear recurrences and a Transformer on long tasks
    from .road import MODELS as _ROAD_MODELS, TASKS as _ROAD_TASKS
    p = sub.add_parser("road", help="RNN, LSTM, GRU, LRU, minGRU and a Transformer raced on long tasks",
                       description="Train RNN, LSTM, GRU, LRU, minGRU and a small causal Transformer encoder of about "
                                   "equal parameter count on the adding problem and the copy task at T in "
                                   "{100, 500, 1000}, 3 seeds each, on settings fixed in advance; report success per "
                                   "model and T, training time per step against T and the gradient norm through "
                                   "time at initialisation; write road.json (after every run), road.md and figures. "
                                   "The full run takes hours (docs/road.md); --quick takes seconds.")
    p.add_argument("--quick", action="store_true", help="tiny settings (seconds), for checking the setup")
    p.add_argument("--T", type=_ints, default=None, help="sequence lengths, comma-separated. Default: 100,500,1000")
    p.add_argument("--models", type=lambda t: _choices(t, _ROAD_MODELS), default=None,
                   help=f"models, comma-separated, among {','.join(_ROAD_MODELS)}. Default: all")
    p.add_argument("--tasks", type=lambda t: _choices(t, _ROAD_TASKS), default=None,
                   help="tasks, comma-separated, among adding,copy. Default: both")
    p.add_argument("--seeds", type=_positive, default=None, help="seeds per task, model and T. Default: 3")
    p.add_argument("--steps", type=_positive, default=None, help="Adam steps per run. Default: 2000")
    p.add_argument("--params", type=_positive, default=None, help="parameter budget per model. Default: 5000")
    p.add_argument("--lr", type=float, default=None, help="learning rate. Default: 3e-3")
    p.add_argument("--batch", type=_positive, default=None, help="batch size. Default: 32")
    p.add_argument("--from", dest="sources", action="append", metavar="ROAD_JSON", default=None,
                   help="also read the finished runs of an earlier road.json (repeatable): runs trained with the same "
                        "settings, base seed and device are not run again and join this race's results, as do "
                        "the runs already in --out of other tasks, lengths or models")
    _common(p, "out/road")
    _scale_args(p)

    p = sub.add_parser("graph", help="draw the computation graph of a small recurrent layer",
                       description="Build a small RNN/GRU/LSTM, run it unrolled forward and backward and render "
                                   "its graph with Graphviz (SVG/PNG/PDF).")
    p.add_argument("--cell", type=str.lower, choices=_graph_cells(), default="lstm",   # LSTM = lstm, as --cells
                   help="Default: lstm")
    p.add_argument("--steps", type=_positive, default=4, help="time steps. Default: 4")
    p.add_argument("--layers", type=_positive, default=1, help="stacked layers. Default: 1")
    p.add_argument("--bidirectional", action="store_true", help="add a reverse direction")
    p.add_argument("--view", choices=("unrolled", "rolled"), default="unrolled", help="Default: unrolled")
    p.add_argument("--detail", choices=("op", "gate", "cell"), default="gate",
                   help="op: every primitive op; gate: each step one table with a row per gate, in the cell's "
                        "order; cell: each step one row per state (h, c). Default: gate")
    p.add_argument("--format", choices=("svg", "png", "pdf", "jpg", "dot"), default=None,
                   help="Default: from the output file's suffix (.svg .png .pdf .jpg; .dot/.gv write the DOT "
                        "text, no Graphviz needed); a format that contradicts the suffix is an error")
    p.add_argument("--max-steps", type=int, default=12,
                   help="past this many steps draw the first and last ones with an ellipsis between; 0 draws "
                        "every step. Default: 12")
    p.add_argument("-o", "--output", default="graph.svg", help="file to write. Default: graph.svg")

    # -- explore (issue 15): the interactive page ------------------------------------------------------
    p = sub.add_parser("explore", help="one self-contained web page: the chapter's views, driven by real runs",
                       description="Train small RNN/GRU/LSTM models on the memory task and a reversal "
                                   "encoder-decoder (or read a finished demo output with --from), then write "
                                   "explore.html: hidden states, gradients through time, LSTM gates, the "
                                   "encoder-decoder, the memory test and the unrolled graph, all inline (opens "
                                   "from file://, no network). A few minutes on 2 CPU cores; --quick takes seconds.")
    p.add_argument("--quick", action="store_true", help="tiny models (seconds), for checking the setup")
    p.add_argument("--from", dest="from_dir", default=None, metavar="DEMO_OUT",
                   help="read the memory sweep and hidden traces of a finished `tinygrad-rnn demo` folder")
    p.add_argument("--serve", action="store_true", help="serve the page on 127.0.0.1 at a free port; print the URL")
    _common(p, "explore_out")

    p = sub.add_parser("train", help="run one of the examples (char_lm, forecasting, ...)",
                       description="Run one of the example scripts that ship with the package; "
                                   "arguments after the name go to the example (try `train char_lm --help`).",
                       add_help=True)
    p.add_argument("example", nargs="?", choices=EXAMPLES, help=f"which example: {', '.join(EXAMPLES)}")
    p.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the example")
    parser.subcommands = sub.choices          # name -> subparser (for usage errors found after parsing)
    return parser


# --------------------------------------------------------------------------------------------------
# commands


def _device(name: str) -> str:
    if name == "cuda":
        from ..backend import cuda_is_available, CUDA_INSTALL_HINT
        if not cuda_is_available():
            raise CommandError(f"--device cuda needs CuPy and an NVIDIA GPU, and none is usable; "
                               f"{CUDA_INSTALL_HINT}; or use --device cpu")
    return name


def _settings_from(args, task: str):
    from .experiments import DEMO_ADDING, DEMO_MEMORY, QUICK_ADDING, QUICK_MEMORY, settings_with
    base = (QUICK_MEMORY if task == "memory" else QUICK_ADDING) if args.quick else \
        (DEMO_MEMORY if task == "memory" else DEMO_ADDING)
    fb = args.forget_bias
    s = settings_with(base, lengths=args.T, cells=args.cells, seeds=args.seeds, steps=args.steps, lr=args.lr,
                      hidden_size=args.hidden, batch_size=args.batch, clip=args.clip,
                      K=getattr(args, "K", None), test_size=args.test_size)
    if fb is not None:                       # "none" means PyTorch's default initialisation
        s = replace(s, forget_bias=None if fb == "none" else fb)
    return s


def run_sweep(settings, out: str, seed: int, device: str, progress: bool, keep_models=None, jobs=None,
              dask=None):
    """Run and save one task's sweep; print its settings and table. Returns the Sweep."""
    from .experiments import Sweep, format_table, write_json
    path = os.path.join(out, f"{settings.task}.json")
    print(f"\n== {settings.task} ==\n  {settings.describe()}", flush=True)
    sweep = Sweep(settings, seed=seed, device=device, path=path, jobs=jobs, dask=dask)
    t0 = time.perf_counter()
    sweep.run(progress=progress, keep_models=keep_models)
    if sweep.resumed:
        print(f"  (resumed: {sweep.resumed} runs read back from {path})", flush=True)
    for r in sweep.runs:
        r["K"] = settings.K if settings.task == "memory" else None
    write_json(path, sweep.to_json())
    print(format_table(sweep.to_json()["summary"], settings.task))
    print(f"  ({time.perf_counter() - t0:.0f} s; results in {path})", flush=True)
    return sweep


def sweep_figures(sweep, out: str) -> list:
    """metric-vs-T and gradient-norm-vs-step figures of a sweep; returns the paths.

    The gradient figure shows ``‖∂L/∂h_t‖ / ‖∂L/∂h_T‖`` (median over seeds): how much of the gradient
    at the last step reaches step t. After training the loss, and with it every absolute norm, is
    close to zero, so absolute norms would read as "vanishing" for a model that simply fits; the JSON
    keeps the absolute values (``grad_norms_init``, ``grad_norms_final``).
    """
    import numpy as np

    from . import plots
    s = sweep.settings
    paths = [plots.metric_vs_length(sweep.runs, os.path.join(out, f"{s.task}_vs_T.png"), s.task)]
    T = max(s.lengths)
    curves, styles = {}, {}
    for cell in s.cells:
        rs = [r for r in sweep.runs if r["cell"] == cell and r["T"] == T]
        if not rs:
            continue
        for key, label, ls in (("grad_norms_init", "at init", "--"), ("grad_norms_final", "trained", "-")):
            arr = np.array([r[key] for r in rs], dtype=np.float64)
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = arr / arr[:, -1:]                       # relative to ‖∂L/∂h_T‖ of the same run
            rel[~np.isfinite(rel)] = np.nan
            name = f"{cell.upper()} {label}"
            curves[name] = np.nanmedian(rel, axis=0) if np.isfinite(rel).any() else rel[0]
            styles[name] = {"ls": ls}
    n = f"{s.seeds} seed{'s' if s.seeds != 1 else ''}"
    paths.append(plots.grad_norms_vs_step(
        curves, os.path.join(out, f"gradnorm_{s.task}.png"), styles=styles, ylabel="‖∂L/∂h_t‖ / ‖∂L/∂h_T‖",
        title=f"{s.task}, T={T}: share of the last step's gradient reaching step t\n"
              f"(median over {n}; at initialisation and after training)"))
    return paths


def hidden_states_figure(traces: dict, T: int, out: str) -> str:
    """The demo's heatmaps: every cell's ``h_t``, the LSTM's ``c_t`` and forget gate, one test sequence;
    the cue (step 1) and the recall (step T) are marked."""
    import numpy as np

    from . import plots
    from .experiments import CELL_NAMES
    panels, ranges = {}, {}
    for cell, tr_ in traces.items():
        label = f"{CELL_NAMES[cell]} hidden state h_t (tanh: −1..1)"
        panels[label], ranges[label] = np.array(tr_["h"]), (-1.0, 1.0)
    if "lstm" in traces:
        c = np.array(traces["lstm"]["c"])
        panels["LSTM cell state c_t (unbounded)"] = c
        if "f" in traces["lstm"]:
            label = "LSTM forget gate f_t (sigmoid: 0..1, 1 = keep)"
            panels[label], ranges[label] = np.array(traces["lstm"]["f"]), (0.0, 1.0)
    return plots.hidden_heatmaps(
        panels, os.path.join(out, "hidden_states.png"), ranges=ranges,
        marks={1: "cue: the symbol to remember", T: "recall: the answer is read"},
        title=f"memory task, T={T}: states of the trained models on one test sequence")


def cmd_sweep(args, task: str) -> int:
    from .experiments import ensure_folder
    device = _device(args.device)
    out = ensure_folder(args.out)
    settings = _settings_from(args, task)
    tools = check_optional_tools(plots=not args.no_plots, graph=False, progress=not args.no_progress)
    sweep = run_sweep(settings, out, args.seed, device, not args.no_progress, jobs=args.jobs, dask=args.dask)
    for p in (sweep_figures(sweep, out) if tools.get("matplotlib") else []):
        print(f"  wrote {p}")
    return 0


def cmd_gradflow(args) -> int:
    from .experiments import ensure_folder, format_gradflow_table, gradflow_experiment, write_json
    device = _device(args.device)
    out = ensure_folder(args.out)
    tools = check_optional_tools(plots=not args.no_plots, graph=False, progress=False)
    res = gradflow_experiment(tuple(args.radii), T=args.T, hidden_size=args.hidden, nonlinearity=args.nonlinearity,
                              input_scale=args.input_scale, seed=args.seed, device=device, cells=tuple(args.cells))
    write_json(os.path.join(out, "gradflow.json"), res)
    if args.cells == ["rnn"]:
        print(f"vanilla RNN ({args.nonlinearity}), W_hh = ρ·Q, T={args.T}, H={args.hidden}, loss ½‖h_T‖²")
    else:
        from .experiments import CELL_NAMES
        print(f"{', '.join(CELL_NAMES[c] for c in args.cells)}: every H×H block of W_hh = ρ·Q, biases 0, "
              f"T={args.T}, H={args.hidden}, loss ½‖h_T‖²")
    print(format_gradflow_table(res))
    if tools.get("matplotlib"):
        print(f"  wrote {_gradflow_figure(res, out)}")
    return 0


def _gradflow_figure(res: dict, out: str) -> str:
    from . import plots
    from .experiments import CELL_NAMES
    curves, styles = {}, {}
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
    cells = res.get("cells", ["rnn"])
    one = list(cells) == ["rnn"]
    for i, r in enumerate(res["rows"]):
        c = colors[i % len(colors)]
        who = f"ρ={r['rho']:g}" if one else f"{CELL_NAMES[r.get('cell', 'rnn')]}, ρ={r['rho']:g}"
        curves[f"{who} measured"] = r["grad_norms"]
        styles[f"{who} measured"] = {"color": c, "lw": 2}
        curves[f"{who} bound ∏σ_max(J)"] = r["jacobian_bound"]
        styles[f"{who} bound ∏σ_max(J)"] = {"color": c, "ls": "--", "lw": 1}
    what = "vanilla RNN" if one else ", ".join(CELL_NAMES[c] for c in cells)
    return plots.grad_norms_vs_step(curves, os.path.join(out, "gradflow.png"), styles=styles,
                                    title=f"{what}, T={res['T']}: ‖∂L/∂h_t‖ and the Jacobian bound")


def cmd_graph(args) -> int:
    from ..viz import RenderError, format_for, graph_command
    try:
        fmt = format_for(args.output, args.format)
    except ValueError as e:
        raise CommandError(str(e)) from None
    if args.max_steps < 0:
        raise CommandError(f"--max-steps: expected an int >= 0 (0: every step), got {args.max_steps}")
    folder = os.path.dirname(args.output)
    try:
        if folder:
            from .experiments import ensure_folder
            ensure_folder(folder)
        path = graph_command(cell=args.cell, steps=args.steps, layers=args.layers, bidirectional=args.bidirectional,
                             view=args.view, detail=args.detail, format=fmt, out=args.output,
                             max_steps=args.max_steps or None)
    except RenderError as e:
        raise CommandError(str(e)) from None
    except OSError as e:           # `graph` writes one file: name -o/--output, not a folder option it lacks
        reason = e.strerror or str(e)
        raise CommandError(f"cannot write {args.output!r} ({reason}): choose a writable path with -o/--output") \
            from None
    print(f"wrote {path}")
    return 0


def examples_folder() -> str:
    """The folder of the example scripts, shipped inside the package (``tinygrad_rnn/examples``)."""
    here = os.path.dirname(os.path.abspath(__file__))
    return os.path.join(os.path.dirname(here), "examples")


def cmd_train(args) -> int:
    path = os.path.join(examples_folder(), f"{args.example}.py")
    if not os.path.isfile(path):
        raise CommandError(f"example {args.example!r} not found at {path}; the examples ship inside the "
                           f"package: reinstall it (pip install tinygrad-rnn)")
    old = sys.argv
    sys.argv = [path] + list(args.args)
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as e:
        return int(e.code or 0) if not isinstance(e.code, str) else (print(e.code, file=sys.stderr) or 1)
    finally:
        sys.argv = old
    return 0


def cmd_explore(args) -> int:
    """Collect the runs, write explore.html (and explore.json); with --serve, serve it on loopback."""
    from .explore import collect, serve, write_page
    device = _device(args.device)
    from .experiments import ensure_folder
    out = ensure_folder(args.out)
    if args.from_dir is not None and not os.path.isdir(args.from_dir):
        raise CommandError(f"--from: {args.from_dir!r} is not a folder (expected a `tinygrad-rnn demo` output)")
    try:
        data = collect(quick=args.quick, seed=args.seed, device=device, from_dir=args.from_dir,
                       progress=not args.no_progress, graph=not args.no_plots)
    except FileNotFoundError as e:        # --from names a folder without the demo's files
        raise CommandError(str(e)) from None
    path = write_page(data, out)
    print(f"wrote {path} ({os.path.getsize(path) / 1e6:.2f} MB, collected in {data['meta']['seconds']:.0f} s); "
          f"open it in a browser (file://{os.path.abspath(path)})", flush=True)
    if args.serve:
        try:
            serve(path)
        except KeyboardInterrupt:             # Ctrl-C is how serving ends
            print("stopped serving; the page stays on disk", flush=True)
    return 0


def cmd_demo(args) -> int:
    """The memory sweep, the adding sweep, the vanilla RNN's gradient flow, pictures and a summary."""

    from .experiments import (DEMO_ADDING, DEMO_MEMORY, QUICK_ADDING, QUICK_MEMORY, ensure_folder,
                              format_gradflow_table, gradflow_experiment, trace_example, write_json)
    device = _device(args.device)
    out = ensure_folder(args.out)
    progress = not args.no_progress
    tools = check_optional_tools(plots=not args.no_plots, graph=not args.no_plots, progress=progress)
    t_start = time.perf_counter()
    load_start = _loadavg()
    mem_s, add_s = (QUICK_MEMORY, QUICK_ADDING) if args.quick else (DEMO_MEMORY, DEMO_ADDING)
    print(f"tinygrad-rnn demo{' --quick' if args.quick else ''}: device {device}, base seed {args.seed}, "
          f"output {out}", flush=True)

    T_mem = max(mem_s.lengths)
    mem = run_sweep(mem_s, out, args.seed, device, progress,
                    keep_models=lambda cell, T, k: T == T_mem and k == 0, jobs=args.jobs, dask=args.dask)
    add = run_sweep(add_s, out, args.seed, device, progress, jobs=args.jobs, dask=args.dask)

    plots_on = bool(tools.get("matplotlib"))
    written = sweep_figures(mem, out) + sweep_figures(add, out) if plots_on else []
    traces = {cell: trace_example(mem_s, mem.models[(cell, T_mem, 0)], T_mem, args.seed, device)
              for cell in mem_s.cells if (cell, T_mem, 0) in mem.models}
    write_json(os.path.join(out, "hidden_traces.json"), traces)
    if plots_on:
        written.append(hidden_states_figure(traces, T_mem, out))

    print("\n== gradient flow of a vanilla RNN (W_hh = ρ·Q, Q orthogonal) ==", flush=True)
    gf = gradflow_experiment(T=30 if args.quick else 60, seed=args.seed, device=device)
    write_json(os.path.join(out, "gradflow.json"), gf)
    print(format_gradflow_table(gf))
    if plots_on:
        written.append(_gradflow_figure(gf, out))

    seconds = time.perf_counter() - t_start
    write_json(os.path.join(out, "demo.json"), _run_facts(seconds, device, args.seed, args.quick, load_start))
    summary = _demo_summary(mem, add, gf, seconds, device, args)
    with open(os.path.join(out, "summary.md"), "w", encoding="utf-8") as f:
        f.write(summary)
    written.append(os.path.join(out, "summary.md"))
    print()
    for p in written:
        print(f"  wrote {p}")
    if not args.no_plots:    # the graph comes last; without Graphviz it is written as DOT text
        from ..viz import GraphvizNotFoundError, graph_command
        try:
            path = graph_command(cell="lstm", steps=4, detail="gate", out=os.path.join(out, "lstm_unrolled.svg"))
            print(f"  wrote {path}")
        except GraphvizNotFoundError as e:
            print(f"  wrote {e.dot_path} (DOT text: Graphviz `dot` is not installed; `dot -Tsvg` draws it)")
    print(f"demo finished in {seconds:.0f} s (device {device})")
    return 0


def _loadavg() -> float | None:
    try:
        return os.getloadavg()[0]
    except (OSError, AttributeError):         # not on every platform
        return None


def _run_facts(seconds: float, device: str, seed: int, quick: bool, load_start) -> dict:
    """Run time and the machine it ran on (for the docs' statement of the run time)."""
    import platform
    return {"seconds": seconds, "device": device, "seed": seed, "quick": quick, "cpu_count": os.cpu_count(),
            "machine": platform.machine(), "python": platform.python_version(),
            "blas_threads_env": {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")},
            "load_average_start": load_start, "load_average_end": _loadavg()}


def _demo_summary(mem, add, gf, seconds: float, device: str, args) -> str:
    from .experiments import format_gradflow_table, format_table
    return "\n".join([
        "# tinygrad-rnn demo", "",
        f"Device {device}, base seed {args.seed}{', --quick' if args.quick else ''}; run time {seconds:.0f} s.", "",
        "## Memory task", "", mem.settings.describe(), "", format_table(mem.to_json()["summary"], "memory"), "",
        "## Adding problem", "", add.settings.describe(), "", format_table(add.to_json()["summary"], "adding"), "",
        "## Gradient flow of a vanilla RNN", "",
        f"W_hh = ρ·Q (Q orthogonal), biases 0, T={gf['T']}, H={gf['hidden_size']}, loss ½‖h_T‖², one sequence "
        f"x ~ N(0, {gf['input_scale']}²).", "", format_gradflow_table(gf), ""])


# --------------------------------------------------------------------------------------------------
# entry point


def _reason(e: BaseException) -> str | None:
    """A one-line reason for failures that are not bugs, else None (a traceback is more useful)."""
    from ..backend import DeviceError
    from .experiments import OutputFolderError
    try:
        from ..viz import GraphvizNotFoundError
    except ImportError:              # pragma: no cover
        GraphvizNotFoundError = ()
    if isinstance(e, (CommandError, OutputFolderError)):
        return str(e)
    if isinstance(e, GraphvizNotFoundError):
        return str(e)
    if isinstance(e, DeviceError):
        return str(e)
    if isinstance(e, ImportError):
        return f"{e} (a missing optional package: pip install 'tinygrad-rnn[examples]')"
    if isinstance(e, (FileExistsError, NotADirectoryError)) and getattr(e, "filename", None):
        return f"{e.filename} is an existing file, not a folder: choose another --out"
    if isinstance(e, OSError):
        where = f" ({e.filename})" if getattr(e, "filename", None) else ""
        return f"{e.strerror or e}{where}: choose a writable folder with --out, or free some disk space"
    return None


BLAS_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
BLAS_SETTERS = ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads", "openblas_set_num_threads64_",
                "openblas_set_num_threads", "MKL_Set_Num_Threads")


def limit_blas_threads(n: int = 1) -> bool:
    """Ask the BLAS library NumPy loaded for ``n`` threads, unless the environment already chose.

    The experiments multiply small matrices (hidden sizes up to 64) thousands of times; BLAS threads
    only add synchronisation, and on cores shared with other work they made a training run 5x slower
    on the machine this was written on. NumPy is imported before this code runs, so the environment
    variables are too late: the library's own setter is called through ``ctypes`` (Linux: the
    libraries mapped into this process). Returns whether a setter was found and called.
    """
    if any(os.environ.get(v) for v in BLAS_ENV):
        return False
    import ctypes
    try:
        with open("/proc/self/maps", encoding="utf-8") as f:
            paths = {line.split()[-1] for line in f if "blas" in line.lower() or "mkl" in line.lower()}
    except OSError:
        return False
    for path in sorted(paths):
        if not os.path.isfile(path):
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in BLAS_SETTERS:
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(ctypes.c_int(n))
                return True
    return False


BROKEN_PIPE = 141          # 128 + SIGPIPE: what a shell reports for a program whose reader went away


def _quiet_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's final flush stays quiet."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):     # no real file descriptor (e.g. captured in tests)
        pass


def check_optional_tools(plots: bool, graph: bool, progress: bool) -> dict:
    """Which optional tools are usable, checked before any work; one line on stderr for each missing one.

    ``plots``: matplotlib (pictures); ``graph``: Graphviz's ``dot`` (the graph as SVG, else DOT text);
    ``progress``: tqdm (bars, else plain progress lines). Returns ``{"matplotlib", "dot", "tqdm"}`` →
    bool for the tools asked about.
    """
    found = {}
    if plots:
        try:
            import matplotlib  # noqa: F401
            found["matplotlib"] = True
        except ImportError:
            found["matplotlib"] = False
            print("tinygrad-rnn: note: matplotlib is not installed, so the numbers are written without plots "
                  "(pip install 'tinygrad-rnn[viz]')", file=sys.stderr, flush=True)
    if graph:
        from ..viz import dot_binary
        found["dot"] = dot_binary() is not None
        if not found["dot"]:
            print("tinygrad-rnn: note: Graphviz `dot` is not installed, so the graph is written as DOT text "
                  "(.dot) instead of SVG (apt-get install graphviz / brew install graphviz)", file=sys.stderr,
                  flush=True)
    if progress:
        from .experiments import have_tqdm
        found["tqdm"] = have_tqdm()
        if not found["tqdm"]:
            print("tinygrad-rnn: note: tqdm is not installed, so progress is printed as plain lines "
                  "(pip install tqdm)", file=sys.stderr, flush=True)
    return found


def _cmd_road(args) -> int:
    from .road import cmd_road
    return cmd_road(args)


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    if args.command == "train" and args.example is None:
        parser.subcommands["train"].error(f"choose an example: {', '.join(EXAMPLES)} "
                                          f"(e.g. tinygrad-rnn train char_lm --quick)")
    limit_blas_threads(1)
    handlers = {"demo": cmd_demo, "memory": lambda a: cmd_sweep(a, "memory"),
                "adding": lambda a: cmd_sweep(a, "adding"), "gradflow": cmd_gradflow, "graph": cmd_graph,
                "train": cmd_train, "explore": cmd_explore, "road": _cmd_road}
    try:
        code = handlers[args.command](args)
        sys.stdout.flush()                   # a closed pipe shows here rather than at the interpreter's exit
        return code
    except BrokenPipeError:                  # e.g. `tinygrad-rnn train clipping | head -1`: not an error
        _quiet_stdout()
        return BROKEN_PIPE
    except KeyboardInterrupt:
        print("tinygrad-rnn: interrupted; results written so far are kept", file=sys.stderr)
        return 130
    except Exception as e:          # noqa: BLE001 - turned into one line when it is not a bug
        reason = _reason(e)
        if reason is None:
            raise
        print(f"tinygrad-rnn {args.command}: error: {reason}", file=sys.stderr)
        return 1


if __name__ == "__main__":      # pragma: no cover
    sys.exit(main())
