"""Sequence reversal with an encoder–decoder: attention against the bottleneck, teacher forcing against
scheduled sampling, over several seeds. Writes every number it reports to ``seq2seq_reversal.json`` and
the attention heat map to ``seq2seq_reversal_attention.png`` in ``--out`` (default ``out/examples``).

The task: a source of n tokens drawn uniformly from a vocabulary of 10 symbols, the target the same
tokens reversed followed by <eos>. Token ids: 0 = <pad>, 1 = <sos>, 2 = <eos>, 3..12 = the 10 symbols.

Settings (each trained from scratch per seed, the same budget within a task):

    short_tf       n in 5..10,  attention, teacher forcing 1.0         criterion: >= 99 % exact sequences
    short_ss       n in 5..10,  attention, scheduled sampling (inverse sigmoid, Bengio et al. 2015)
    long_attn      n in 15..20, attention, teacher forcing 1.0         criterion: beats long_bottleneck
    long_ss        n in 15..20, attention, scheduled sampling                               by >= 10 points
    long_bottleneck n in 15..20, no attention (the final state is all the decoder sees), tf 1.0

Besides the final accuracy on the whole test set, each run records a learning curve: exact accuracy
on the first ``--curve-size`` test sequences every ``--eval-every`` steps (not counted in the
training time; the last point is the final accuracy on the whole test set), which is where teacher
forcing and scheduled sampling differ when both end at 100 %.

Accuracy is exact-sequence accuracy of greedy decoding (the whole output, <eos> included, equals the
target) on held-out test sequences: the test set is drawn first (distinct sequences) and every
training batch is drawn from the complement (a row that lands in the test set is redrawn), so no test
sequence is ever trained on; the script counts the redraws and re-checks the disjointness.

    python examples/seq2seq_reversal.py                     # full run, 3 seeds, ~15 min on 2 CPU cores
    python examples/seq2seq_reversal.py --quick             # a smoke run (a minute)
    python examples/seq2seq_reversal.py --device cuda --seeds 0 1 2 --out results/
    python examples/seq2seq_reversal.py --out docs/results    # the committed results the docs read

Small GEMMs gain nothing from BLAS threads and lose a lot when cores are shared, so this script asks
NumPy's BLAS for one thread unless the environment says otherwise (set OPENBLAS_NUM_THREADS to change).
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))   # run from a checkout

import tinygrad_rnn as tr  # noqa: E402
import tinygrad_rnn.optim  # noqa: E402,F401
from tinygrad_rnn import nn  # noqa: E402
from tinygrad_rnn.app.experiments import progress_bar  # noqa: E402

PAD, SOS, EOS, FIRST = 0, 1, 2, 3
NUM_SYMBOLS = 10
VOCAB = FIRST + NUM_SYMBOLS

SETTINGS = {
    "short_tf": {"task": "short", "attention": True, "schedule": None},
    "short_ss": {"task": "short", "attention": True, "schedule": "inverse_sigmoid"},
    "long_attn": {"task": "long", "attention": True, "schedule": None},
    "long_ss": {"task": "long", "attention": True, "schedule": "inverse_sigmoid"},
    "long_bottleneck": {"task": "long", "attention": False, "schedule": None},
}
TASKS = {"short": (5, 10), "long": (15, 20)}


# ------------------------------------------------------------------------------------------------
# Data


def draw_sequences(rng: np.random.Generator, n: int, lo: int, hi: int) -> list[tuple]:
    lengths = rng.integers(lo, hi + 1, size=n)
    return [tuple(int(v) for v in rng.integers(FIRST, VOCAB, size=length)) for length in lengths]


def make_test_set(rng: np.random.Generator, n: int, lo: int, hi: int) -> list[tuple]:
    """``n`` distinct sequences (drawn until there are enough)."""
    seen: dict[tuple, None] = {}
    while len(seen) < n:
        for seq in draw_sequences(rng, n - len(seen), lo, hi):
            seen[seq] = None
    return list(seen)


class TrainSampler:
    """Training batches from the complement of the test set (rows that hit it are redrawn)."""

    def __init__(self, rng: np.random.Generator, lo: int, hi: int, held_out: set) -> None:
        self.rng, self.lo, self.hi, self.held_out = rng, lo, hi, held_out
        self.redrawn = 0
        self.overlap = 0             # training rows found in the test set after redrawing: must stay 0

    def batch(self, size: int) -> list[tuple]:
        rows = []
        while len(rows) < size:
            for seq in draw_sequences(self.rng, size - len(rows), self.lo, self.hi):
                if seq in self.held_out:
                    self.redrawn += 1
                else:
                    rows.append(seq)
        self.overlap += sum(seq in self.held_out for seq in rows)
        return rows


def to_tensors(seqs: list[tuple], device: str):
    """src (B, S) padded, lengths (B,), tgt (B, S+1) = reversed source + <eos>, padded."""
    B, S = len(seqs), max(len(s) for s in seqs)
    src = np.full((B, S), PAD, dtype=np.int64)
    tgt = np.full((B, S + 1), PAD, dtype=np.int64)
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    for i, seq in enumerate(seqs):
        src[i, :len(seq)] = seq
        tgt[i, :len(seq)] = seq[::-1]
        tgt[i, len(seq)] = EOS
    return tr.tensor(src, device=device), lengths, tr.tensor(tgt, device=device)


# ------------------------------------------------------------------------------------------------
# Model, training, evaluation


def build_model(args, attention: bool, device: str) -> nn.Seq2Seq:
    H, E = args.hidden, args.embed
    encoder = nn.Encoder(VOCAB, E, H, cell="lstm", bidirectional=True, padding_idx=PAD)
    attn = nn.BahdanauAttention(H, encoder.output_size, H) if attention else None
    decoder = nn.Decoder(VOCAB, E, H, cell="lstm", attention=attn)
    return nn.Seq2Seq(encoder, decoder, SOS, EOS, PAD).to(device)


def evaluate(model: nn.Seq2Seq, test: list[tuple], device: str, hi: int, chunk: int = 500) -> dict:
    """Exact-sequence and token accuracy of greedy decoding."""
    model.eval()
    exact = tokens = total_tokens = 0
    for start in range(0, len(test), chunk):
        src, lengths, tgt = to_tensors(test[start:start + chunk], device)
        out, _ = nn.greedy_decode(model, src, lengths, max_len=hi + 1)
        pred = out.numpy()
        want = tgt.numpy()
        for p, w, n in zip(pred, want, lengths):
            p = np.concatenate([p, np.full(max(0, n + 1 - len(p)), PAD)])[:n + 1]
            exact += bool(np.array_equal(p, w[:n + 1]))
            tokens += int((p == w[:n + 1]).sum())
            total_tokens += int(n + 1)
    model.train()
    return {"exact_accuracy": exact / len(test), "token_accuracy": tokens / total_tokens}


def train_one(args, name: str, setting: dict, seed: int, test: list[tuple], device: str, progress) -> dict:
    lo, hi = TASKS[setting["task"]]
    steps = args.steps[setting["task"]]
    tr.manual_seed(seed)
    model = build_model(args, setting["attention"], device)
    opt = tr.optim.Adam(model.parameters(), lr=args.lr)
    lr_decay = tr.optim.lr_scheduler.ExponentialLR(opt, gamma=args.lr_final_fraction ** (1.0 / steps))
    schedule = None
    if setting["schedule"] is not None:
        schedule = nn.ScheduledSampling(setting["schedule"], k=max(1.0, args.ss_k_fraction * steps))  # k >= 1
    sampler = TrainSampler(np.random.default_rng([seed, 1]), lo, hi, set(test))
    curve = []
    eval_time = 0.0
    start = time.perf_counter()
    loss_value = float("nan")
    for step in range(1, steps + 1):
        src, lengths, tgt = to_tensors(sampler.batch(args.batch), device)
        logits = model(src, lengths, tgt, schedule=schedule)
        loss = nn.functional.cross_entropy(logits.reshape(-1, VOCAB), tgt.reshape(-1), ignore_index=PAD)
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        lr_decay.step()
        if schedule is not None:
            schedule.step()
        loss_value = loss.item()
        progress.update(1)
        progress.set_postfix_str(f"{name} seed {seed} loss {loss_value:.3f}")
        if args.eval_every and step % args.eval_every == 0 and step < steps:
            t0 = time.perf_counter()
            curve.append([step, evaluate(model, test[:args.curve_size], device, hi)["exact_accuracy"]])
            eval_time += time.perf_counter() - t0
    train_time = time.perf_counter() - start - eval_time
    t0 = time.perf_counter()
    result = evaluate(model, test, device, hi)
    result.update(steps=steps, train_wall_time_s=round(train_time, 2),
                  eval_wall_time_s=round(time.perf_counter() - t0, 2), final_train_loss=loss_value,
                  train_rows_redrawn=sampler.redrawn, train_test_overlap=sampler.overlap)
    result["curve"] = curve + [[steps, result["exact_accuracy"]]] if args.eval_every else []
    if schedule is not None:
        result["final_teacher_forcing_ratio"] = schedule.ratio
    return result, model


def plot_attention(model: nn.Seq2Seq, seq: tuple, device: str, path: Path) -> bool:
    """Heat map of the attention weights for one source sequence (needs matplotlib)."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    model.eval()
    src, lengths, _ = to_tensors([seq], device)
    tokens, _, weights = nn.greedy_decode(model, src, lengths, max_len=len(seq) + 1, return_attention=True)
    model.train()
    w = weights.numpy()[0]
    out = [str(t - FIRST) if t >= FIRST else {EOS: "<eos>", PAD: "<pad>"}.get(int(t), "?") for t in tokens.numpy()[0]]
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(w, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(len(seq)), [str(t - FIRST) for t in seq])
    ax.set_yticks(range(len(out)), out)
    ax.set_xlabel("source token")
    ax.set_ylabel("output token (greedy)")
    ax.set_title("Bahdanau attention weights, reversal")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


# ------------------------------------------------------------------------------------------------


def mean_curve(runs: dict, seeds, name: str) -> list:
    """The learning curves of one setting averaged over seeds: ``[[step, mean accuracy], ...]``."""
    curves = [runs[str(s)][name]["curve"] for s in seeds]
    return [[c[0], float(np.mean([cv[i][1] for cv in curves]))] for i, c in enumerate(curves[0])]


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--quick", action="store_true", help="a short smoke run (few steps, small test sets)")
    p.add_argument("--out", type=Path, default=Path("out/examples"),
                   help="folder for seq2seq_reversal.json and seq2seq_reversal_attention.png. Default: out/examples")
    p.add_argument("--plot", type=Path, default=None,
                   help="attention heat map (default: seq2seq_reversal_attention.png in --out); needs matplotlib")
    p.add_argument("--steps-short", type=int, default=None, help="training steps, 5-10 tokens")
    p.add_argument("--steps-long", type=int, default=None, help="training steps, 15-20 tokens")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--embed", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--lr-final-fraction", type=float, default=0.1,
                   help="the learning rate decays exponentially to lr * this by the last step")
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--test-size", type=int, default=None)
    p.add_argument("--ss-k-fraction", type=float, default=1 / 7,
                   help="inverse-sigmoid k as a fraction of the steps (ε falls to ≈0.1 by the end)")
    p.add_argument("--eval-every", type=int, default=100, help="learning-curve interval in steps (0: none)")
    p.add_argument("--curve-size", type=int, default=200, help="test sequences used for the learning curve")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--settings", nargs="+", choices=tuple(SETTINGS), default=list(SETTINGS))
    args = p.parse_args(argv)
    args.steps = {"short": args.steps_short or (60 if args.quick else 600),
                  "long": args.steps_long or (60 if args.quick else 1000)}
    args.test_size = args.test_size or (200 if args.quick else 1000)
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = args.device
    if device == "cuda" and not tr.cuda_is_available():
        raise SystemExit("--device cuda: CUDA is not available (needs CuPy and an NVIDIA GPU)")
    total_steps = sum(args.steps[SETTINGS[s]["task"]] for s in args.settings) * len(args.seeds)
    bar = progress_bar(total_steps, "seq2seq_reversal", not args.no_progress)
    start = time.perf_counter()
    runs: dict = {}
    plot_model = None
    for seed in args.seeds:
        tests = {task: make_test_set(np.random.default_rng([seed, 0, i]), args.test_size, lo, hi)
                 for i, (task, (lo, hi)) in enumerate(TASKS.items())}
        runs[str(seed)] = {}
        for name in args.settings:
            setting = SETTINGS[name]
            result, model = train_one(args, name, setting, seed, tests[setting["task"]], device, bar)
            runs[str(seed)][name] = result
            if name == "long_attn" and plot_model is None:
                plot_model = (model, tests["long"][0])
    bar.close()
    wall = time.perf_counter() - start

    def accs(name):
        return [runs[str(s)][name]["exact_accuracy"] for s in args.seeds if name in runs[str(s)]]

    summary = {name: {"mean_exact_accuracy": float(np.mean(accs(name))), "min_exact_accuracy": float(min(accs(name))),
                      "max_exact_accuracy": float(max(accs(name)))} for name in args.settings}
    criteria = {}
    if "short_tf" in args.settings:
        criteria["short_tf_min_accuracy_ge_0.99"] = summary["short_tf"]["min_exact_accuracy"] >= 0.99
    if {"long_attn", "long_bottleneck"} <= set(args.settings):
        gaps = [a - b for a, b in zip(accs("long_attn"), accs("long_bottleneck"))]
        summary["long_attention_minus_bottleneck"] = {"per_seed": gaps, "min": float(min(gaps))}
        criteria["long_attention_beats_bottleneck_by_ge_0.10_every_seed"] = min(gaps) >= 0.10
    for task in ("short", "long"):
        tf, ss = ("short_tf", "short_ss") if task == "short" else ("long_attn", "long_ss")
        if {tf, ss} <= set(args.settings):
            diffs = [a - b for a, b in zip(accs(ss), accs(tf))]
            summary[f"{task}_scheduled_sampling_minus_teacher_forcing"] = {
                "per_seed": diffs, "mean": float(np.mean(diffs)),
                "mean_curve_teacher_forcing": mean_curve(runs, args.seeds, tf),
                "mean_curve_scheduled_sampling": mean_curve(runs, args.seeds, ss)}
    overlap = sum(r["train_test_overlap"] for seed_runs in runs.values() for r in seed_runs.values())
    criteria["train_test_disjoint"] = overlap == 0

    result = {
        "task": "reverse a sequence of 10 symbols; target = reversed source + <eos>",
        "vocabulary": {"symbols": NUM_SYMBOLS, "specials": {"pad": PAD, "sos": SOS, "eos": EOS}},
        "lengths": {task: list(r) for task, r in TASKS.items()},
        "metric": "exact-sequence accuracy of greedy decoding on held-out sequences (never trained on)",
        "test_size_per_task_and_seed": args.test_size,
        "budget": {"steps": args.steps, "batch": args.batch, "lr": args.lr, "optimizer": "Adam",
                   "lr_schedule": f"ExponentialLR to {args.lr_final_fraction} x lr at the last step",
                   "clip_grad_norm": args.clip, "hidden": args.hidden, "embed": args.embed,
                   "model": "bidirectional LSTM encoder (bridge: tanh(Linear([h_fwd; h_rev]))), LSTM decoder",
                   "attention": "Bahdanau (additive), context fed into the decoder cell input",
                   "scheduled_sampling": {"kind": "inverse_sigmoid",
                                          "k": {t: max(1.0, args.ss_k_fraction * n) for t, n in args.steps.items()}}},
        "settings": {name: SETTINGS[name] for name in args.settings},
        "quick": args.quick,
        "seeds": args.seeds,
        "device": device,
        "platform": {"python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine(),
                     "cpu_count": os.cpu_count(), "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS")},
        "runs": runs,
        "summary": summary,
        "criteria": criteria,
        "total_wall_time_s": round(wall, 1),
    }
    args.out.mkdir(parents=True, exist_ok=True)
    json_path = args.out / "seq2seq_reversal.json"
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    plot_path = args.plot or args.out / "seq2seq_reversal_attention.png"
    if plot_model is not None and plot_attention(plot_model[0], plot_model[1], device, plot_path):
        print(f"attention plot: {plot_path}")
    print(json.dumps({"summary": summary, "criteria": criteria, "total_wall_time_s": result["total_wall_time_s"]},
                     indent=2))
    print(f"results: {json_path}")
    return result


if __name__ == "__main__":
    main()
