"""A character-level language model (LSTM) on the English word list, with sampling at a temperature.

The text is Debian's word list ``/usr/share/dict/words`` (package ``wamerican``: ``apt-get install
wamerican``), lower-case words shuffled and joined by newlines; ``--text FILE`` uses any UTF-8 text
instead. The model reads characters and predicts the next one:

    e_t = Embedding(x_t);  h_t = LSTM(e_t, h_{t-1});  p(x_{t+1} | x_≤t) = softmax(W h_t + b)

and is trained with cross-entropy on random windows. Then it writes new "words" by sampling one
character at a time from softmax(logits / τ), feeding each sample back in: a low temperature τ
picks likely letters, a high one takes risks. Bits per character (bpc) on held-out words measure it;
the unigram entropy (letters drawn independently) is the baseline to beat.

    python examples/char_lm.py [--quick] [--device cuda] [--steps 2000] [--temperature 0.8]

Writes ``char_lm.png`` (training and validation bpc) and ``char_lm.json`` (numbers and samples) into
``--out``.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")      # small GEMMs lose time to BLAS threads on shared cores

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))   # run from a checkout

import tinygrad_rnn as tr  # noqa: E402
from tinygrad_rnn.app.experiments import progress_bar  # noqa: E402

WORDS = "/usr/share/dict/words"


def load_words(path: str, seed: int) -> list:
    """Lower-case a-z words of a word list (or the words of any text), shuffled with ``seed``."""
    if not os.path.isfile(path):
        raise SystemExit(f"char_lm: error: {path} not found; install a word list (`apt-get install wamerican`) "
                         f"or pass --text FILE with any UTF-8 text")
    with open(path, encoding="utf-8", errors="replace") as f:
        words = sorted({w.strip().lower() for w in f.read().split() if w.strip().isalpha() and w.isascii()})
    np.random.default_rng(seed).shuffle(words)
    return words


class CharLM(tr.nn.Module):
    """Embedding -> LSTM -> Linear over the vocabulary."""

    def __init__(self, vocab: int, embed: int = 32, hidden: int = 128, device=None) -> None:
        super().__init__()
        self.embed = tr.nn.Embedding(vocab, embed, device=device)
        self.lstm = tr.nn.LSTM(embed, hidden, device=device)
        self.head = tr.nn.Linear(hidden, vocab, device=device)

    def forward(self, x, state=None):                 # x (T, B) int -> logits (T, B, V)
        out, state = self.lstm(self.embed(x), state)
        return self.head(out), state


def windows(data: np.ndarray, starts: np.ndarray, T: int, device):
    """Inputs ``(T, B)`` and next-character targets ``(T, B)`` from text positions ``starts``."""
    idx = starts[None, :] + np.arange(T)[:, None]
    return tr.tensor(data[idx], device=device), tr.tensor(data[idx + 1], device=device)


def evaluate_bpc(model, data: np.ndarray, T: int, device, n: int = 64) -> float:
    """Mean bits per character over ``n`` evenly spaced windows of held-out text."""
    starts = np.linspace(0, len(data) - T - 2, n).astype(np.int64)
    x, y = windows(data, starts, T, device)
    with tr.no_grad():
        logits, _ = model(x)
        loss = tr.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
    return float(loss.item()) / math.log(2)


def sample(model, chars: list, n: int, temperature: float, device, seed: int) -> str:
    """``n`` characters drawn one at a time from softmax(logits / temperature), starting after a newline."""
    gen = tr.Generator().manual_seed(seed)
    x = tr.tensor([[chars.index("\n")]], device=device)
    state, out = None, []
    with tr.no_grad():
        for _ in range(n):
            logits, state = model(x, state)
            p = (logits[-1, 0] / temperature).softmax(-1)
            k = int(tr.multinomial(p, 1, generator=gen).item())
            out.append(chars[k])
            x = tr.tensor([[k]], device=device)
    return "".join(out)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--text", default=WORDS, help=f"word list or text file. Default: {WORDS}")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--steps", type=int, default=1500, help="Adam steps. Default: 1500")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq-len", type=int, default=64, help="characters per training window. Default: 64")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature τ. Default: 0.8")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/examples", help="folder for char_lm.png and char_lm.json")
    p.add_argument("--quick", action="store_true", help="a few steps only, to check the setup")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.hidden = 20, 32
    if args.temperature <= 0:
        p.error(f"--temperature must be > 0, got {args.temperature}")
    os.makedirs(args.out, exist_ok=True)

    words = load_words(args.text, args.seed)
    cut = int(0.9 * len(words))
    train_text, valid_text = "\n".join(words[:cut]) + "\n", "\n".join(words[cut:]) + "\n"
    chars = sorted(set(train_text) | set(valid_text))
    code = {c: i for i, c in enumerate(chars)}
    train = np.array([code[c] for c in train_text], dtype=np.int64)
    valid = np.array([code[c] for c in valid_text], dtype=np.int64)
    freq = np.bincount(train, minlength=len(chars)) / len(train)
    unigram_bpc = float(-(freq[freq > 0] * np.log2(freq[freq > 0])).sum())
    print(f"{len(words)} words, {len(train)} training characters, vocabulary {len(chars)}; "
          f"unigram entropy {unigram_bpc:.2f} bits/char")

    tr.manual_seed(args.seed)
    model = CharLM(len(chars), hidden=args.hidden, device=args.device)
    opt = tr.optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
    curve, valid_curve = [], []
    every = max(1, args.steps // 10)
    bar = progress_bar(args.steps, "char_lm", not args.no_progress)
    t0 = time.perf_counter()
    for step in range(args.steps):
        x, y = windows(train, rng.integers(0, len(train) - args.seq_len - 1, args.batch), args.seq_len, args.device)
        logits, _ = model(x)
        loss = tr.nn.functional.cross_entropy(logits.reshape(-1, len(chars)), y.reshape(-1))
        opt.zero_grad()
        loss.backward()
        tr.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        curve.append([step, float(loss.item()) / math.log(2)])
        if step % every == 0 or step == args.steps - 1:
            valid_curve.append([step, evaluate_bpc(model, valid, args.seq_len, args.device)])
            bar.set_postfix_str(f"valid {valid_curve[-1][1]:.2f} bpc")
        bar.update()
    bar.close()
    seconds = time.perf_counter() - t0

    text = sample(model, chars, 60 if args.quick else 400, args.temperature, args.device, args.seed)
    made = [w for w in text.split("\n")[:-1] if w]
    known = set(words)
    real = sum(w in known for w in made)
    novel_real = sum(w in set(words[cut:]) for w in made)
    result = {"steps": args.steps, "hidden": args.hidden, "seq_len": args.seq_len, "batch": args.batch,
              "lr": args.lr, "seed": args.seed, "device": args.device, "seconds": seconds,
              "unigram_bpc": unigram_bpc, "valid_bpc": valid_curve[-1][1], "train_curve": curve[::max(1, every // 5)],
              "valid_curve": valid_curve, "temperature": args.temperature, "sample": text,
              "sampled_words": len(made), "real_words": real, "held_out_words": novel_real}
    print(f"validation: {result['valid_bpc']:.3f} bits/char (unigram baseline {unigram_bpc:.2f}); "
          f"{args.steps} steps in {seconds:.0f} s")
    print(f"sample at temperature {args.temperature}: {' '.join(made[:30])}")
    print(f"{real} of {len(made)} sampled words are in the word list ({novel_real} of them only in the held-out "
          f"part, never seen in training)")
    with open(os.path.join(args.out, "char_lm.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    from tinygrad_rnn.app import plots
    path = plots.loss_curves({"train (per batch)": curve, "validation": valid_curve},
                             os.path.join(args.out, "char_lm.png"), ylabel="bits per character", log=False,
                             title=f"char-level LSTM on the word list (unigram: {unigram_bpc:.2f} bpc)")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
