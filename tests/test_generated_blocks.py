"""Every generated block of the pages (README.md, docs/*.md) equals what ``docs/make_figures.py`` builds from the
committed results, the road page's verdicts follow the runs, and every relative link of the pages exists.

``python docs/make_figures.py --pages`` writes the blocks; a number edited by hand in one, or results
regenerated without the pages, fails here. No training: the committed JSON and the pages are read as text.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import re

import pytest

pytestmark = pytest.mark.cpu_only      # reads committed text files: nothing runs on a device

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def mf():
    spec = importlib.util.spec_from_file_location("_make_figures_blocks", os.path.join(ROOT, "docs", "make_figures.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _read(path: str) -> str:
    with open(path, encoding="utf-8") as f:
        return f.read()


def test_every_generated_block_equals_what_make_figures_builds(mf):
    checked = 0
    for path in mf.pages():
        rel = os.path.relpath(path, ROOT)
        for m in mf.GENERATED.finditer(_read(path)):
            name, body = m.group(2), m.group(3)
            assert name in mf.BLOCKS, f"{rel}: unknown generated block {name!r}"
            assert body == mf.BLOCKS[name]().rstrip() + "\n", (
                f"{rel}: the generated block {name} differs from what make_figures builds from docs/results "
                f"(edited by hand, or results changed without the pages? run `python docs/make_figures.py --pages`)")
            checked += 1
    assert checked >= 30


def test_the_road_page_types_no_result_by_hand(mf):
    text = _read(os.path.join(ROOT, "docs", "road.md"))
    names = {m.group(2) for m in mf.GENERATED.finditer(text)}
    assert {"road_models", "road_claims", "road_success", "road_time", "road_race"} <= names
    outside = mf.GENERATED.sub("", text)
    typed = re.findall(r"\b\d+/\d+ seeds?\b|\b\d+(?:\.\d+)? ms\b|\b\d/3\b", outside)
    assert not typed, f"docs/road.md states results outside its generated blocks: {typed}"


@pytest.fixture(scope="module")
def race(mf):
    d = mf.load("road", "full", "road.json")
    assert d is not None, "docs/results/road/full/road.json is not committed"
    return d


def _set(d, task, kind, T, success, metric=None):
    """The race with every seed of one (task, model, T) solved or not (summary and runs)."""
    d = copy.deepcopy(d)
    for r in d["runs"]:
        if (r["task"], r["model"], r["T"]) == (task, kind, T):
            r["success"] = success
            if metric is not None:
                r["metric"] = metric
    for r in d["summary"]:
        if (r["task"], r["model"], r["T"]) == (task, kind, T):
            r["successes"] = r["seeds"] if success else 0
    return d


def test_the_verdicts_follow_the_runs(mf, race):
    top = max(race["settings"]["lengths"])
    _, _, verdict = mf._claim_vanilla(race)
    assert verdict == "supported"
    _, _, verdict = mf._claim_vanilla(_set(race, "adding", "rnn", top, True))
    assert verdict.startswith("the gradients vanish at init, yet the RNN solves")
    d = copy.deepcopy(race)
    for r in d["summary"]:
        if r["model"] == "rnn" and r["task"] == "adding":
            r["input_ratio"] = 0.5
    assert mf._claim_vanilla(d)[2].startswith("not supported")

    # gating: the GRU solving every seed at every T is no longer "fading"
    d = race
    for T in race["settings"]["lengths"]:
        d = _set(d, "adding", "gru", T, True)
    assert f"supported for the GRU up to T = {top};" in mf._claim_gating(d)[2]
    d = race
    for T in race["settings"]["lengths"]:
        d = _set(d, "adding", "gru", T, False)
    assert "not for the GRU" in mf._claim_gating(d)[2]

    # attention's cost: a Transformer whose step grows no faster than the recurrent ones' is not O(T²)
    d = copy.deepcopy(race)
    for t in d["timing"]:
        if t["model"] == "transformer":
            t["seconds_per_step"] = 0.01 * t["T"] / 100
    assert mf._claim_cost(d)[2].startswith("not supported")

    # the long-range row: classic models winning every long run turns it around
    d = race
    for task in race["settings"]["tasks"]:
        for T in race["settings"]["lengths"][1:]:
            for k in race["settings"]["models"]:
                d = _set(d, task, k, T, k in ("rnn", "lstm", "gru"))
    assert mf._claim_long_range(d)[2].startswith("not supported")
    for T in race["settings"]["lengths"][1:]:
        d = _set(d, "copy", "lru", T, True)
        d = _set(d, "copy", "rnn", T, False)
        d = _set(d, "copy", "lstm", T, False)
        d = _set(d, "copy", "gru", T, False)
    assert mf._claim_long_range(d)[2].startswith("partly")


def test_runs_not_made_are_said_to_be_missing(mf, race):
    d = copy.deepcopy(race)
    d["runs"] = [r for r in d["runs"] if not (r["task"] == "copy" and r["T"] == 1000)]
    d["summary"] = [r for r in d["summary"] if not (r["task"] == "copy" and r["T"] == 1000)]
    assert "T = 1000: not run" in mf._claim_copy(d)[1]
    assert mf._claim_long_range(d)[1].endswith("at T = 1000: not run")
    saved = mf.load
    try:
        mf.load = lambda *parts: d if parts == ("road", "full", "road.json") else saved(*parts)
        assert "copy at T = 1000 (RNN, LSTM, GRU, LRU, minGRU and Transformer)." in mf.block_road_race()
        assert mf.block_road_success().count("| — |") >= 1
    finally:
        mf.load = saved


def test_every_relative_link_and_image_of_the_pages_exists(mf):
    missing = []
    for path in mf.pages():
        for m in re.finditer(r"\]\(([^)\s]+)\)", _read(path)):
            target = m.group(1).split("#")[0]
            if not target or target.startswith(("http://", "https://", "mailto:")):
                continue
            if not os.path.exists(os.path.normpath(os.path.join(os.path.dirname(path), target))):
                missing.append(f"{os.path.relpath(path, ROOT)}: {m.group(1)}")
    assert not missing, f"links to files that are not there: {missing}"
