"""Truncated backpropagation through time on a long character stream.

The word list (``/usr/share/dict/words``, or ``--text FILE``) becomes one long stream of characters in
which every word is written twice (``"otter otter\n"``), cut into ``B`` parallel streams that are
read chunk by chunk, ``k`` characters at a time (default ``k = 8``). The second copy of a word can be
predicted only from the first, which usually lies in an earlier chunk: the dependency is longer than
the chunk, so what the state carries across chunks matters. The LSTM's state is carried from one
chunk to the next, but *detached*:

    for chunk in stream:                      # x (k, B)
        out, state = lstm(embed(x), state)    # starts from the previous chunk's final state
        loss = cross_entropy(head(out), y)
        loss.backward()                       # through this chunk only: k steps
        state = tuple(s.detach() for s in state)

so the forward pass sees an unbounded past while every backward pass (and the memory it needs) is
bounded by ``k`` steps. Without the detach, the second chunk's backward would run into the first
chunk's graph, which the first backward already freed — the script shows that error once. It then
compares the carried state with resetting the state at every chunk (the model sees at most ``k``
characters of context), by bits per character on held-out text, each model read the way it was trained
(and also the other way).

    python examples/truncated_bptt.py [--quick] [--device cuda] [--steps 800] [--chunk 8]

Writes ``truncated_bptt.png`` (validation bpc during training) and ``truncated_bptt.json`` into ``--out``.
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

from tinygrad_rnn.examples.char_lm import WORDS, CharLM, load_words  # noqa: E402  (the example next to this one)


def streams(codes: np.ndarray, B: int) -> np.ndarray:
    """``(N, B)``: the text cut into ``B`` contiguous streams, read down the columns."""
    n = len(codes) // B
    return codes[: n * B].reshape(B, n).T.copy()


def graph_size(loss) -> int:
    """Number of graph nodes below ``loss``: bounded by the chunk length when the state is detached."""
    return len(tr.autograd.graph_nodes(loss))


def detach(state):
    return tuple(s.detach() for s in state)


def evaluate(model, data: np.ndarray, k: int, device, carry: bool) -> float:
    """Bits per character over the held-out streams, chunk by chunk."""
    total, count, state = 0.0, 0, None
    V = model.head.out_features
    with tr.no_grad():
        for s in range(0, data.shape[0] - k - 1, k):
            x = tr.tensor(data[s:s + k], device=device)
            y = tr.tensor(data[s + 1:s + k + 1], device=device)
            logits, state = model(x, state if carry else None)
            total += float(tr.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1)).item()) * y.numel()
            count += y.numel()
    return total / count / math.log(2)


def train(carry: bool, train_data, valid_data, V: int, args) -> dict:
    tr.manual_seed(args.seed)
    model = CharLM(V, hidden=args.hidden, device=args.device)
    opt = tr.optim.Adam(model.parameters(), lr=args.lr)
    k, state, pos = args.chunk, None, 0
    curve, sizes = [], []
    name = "carried state" if carry else "reset each chunk"
    bar = progress_bar(args.steps, name, not args.no_progress)
    t0 = time.perf_counter()
    for step in range(args.steps):
        if pos + k + 1 > train_data.shape[0]:                  # wrapped around: start the streams afresh
            pos, state = 0, None
        x = tr.tensor(train_data[pos:pos + k], device=args.device)
        y = tr.tensor(train_data[pos + 1:pos + k + 1], device=args.device)
        pos += k
        logits, new_state = model(x, state if carry else None)
        loss = tr.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1))
        sizes.append(graph_size(loss))
        opt.zero_grad()
        loss.backward()
        tr.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        state = detach(new_state)
        if step % max(1, args.steps // 10) == 0 or step == args.steps - 1:
            curve.append([step, evaluate(model, valid_data, k, args.device, carry=carry)])
            bar.set_postfix_str(f"valid {curve[-1][1]:.2f} bpc")
        bar.update()
    bar.close()
    return {"carry": carry, "valid_bpc_carried": evaluate(model, valid_data, k, args.device, carry=True),
            "valid_bpc_reset": evaluate(model, valid_data, k, args.device, carry=False),
            "graph_nodes_first_chunk": sizes[0], "graph_nodes_last_chunk": sizes[-1],
            "graph_nodes_max": max(sizes), "seconds": time.perf_counter() - t0, "curve": curve}


def show_the_error_without_detach(V: int, data: np.ndarray, args) -> str:
    """Two chunks with the state carried but not detached: the second backward fails; return its message."""
    model = CharLM(V, hidden=8, device=args.device)
    state = None
    for s in (0, args.chunk):
        x = tr.tensor(data[s:s + args.chunk], device=args.device)
        y = tr.tensor(data[s + 1:s + args.chunk + 1], device=args.device)
        logits, state = model(x, state)
        try:
            tr.nn.functional.cross_entropy(logits.reshape(-1, V), y.reshape(-1)).backward()
        except RuntimeError as e:
            return str(e)
    raise AssertionError("the second backward through a freed graph should have failed")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--text", default=WORDS, help=f"word list or text file. Default: {WORDS}")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--steps", type=int, default=800, help="chunks to train on. Default: 800")
    p.add_argument("--chunk", type=int, default=8, help="truncation length k. Default: 8")
    p.add_argument("--batch", type=int, default=32, help="parallel streams. Default: 32")
    p.add_argument("--hidden", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="out/examples", help="folder for truncated_bptt.png and .json")
    p.add_argument("--quick", action="store_true", help="a few chunks only, to check the setup")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.steps, args.hidden = 10, 16
    os.makedirs(args.out, exist_ok=True)

    words = load_words(args.text, args.seed)
    if args.quick:
        words = words[:3000]
    text = "".join(f"{w} {w}\n" for w in words)          # the second copy depends on the first
    chars = sorted(set(text))
    code = {c: i for i, c in enumerate(chars)}
    codes = np.array([code[c] for c in text], dtype=np.int64)
    cut = int(0.95 * len(codes))
    train_data, valid_data = streams(codes[:cut], args.batch), streams(codes[cut:], args.batch)
    print(f"{len(codes)} characters (every word twice) as {args.batch} streams of {train_data.shape[0]}; "
          f"chunks of {args.chunk}")
    message = show_the_error_without_detach(len(chars), train_data, args)
    print(f"without detach, the second chunk's backward fails: {message.splitlines()[0][:160]}...")

    runs = [train(True, train_data, valid_data, len(chars), args),
            train(False, train_data, valid_data, len(chars), args)]
    for r in runs:
        print(f"{'carried state' if r['carry'] else 'reset each chunk'}: held-out {r['valid_bpc_carried']:.3f} bpc "
              f"read with carried state, {r['valid_bpc_reset']:.3f} with resets; graph of a chunk's loss: "
              f"{r['graph_nodes_first_chunk']} nodes at the first chunk, {r['graph_nodes_last_chunk']} at the last")
    result = {"text": "every word of the list written twice: 'word word\\n'",
              "chunk": args.chunk, "batch": args.batch, "steps": args.steps, "hidden": args.hidden, "lr": args.lr,
              "seed": args.seed, "device": args.device, "error_without_detach": message, "runs": runs}
    with open(os.path.join(args.out, "truncated_bptt.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1)
    from tinygrad_rnn.app import plots
    path = plots.loss_curves({("carried state (detached), read carried" if r["carry"] else
                               "state reset every chunk, read with resets"): r["curve"] for r in runs},
                             os.path.join(args.out, "truncated_bptt.png"), log=False,
                             ylabel="held-out bits per character",
                             title=f"truncated BPTT, k = {args.chunk}, words written twice: state across chunks")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
