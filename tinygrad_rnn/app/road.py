"""``tinygrad-rnn road``: the road to modern sequence models, raced on the same long tasks.

RNN, LSTM, GRU (1986–2014), the Linear Recurrent Unit (Orvieto et al. 2023), minGRU (Feng et al. 2024) and a
small causal Transformer encoder (Vaswani et al. 2017), each of about the same number of parameters, are
trained on the adding problem and the copy task at several lengths T, with several seeds, on settings
fixed in advance (:data:`FULL`, :data:`QUICK`) and printed before the runs. Reported:

- success per model and T (adding: test MSE < 0.01 and ≥ 90 % within 0.04; copy: ≥ 90 % of the copied
  symbols right on held-out sequences), with the test metric of every seed;
- training time per step against T, measured serially in this process at initialisation (the sequential
  O(T) loop of the classic cells, the scan's O(T) work in O(log T) depth, attention's O(T²));
- the gradient norm through time at initialisation: ``‖∂L/∂x_t‖`` of the input of every step (all models),
  and ``‖∂L/∂h_t‖`` of the recurrent state (recurrent models; the LRU's complex state ``|∂L/∂x_t|``).

Every run seeds itself (weights from ``seed``, each training batch from its own stream), runs in worker
processes or on a Dask cluster as the other sweeps do (:func:`~.experiments.run_jobs`), is saved as it
finishes, and an interrupted sweep resumes from what it saved.
"""

from __future__ import annotations

import functools
import json
import math
import os
import time
from dataclasses import asdict, dataclass, replace

import numpy as np

from .. import nn, optim
from ..analysis import grad_norms_through_time
from ..autograd import no_grad
from ..random import manual_seed
from ..tensor import Tensor, tensor
from . import tasks
from .experiments import (ADDING_FRACTION, ADDING_MSE, ADDING_TOL, Job, ensure_folder, fmt_seconds, header_differences,
                          progress_bar, read_saved, run_jobs, test_seed, train_seed, write_json)

MODELS = ("rnn", "lstm", "gru", "lru", "mingru", "transformer")
TITLES = {"rnn": "RNN (1986)", "lstm": "LSTM (1997)", "gru": "GRU (2014)", "lru": "LRU (2023)",
          "mingru": "minGRU (2024)", "transformer": "Transformer (2017)"}
TASKS = ("adding", "copy")
COPY_SUCCESS = 0.90          # fraction of the 10 copied symbols right


@dataclass(frozen=True)
class RoadSettings:
    """The race, fixed before it runs and written into its results.

    Attributes:
        tasks: ``"adding"`` and/or ``"copy"``. lengths: the T of each task (copy: T blanks between).
        models: which of :data:`MODELS`. seeds: seeds per (task, model, T): ``seed, seed + 1, ...``.
        params: the parameter budget: each model's width is chosen so its count is closest to it.
        batch_size, steps, lr, clip: Adam steps at ``lr``, global gradient-norm clip (0 = off).
        test_size: held-out sequences for the final metric.
        r_min, r_max: the LRU's ring initialisation (the paper's long-range setting).
        heads, layers: the Transformer's attention heads and encoder layers.
        time_steps: training steps timed per (model, T) for the time-per-step table.
    """

    tasks: tuple = TASKS
    lengths: tuple = (100, 500, 1000)
    models: tuple = MODELS
    seeds: int = 3
    params: int = 5000
    batch_size: int = 32
    steps: int = 2000
    lr: float = 3e-3
    clip: float = 1.0
    test_size: int = 256
    r_min: float = 0.9
    r_max: float = 0.999
    heads: int = 2
    layers: int = 2
    time_steps: int = 3

    def describe(self) -> str:
        widths = ", ".join(f"{TITLES[m]} width {model_width(self, m, _io(t)[0], _io(t)[1])[0]} "
                           f"({model_width(self, m, *_io(t))[1]} params on {t})"
                           for t in self.tasks[:1] for m in self.models)
        return (f"tasks {', '.join(self.tasks)}; T in {list(self.lengths)}; {self.seeds} seeds each; "
                f"parameter budget {self.params} ({widths}); batch {self.batch_size}, {self.steps} Adam steps at "
                f"lr {self.lr:g}, gradient-norm clip {self.clip:g}; {self.test_size} test sequences; LRU ring "
                f"[{self.r_min:g}, {self.r_max:g}]; Transformer: {self.layers} pre-norm encoder layers, "
                f"{self.heads} heads, causal mask, sinusoidal positions. Success: adding MSE < {ADDING_MSE:g} "
                f"and >= {ADDING_FRACTION:.0%} within {ADDING_TOL:g}; copy >= {COPY_SUCCESS:.0%} of the copied "
                f"symbols right (memoryless baseline cross-entropy 10 log 8 / (T + 20))")


FULL = RoadSettings()
"""The full race (far beyond a 2-core session: see docs/road.md for what it needs)."""
QUICK = RoadSettings(lengths=(8, 16), seeds=3, params=600, batch_size=16, steps=8, test_size=32, time_steps=2)
"""Seconds: checks the whole pipeline (CI)."""


def _io(task: str) -> tuple[int, int]:
    return (2, 1) if task == "adding" else (tasks.COPY_SYMBOLS + 2, tasks.COPY_SYMBOLS + 2)


# --------------------------------------------------------------------------------------------------
# models


def _positions(L: int, d: int) -> np.ndarray:
    """Sinusoidal positional encodings ``(L, 1, d)`` (Vaswani et al. 2017)."""
    pos = np.arange(L)[:, None]
    i = np.arange(d)[None, :]
    angle = pos / np.power(10000.0, (2 * (i // 2)) / d)
    return np.where(i % 2 == 0, np.sin(angle), np.cos(angle))[:, None, :]


class RoadModel(nn.Module):
    """A sequence layer between an input map and a linear read-out; ``forward(x (L, B, I))`` returns the
    last step's output ``(B, O)`` (``per_step=False``) or every step's ``(L, B, O)``.

    - ``rnn``, ``lstm``, ``gru``: the layer reads the input directly;
    - ``lru``, ``mingru``: a per-step ``Linear + GELU`` first (a linear recurrence needs a nonlinearity
      before it to form products such as value × marker), and GELU after the LRU (its output is linear);
    - ``transformer``: ``Linear`` embedding + sinusoidal positions, causal pre-norm encoder layers.
    """

    def __init__(self, kind: str, input_size: int, width: int, output_size: int, s: RoadSettings,
                 per_step: bool, device=None) -> None:
        super().__init__()
        if kind not in MODELS:
            raise ValueError(f"model: expected one of {MODELS}, got {kind!r}")
        self.kind, self.per_step, self.width = kind, per_step, width
        H, kw = width, dict(device=device)
        if kind in ("rnn", "lstm", "gru"):
            self.seq = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}[kind](input_size, H, **kw)
        elif kind in ("lru", "mingru"):
            self.inp = nn.Linear(input_size, H, **kw)
            self.seq = nn.LRU(H, H, r_min=s.r_min, r_max=s.r_max, **kw) if kind == "lru" else nn.MinGRU(H, H, **kw)
        else:
            self.inp = nn.Linear(input_size, H, **kw)
            layer = nn.TransformerEncoderLayer(H, s.heads, 2 * H, dropout=0.0, activation="gelu", norm_first=True, **kw)
            self.seq = nn.TransformerEncoder(layer, s.layers, norm=nn.LayerNorm(H, **kw), enable_nested_tensor=False)
        self.head = nn.Linear(H, output_size, **kw)

    def forward(self, x: Tensor, unroll: bool = False) -> Tensor:
        if self.kind in ("rnn", "lstm", "gru"):
            h, _ = self.seq(x, unroll=unroll)
        elif self.kind in ("lru", "mingru"):
            h, _ = self.seq(nn.functional.gelu(self.inp(x)), unroll=unroll)
            if self.kind == "lru":
                h = nn.functional.gelu(h)
        else:
            L = x.shape[0]
            e = self.inp(x) + tensor(_positions(L, self.width), dtype=x.dtype, device=x.device)
            mask = nn.Transformer.generate_square_subsequent_mask(L, device=x.device, dtype=x.dtype)
            h = self.seq(e, mask=mask, is_causal=True)
        return self.head(h if self.per_step else h[-1])


def count_params(model: nn.Module) -> int:
    return int(sum(p.numel() for p in model.parameters()))


@functools.lru_cache(maxsize=None)
def model_width(s: RoadSettings, kind: str, input_size: int, output_size: int) -> tuple[int, int]:
    """``(width, parameter count)`` of ``kind`` whose count is closest to ``s.params`` (Transformer widths
    are multiples of the head count)."""
    step = s.heads if kind == "transformer" else 1
    best = None
    for w in range(step, 513, step):
        n = count_params(RoadModel(kind, input_size, w, output_size, s, per_step=False))
        if best is None or abs(n - s.params) < abs(best[1] - s.params):
            best = (w, n)
        if n > s.params:
            break
    return best


# --------------------------------------------------------------------------------------------------
# one run


def _batch(task: str, T: int, n: int, seed: int, device):
    return tasks.adding_problem(T, n, seed, device=device) if task == "adding" else \
        tasks.copy_task(T, n, seed, device=device)


def _loss(task: str, pred: Tensor, y: Tensor) -> Tensor:
    if task == "adding":
        return nn.functional.mse_loss(pred, y)
    return nn.functional.cross_entropy(pred.reshape(-1, pred.shape[-1]), y.reshape(-1))


def build(s: RoadSettings, task: str, kind: str, seed: int, device="cpu") -> RoadModel:
    """The model of one run, its weights drawn from ``seed``."""
    I, O = _io(task)
    width, _ = model_width(s, kind, I, O)
    manual_seed(seed)
    return RoadModel(kind, I, width, O, s, per_step=task == "copy", device=device)


def evaluate(task: str, model: RoadModel, T: int, n: int, seed: int, device) -> dict:
    x, y = _batch(task, T, n, test_seed(seed), device)
    with no_grad():
        pred = model(x)
        loss = float(_loss(task, pred, y).item())
    p, t = pred.numpy(), y.numpy()
    if task == "adding":
        err = np.abs(p - t).ravel()
        mse, within = float((err ** 2).mean()), float((err < ADDING_TOL).mean())
        return {"loss": loss, "mse": mse, "within_0.04": within, "metric": mse,
                "success": bool(mse < ADDING_MSE and within >= ADDING_FRACTION)}
    acc = float((p[-tasks.COPY_LENGTH:].argmax(-1) == t[-tasks.COPY_LENGTH:]).mean())
    return {"loss": loss, "copy_accuracy": acc, "metric": acc, "baseline_loss": tasks.copy_baseline(T),
            "success": acc >= COPY_SUCCESS}


def gradients_at_init(task: str, model: RoadModel, T: int, seed: int, device) -> dict:
    """``‖∂L/∂x_t‖`` per input step (all models) and ``‖∂L/∂h_t‖`` per state step (recurrent models)."""
    x, y = _batch(task, T, 32, test_seed(seed) + 7, device)
    x = x.detach().requires_grad_(True)
    _loss(task, model(x), y).backward()
    g = x.grad.numpy().astype(np.float64)
    out = {"grad_input": np.sqrt((g ** 2).sum(axis=(1, 2))).tolist()}
    model.zero_grad()
    if model.kind != "transformer":
        flow = grad_norms_through_time(model, x.detach(), lambda pred: _loss(task, pred, y))
        st = flow.states
        h = np.sqrt(st["re"] ** 2 + st["im"] ** 2) if "re" in st else flow.h
        out["grad_state"] = h[0, 0].tolist()
        model.zero_grad()
    return out


def train_run(s: RoadSettings, task: str, kind: str, T: int, seed: int, device="cpu", bar=None) -> dict:
    """Train one model from scratch on one task and length; its result record."""
    t0 = time.perf_counter()
    model = build(s, task, kind, seed, device)
    params = list(model.parameters())
    grads = gradients_at_init(task, model, T, seed, device)
    opt = optim.Adam(params, lr=s.lr)
    curve, every = [], max(1, s.steps // 50)
    for step in range(s.steps):
        x, y = _batch(task, T, s.batch_size, train_seed(seed, step), device)
        loss = _loss(task, model(x), y)
        opt.zero_grad()
        loss.backward()
        if s.clip > 0:
            nn.utils.clip_grad_norm_(params, s.clip)
        opt.step()
        if step % every == 0 or step == s.steps - 1:
            curve.append([step, float(loss.item())])
        if bar is not None:
            bar.update(1)
    return {"task": task, "model": kind, "T": T, "seed": seed, "params": count_params(model),
            "width": model.width, **evaluate(task, model, T, s.test_size, seed, device), **grads,
            "loss_curve": curve, "seconds": time.perf_counter() - t0}


def time_per_step(s: RoadSettings, task: str, kind: str, T: int, device="cpu") -> float:
    """Median seconds of one training step (forward, backward, Adam) at initialisation, after one warm-up."""
    model = build(s, task, kind, 0, device)
    params = list(model.parameters())
    opt = optim.Adam(params, lr=s.lr)
    times = []
    for step in range(s.time_steps + 1):
        x, y = _batch(task, T, s.batch_size, train_seed(0, step), device)
        t0 = time.perf_counter()
        loss = _loss(task, model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        float(loss.item())
        if step:
            times.append(time.perf_counter() - t0)
    return float(np.median(times))


# --------------------------------------------------------------------------------------------------
# the race


SELECTION = ("tasks", "lengths", "models", "seeds", "time_steps")
"""The settings that choose which runs a command makes, not how a run trains. Runs saved by commands that
differ only in these are the same runs: a race is assembled from parts (``--T 500`` today, ``--T 1000``
tomorrow, into one folder or from ``--from`` files) and no run is made twice."""


def _longest_first(job) -> tuple:
    """Start order of the runs (the results keep the serial order): the longest T first, and at each T the
    Transformer, whose attention grows as T² (its step is the longest at every T: docs/road.md, 'Time per
    step'). On a few workers the runs that start last are then short ones, so no worker waits long for the
    last run to finish (the serial order would start the three Transformer copy runs at T = 1000 last)."""
    _, kind, T, _ = job.key
    return -T, kind != "transformer", job.index


def _key(r: dict) -> tuple:
    return r["task"], r["model"], r["T"], r["seed"]


def read_sources(sources, header: dict) -> list:
    """The runs of earlier road.json files (``--from``), each read once and checked: a file that is missing,
    is not a road result or trained with other settings is an error that says so (nothing runs)."""
    runs = []
    for src in sources:
        if not os.path.isfile(src):
            raise FileNotFoundError(f"road --from: {src} is not a file (expected the road.json of an earlier run)")
        try:
            with open(src, encoding="utf-8") as f:
                saved = json.load(f)
        except (OSError, ValueError) as e:
            raise ValueError(f"road --from: {src} is not a road.json ({e})") from None
        if not isinstance(saved, dict) or not isinstance(saved.get("runs"), list):
            raise ValueError(f"road --from: {src} holds runs made with other settings (no runs list): its runs are "
                             f"not this race's")
        diff = header_differences(saved, header, SELECTION)
        if diff:
            what = "; ".join(f"{k} {a!r} there, {b!r} here" for k, a, b in diff)
            raise ValueError(f"road --from: {src} holds runs made with other settings ({what}): its runs are not "
                             f"this race's")
        runs += saved["runs"]
    return runs


def _merge_timing(new: list, old: list) -> list:
    """This command's time-per-step rows, then the saved rows it did not re-time, of the same task only (the
    table is one task's)."""
    timed = {(t["task"], t["model"], t["T"]) for t in new}
    old = [t for t in old if (t["task"], t["model"], t["T"]) not in timed]
    task = (new or old or [{"task": None}])[0]["task"]
    return new + [t for t in old if t["task"] == task]


def _union(s: RoadSettings, runs: list) -> RoadSettings:
    """``s`` widened to every task, length and model among ``runs`` (the settings of a folder that holds them)."""
    tasks = {r["task"] for r in runs} | set(s.tasks)
    models = {r["model"] for r in runs} | set(s.models)
    return replace(s, tasks=tuple(t for t in TASKS if t in tasks), models=tuple(m for m in MODELS if m in models),
                   lengths=tuple(sorted({r["T"] for r in runs} | set(s.lengths))))


def run_road(s: RoadSettings, seed: int = 0, device="cpu", path: str | None = None, jobs: int | None = 1,
             dask: str | None = None, progress: bool = True, timing: bool = True, sources=()) -> dict:
    """Every (task, model, T, seed) run, saved as it finishes to ``path`` (resuming from it), and the
    time-per-step table (serial, this process). Returns the results (what ``path`` holds).

    Runs already in ``path`` or in the ``sources`` files (earlier road.json) that were trained with the same
    settings (all but :data:`SELECTION`), base seed and device are read back, not run again; those outside
    this command's selection are kept in ``path`` too, as is their time-per-step table."""
    order = [(task, kind, T, seed + k) for task in s.tasks for T in s.lengths for kind in s.models
             for k in range(s.seeds)]
    header = {"settings": asdict(s), "base_seed": seed, "device": str(device)}
    here = read_saved(path, header, ignore=SELECTION) or {}
    saved = {_key(r): r for r in read_sources(sources, header) + here.get("runs", [])}   # the folder's own win
    done = {order.index(key): r for key, r in saved.items() if key in order}
    extra = [r for key, r in saved.items() if key not in order]
    wide = _union(s, extra) if extra else s
    results = dict(header, settings=asdict(wide), runs=[], resumed=len(done), kept=len(extra), timing=[],
                   read_back_seconds=float(sum(r.get("seconds", 0.0) for r in [*done.values(), *extra])))
    bar = progress_bar(len(order), "road", progress)
    bar.update(len(done))

    def finished(job, value) -> None:
        done[job.index] = value
        results["runs"] = [done[i] for i in sorted(done)] + extra
        results["summary"] = summarize(results["runs"])
        bar.update(1)
        if path is not None:
            write_json(path, results)

    todo = sorted((Job(i, key, train_run, (s, *key, device)) for i, key in enumerate(order) if i not in done),
                  key=_longest_first)
    try:
        run_jobs(todo, jobs, dask, finished)
    finally:
        bar.close()
    results["runs"] = [done[i] for i in sorted(done)] + extra
    results["summary"] = summarize(results["runs"])
    if timing:
        results["timing"] = [{"task": task, "model": kind, "T": T, "seconds_per_step": time_per_step(s, task, kind, T,
                                                                                                     device)}
                             for task in s.tasks[:1] for T in s.lengths for kind in s.models]
    results["timing"] = _merge_timing(results["timing"], here.get("timing", []))
    if path is not None:
        write_json(path, results)
    return results


def summarize(runs: list) -> list:
    """One row per (task, model, T): successes, the metric of every seed, gradient ratios at init."""
    rows = {}
    for r in runs:
        rows.setdefault((r["task"], r["model"], r["T"]), []).append(r)
    out = []
    for (task, kind, T), rs in rows.items():
        def ratio(key, rs=rs):
            vals = [r[key][0] / r[key][-1] for r in rs if key in r and r[key][-1] > 0]
            return float(np.median(vals)) if vals else None
        out.append({"task": task, "model": kind, "T": T, "seeds": len(rs), "params": rs[0]["params"],
                    "successes": int(sum(r["success"] for r in rs)), "metrics": [r["metric"] for r in rs],
                    "input_ratio": ratio("grad_input"), "state_ratio": ratio("grad_state"),
                    "seconds": float(np.median([r["seconds"] for r in rs]))})
    return out


def _fmt(v, f="{:.2e}") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    if v == 0:
        return "0 (underflow)"       # a gradient ratio below float32's smallest number, not an exact zero
    return f.format(v)


def format_tables(results: dict) -> str:
    """Markdown: success per model and T (per task), and time per step against T."""
    s_rows = results.get("summary") or []
    lines = []
    for task in dict.fromkeys(r["task"] for r in s_rows):
        metric = "test MSE" if task == "adding" else "copied symbols right"
        lines += [f"### {task}", "",
                  f"| model | params | T | success | {metric} (per seed) | ‖∂L/∂x₁‖/‖∂L/∂x_T‖ at init | "
                  "‖∂L/∂h₁‖/‖∂L/∂h_T‖ at init |",
                  "| --- | ---: | ---: | ---: | --- | ---: | ---: |"]
        for r in sorted((r for r in s_rows if r["task"] == task), key=lambda r: (r["T"], MODELS.index(r["model"]))):
            f = "{:.4f}" if task == "adding" else "{:.2f}"
            lines.append(f"| {TITLES[r['model']]} | {r['params']} | {r['T']} | {r['successes']}/{r['seeds']} | "
                         f"{', '.join(f.format(m) for m in r['metrics'])} | {_fmt(r['input_ratio'])} | "
                         f"{_fmt(r['state_ratio'])} |")
        if task == "copy":
            lines += ["", "(The copy task's loss reads every step, the blanks' too, so ‖∂L/∂x₁‖ holds step 1's own "
                      "read-out: on this task the ratios do not measure the gradient's path over the T blanks.)"]
        lines.append("")
    timing = results.get("timing") or []
    if timing:
        Ts = sorted({t["T"] for t in timing})
        lines += [f"### training time per step ({timing[0]['task']}, batch as set; median, ms)", "",
                  "| model | " + " | ".join(f"T={T}" for T in Ts) + " |", "| --- |" + " ---: |" * len(Ts)]
        for kind in dict.fromkeys(t["model"] for t in timing):
            cells = {t["T"]: t["seconds_per_step"] for t in timing if t["model"] == kind}
            lines.append(f"| {TITLES[kind]} | " + " | ".join(f"{1e3 * cells[T]:.1f}" if T in cells else "—"
                                                            for T in Ts) + " |")
        lines.append("")
    return "\n".join(lines)


def _t_axis(ax, lengths) -> None:
    """A log T axis whose ticks are the race's lengths, written out (no 8×10⁰ minor labels)."""
    from matplotlib.ticker import NullFormatter, NullLocator
    Ts = sorted(set(lengths))
    ax.set_xscale("log")
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xticks(Ts, [str(T) for T in Ts])
    lo, hi = Ts[0], Ts[-1]
    ax.set_xlim(lo / 1.3, hi * 1.3)                 # one length: a narrow axis around it, not 29.4..30.6


def figures(results: dict, out: str) -> list:
    """success-vs-T, time-per-step-vs-T and gradient-norm-at-init figures (PNG); returns the paths."""
    from .plots import _plt, _save, legend_beside
    plt = _plt()
    paths = []
    summ = results.get("summary") or []
    task_list = list(dict.fromkeys(r["task"] for r in summ))
    if task_list:
        fig, axes = plt.subplots(1, len(task_list), figsize=(5 * len(task_list) + 1.2, 3.6), squeeze=False)
        colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
        for ax, task in zip(axes[0], task_list):
            # grouped bars, one group per T, labelled k/n: a model that solved nothing still shows
            lengths = sorted({r["T"] for r in summ if r["task"] == task})
            kinds = [k for k in MODELS if any(r["task"] == task and r["model"] == k for r in summ)]
            width = 0.8 / max(1, len(kinds))
            for j, kind in enumerate(kinds):
                for i, T in enumerate(lengths):
                    r = next((r for r in summ if r["task"] == task and r["model"] == kind and r["T"] == T), None)
                    if r is None:
                        continue
                    x = i - 0.4 + (j + 0.5) * width
                    ax.bar(x, r["successes"] / r["seeds"], width * 0.9, color=colors[j % len(colors)],
                           label=TITLES[kind] if i == 0 else None)
                    ax.text(x, r["successes"] / r["seeds"] + 0.02, f"{r['successes']}/{r['seeds']}", ha="center",
                            va="bottom", fontsize=6)
            ax.set_xticks(range(len(lengths)), [f"T={T}" for T in lengths])
            ax.set(title=f"{task}: seeds solved", ylabel="fraction of seeds", ylim=(0, 1.15))
        legend_beside(axes[0][-1])
        paths.append(_save(fig, os.path.join(out, "road_success.png")))
    timing = results.get("timing") or []
    if timing:
        fig, ax = plt.subplots(figsize=(6.2, 3.6))
        for kind in dict.fromkeys(t["model"] for t in timing):
            ts = sorted((t for t in timing if t["model"] == kind), key=lambda t: t["T"])
            ax.plot([t["T"] for t in ts], [t["seconds_per_step"] for t in ts], "o-", label=TITLES[kind])
        batch = (results.get("settings") or {}).get("batch_size")
        ax.set(title=f"training step time ({timing[0]['task']}{f', batch {batch}' if batch else ''}; median)",
               xlabel="T", ylabel="seconds per step", yscale="log")
        _t_axis(ax, [t["T"] for t in timing])
        legend_beside(ax)
        paths.append(_save(fig, os.path.join(out, "road_time_per_step.png")))
    runs = results.get("runs") or []
    if runs:
        task = runs[0]["task"]
        T = max(r["T"] for r in runs if r["task"] == task)
        fig, ax = plt.subplots(figsize=(6.7, 3.6))
        under = False
        for kind in MODELS:
            rs = [r for r in runs if r["task"] == task and r["T"] == T and r["model"] == kind]
            if rs:
                g = np.median(np.array([r["grad_input"] for r in rs]), axis=0)
                under = under or bool((g <= 0).any())
                ax.plot(np.arange(1, len(g) + 1), np.where(g > 0, g, np.nan), label=TITLES[kind])
        ax.set(title=f"{task}, T={T}: ‖∂L/∂x_t‖ at init (median of seeds)", xlabel="input step t", yscale="log")
        if under:                        # exact zeros are float32 underflow: left out, and said so
            ax.text(0.02, 0.03, "steps where a line stops: below float32's range (underflow to 0), not drawn",
                    transform=ax.transAxes, fontsize=7, color="#555555")
        legend_beside(ax)
        paths.append(_save(fig, os.path.join(out, "road_gradnorm_init.png")))
    return paths


def settings_from(args) -> RoadSettings:
    base = QUICK if args.quick else FULL
    kw = {"lengths": args.T, "models": args.models, "tasks": args.tasks, "seeds": args.seeds, "steps": args.steps,
          "params": args.params, "lr": args.lr, "batch_size": args.batch}
    kw = {k: (tuple(v) if isinstance(v, list) else v) for k, v in kw.items() if v is not None}
    return replace(base, **kw)


def _provenance(res: dict, seconds: float, device) -> str:
    """Where the runs of ``res`` come from: this command's time, and the runs it read back with the sum of
    their own recorded seconds (spent by the earlier commands that made them)."""
    back = res["resumed"] + res["kept"]
    text = (f"Run time {fmt_seconds(seconds)} on {os.cpu_count()} cores, device {device}: this command trained "
            f"{len(res['runs']) - back} of the {len(res['runs'])} runs")
    if not back:
        return text + "."
    return (text + f"; the other {back} were read back from earlier commands' road.json (their training took "
            f"{fmt_seconds(res['read_back_seconds'])} in all, the sum of the seconds each run recorded).")


def cmd_road(args) -> int:
    """The ``tinygrad-rnn road`` command."""
    from .cli import _device
    device = _device(args.device)
    out = ensure_folder(args.out)
    s = settings_from(args)
    path = os.path.join(out, "road.json")
    print(f"tinygrad-rnn road{' --quick' if args.quick else ''}: device {device}, base seed {args.seed}, "
          f"output {path}\n  settings (fixed in advance): {s.describe()}", flush=True)
    t0 = time.perf_counter()
    res = run_road(s, args.seed, device, path, jobs=args.jobs, dask=args.dask, progress=not args.no_progress,
                   sources=args.sources or ())
    if res["resumed"]:
        print(f"  (resumed: {res['resumed']} runs read back from {path}{' and --from' if args.sources else ''})")
    if res["kept"]:
        print(f"  ({res['kept']} runs of other tasks, lengths or models, made with the same settings, kept in {path})")
    s = replace(s, **{k: tuple(res["settings"][k]) for k in ("tasks", "lengths", "models")})
    seconds = time.perf_counter() - t0
    res["seconds"] = seconds
    write_json(path, res)
    print(format_tables(res))
    with open(os.path.join(out, "road.md"), "w", encoding="utf-8") as f:
        f.write(f"# tinygrad-rnn road{' --quick' if args.quick else ''}\n\n{s.describe()}\n\n"
                f"{_provenance(res, seconds, device)}\n\n{format_tables(res)}")
    if not args.no_plots:
        for p in figures(res, out):
            print(f"  wrote {p}")
    print(f"road finished in {fmt_seconds(seconds)} (results in {path})")
    return 0
