"""The explorer screenshots' captions (README.md and docs/*.md) are generated from docs/results/explorer.json.

``python docs/make_figures.py --only explorer`` runs the default ``tinygrad-rnn explore``, takes the
screenshots and writes the JSON; its ``fill_pages`` writes the captions. A caption edited by hand, a
screenshot referenced outside a generated block, or screenshots taken at other steps than the JSON
records fail here. No browser and no training: the committed JSON and the pages are read as text.
"""

from __future__ import annotations

import importlib.util
import os
import re

import pytest

pytestmark = pytest.mark.cpu_only      # reads committed text files: nothing runs on a device

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")


def _module(name: str):
    spec = importlib.util.spec_from_file_location(f"_{name}_under_test", os.path.join(DOCS, f"{name}.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.fixture(scope="module")
def mf():
    return _module("make_figures")


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def _blocks(mf, text: str) -> list:
    """``(name, body, start, end)`` of every generated block of a page."""
    return [(m.group(2), m.group(3), m.start(), m.end()) for m in mf.GENERATED.finditer(text)]


# where each page must carry which explorer block (the captions issue 14 asks to generate)
EXPECTED = {"README.md": {"explorer_readme"}, "docs/encoder_decoder.md": {"explorer_seq2seq"},
            "docs/vanishing_gradients.md": {"explorer_gradients"},
            "docs/unfolding.md": {"explorer_graph", "explorer_hidden"}}


def test_explorer_blocks_equal_what_the_builder_makes_from_the_committed_json(mf):
    assert mf.load("explorer.json") is not None, "docs/results/explorer.json is not committed"
    found = {}
    for path in mf.pages():
        rel = os.path.relpath(path, ROOT)
        for name, body, _, _ in _blocks(mf, _read(path)):
            if not name.startswith("explorer_"):
                continue
            found.setdefault(rel, set()).add(name)
            want = mf.BLOCKS[name]().rstrip() + "\n"
            assert body == want, (f"{rel}: the generated block {name} differs from what make_figures builds from "
                                  f"docs/results/explorer.json (edited by hand? run "
                                  f"`python docs/make_figures.py --pages`)")
    for rel, names in EXPECTED.items():
        assert names <= found.get(rel, set()), f"{rel}: expected generated blocks {sorted(names)}, found " \
                                               f"{sorted(found.get(rel, set()))}"


def test_every_explorer_screenshot_reference_is_inside_a_generated_block(mf):
    for path in mf.pages():
        text = _read(path)
        spans = [(a, b) for _, _, a, b in _blocks(mf, text)]
        for m in re.finditer(r"figures/explorer/\w+\.png", text):
            inside = any(a <= m.start() < b for a, b in spans)
            line = text.count("\n", 0, m.start()) + 1
            assert inside, f"{os.path.relpath(path, ROOT)}:{line}: {m.group(0)} is captioned by hand"


def test_the_json_records_the_steps_the_screenshots_show(mf):
    shots = _module("make_explorer_figures")
    d = mf.load("explorer.json")
    assert d["shots"] == shots.SHOTS
    assert d["memory"]["cell"] == shots.MEMORY_CELL
    for view in shots.SHOTS:
        assert os.path.isfile(os.path.join(DOCS, "figures", "explorer", f"{view}.png")), view


def _page_data() -> dict:
    """A tiny page's data, shaped as tinygrad_rnn.app.explore.collect writes it, with known answers."""
    T, H = 3, 2
    h_lstm = [[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]
    return {"meta": {"settings": "memory task\n  T in [3]", "seed": 0, "device": "cpu"},
            "memory": {"labels": ["A", "B", "a", "b", "?"], "lengths": [2, T], "success_threshold": 0.95,
                       "runs": [{"cell": "rnn", "T": T, "seed": s, "accuracy": a, "success": a >= 0.95,
                                 "grad_h1_init": 1e-9, "grad_h1_final": 1e-3} for s, a in ((1, 0.5), (0, 1.0))]
                       + [{"cell": "rnn", "T": 2, "seed": 0, "accuracy": 0.1, "success": False,
                           "grad_h1_init": 1.0, "grad_h1_final": 1.0}]},
            "hidden": {"T": T, "target": 1, "cells": {"lstm": {"h": h_lstm, "pred": 1},
                                                      "rnn": {"h": [[1.0, 0.0]] * T, "pred": 0}}},
            "gradients": {"lengths": [2, T], "curves": [
                {"cell": "rnn", "T": T, "seeds": 2, "init": [1e-4, 1e-2, 1.0], "final": [0.5, 1.0, 2.0],
                 "sigma_max_init": 0.9, "sigma_max_final": 1.1},
                {"cell": "rnn", "T": 2, "seeds": 2, "init": [1.0, 1.0], "final": [1.0, 1.0]}]},
            "lstm": {"gates": {"f": [[0.9, 0.7], [1.0, 0.8], [0.5, 0.5]]}, "c": [[0.0] * H] * T},
            "seq2seq": {"source": [3, 4, 5], "steps": 10, "test_size": 7, "lengths": [2, 3], "hidden": 4,
                        "models": {"attention": {"accuracy": 1.0, "outputs": [5, 4, 3, 2],
                                                 "attention": [[0.1, 0.2, 0.7], [0.6, 0.3, 0.1], [0.9, 0.05, 0.05],
                                                               [0.3, 0.3, 0.4]]},
                                   "bottleneck": {"accuracy": 0.25, "outputs": [5, 3, 4, 2], "attention": None}}},
            "graph": {"steps": 4, "svg": "<svg/>"}}


def test_summary_of_a_known_page(mf):
    shots = {"hidden": 2, "gradients": 3, "lstm": 2, "seq2seq": 1, "memory": 1, "graph": 2}
    d = mf.explorer_summary(_page_data(), {"seconds": 1.0}, shots, "rnn")
    h = d["hidden"]
    assert h["target"] == "B" and h["step"] == 2
    assert h["cells"]["lstm"]["right"] and not h["cells"]["rnn"]["right"]
    assert h["cells"]["lstm"]["cosine_h1_h_step"] == pytest.approx(0.0)
    assert h["cells"]["rnn"]["cosine_h1_h_step"] == pytest.approx(1.0)
    assert h["cells"]["lstm"]["mean_abs_h_at_step"] == pytest.approx(0.5)
    g = d["gradients"]["cells"]["rnn"]
    assert d["gradients"]["T"] == 3 and g["ratio_h1_to_hT_init"] == pytest.approx(1e-4)
    assert g["sigma_max_init"] == 0.9
    assert d["lstm"]["forget_mean_at_step"] == pytest.approx(0.9)
    assert d["lstm"]["forget_min_at_step"] == 0.8 and d["lstm"]["forget_mean_lowest_step"] == pytest.approx(0.5)
    a, b = d["seq2seq"]["models"]["attention"], d["seq2seq"]["models"]["bottleneck"]
    assert a["correct_reversal"] and not b["correct_reversal"]
    assert (a["attention_argmax_on_antidiagonal"], a["attention_steps_checked"]) == (2, 3)   # steps 1 and 3
    m = d["memory"]
    assert m["T"] == 3 and [r["seed"] for r in m["runs"]] == [0, 1]
    assert mf.caption_memory(d).startswith("RNN at T = 3: 1/2 seeds remember (test accuracy 100.0 %, 50.0 %")
    assert "100.0 % with attention against 25.0 % for the bottleneck" in mf.caption_seq2seq(d)
    assert "anti-diagonal in 2 of 3 steps" in mf.caption_seq2seq(d)
