"""The explorer page in a real headless Chromium (Debian's ``chromium``, driven by Playwright's Python package).

One browser for the whole session; the page is built once from a ``--quick`` collection (seconds) and
opened from ``file://``. Every value the tests read back comes from the DOM the page drew (``data-*``
attributes and text) and is compared with the data recorded in Python.

Skips with a reason without Playwright or Chromium; under ``TINYGRAD_RNN_REQUIRE_REFS=1`` (CI) it fails.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from conftest import REQUIRE_REFS

pytestmark = pytest.mark.cpu_only      # a browser reads a page built from CPU runs: nothing runs on a device

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWS = ("hidden", "gradients", "lstm", "seq2seq", "memory", "graph")


def chromium_path() -> str | None:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def _need(what: str, hint: str):
    if REQUIRE_REFS:
        pytest.fail(f"{what} is required in CI (TINYGRAD_RNN_REQUIRE_REFS=1): {hint}")
    pytest.skip(f"{what} is not installed ({hint})")


@pytest.fixture(scope="session")
def browser_context():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("Playwright's Python package", "pip install playwright; the browser is Debian's chromium")
    exe = chromium_path()
    if exe is None:
        _need("Chromium", "apt-get install chromium")
    with sync_playwright() as pw, tempfile.TemporaryDirectory(prefix="tgr-chromium-") as profile:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=exe, headless=True, args=CHROMIUM_ARGS,
                                                    viewport={"width": 1280, "height": 900})
        requests = []

        def route(r):                      # anything that is not this file is recorded and refused
            requests.append(r.request.url)
            if r.request.url.startswith("file://"):
                r.continue_()
            else:
                r.abort()
        ctx.route("**/*", route)
        yield ctx, requests
        ctx.close()


@pytest.fixture(scope="session")
def explorer_page(tmp_path_factory):
    """The --quick page on disk and the data it was built from."""
    from tinygrad_rnn.app.explore import collect, write_page
    data = collect(quick=True, seed=0)
    path = write_page(data, str(tmp_path_factory.mktemp("explore")))
    return path, data


@pytest.fixture
def page(browser_context, explorer_page):
    ctx, requests = browser_context
    path, data = explorer_page
    p = ctx.new_page()
    errors = []
    p.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    p.on("pageerror", lambda e: errors.append(str(e)))
    del requests[:]
    p.goto("file://" + os.path.abspath(path))
    p.wait_for_selector("#app[data-ready='1']", timeout=15000)
    yield p, data, errors, requests
    p.close()


def shown_step(p, view: str) -> int:
    return int(p.get_attribute(f"#view-{view}", "data-step"))


def view_lengths(data) -> dict:
    return {"hidden": data["hidden"]["T"], "gradients": max(data["gradients"]["lengths"]),
            "lstm": len(data["lstm"]["c"]), "memory": max(data["memory"]["lengths"]),
            "seq2seq": max(len(m["outputs"]) for m in data["seq2seq"]["models"].values()),
            "graph": data["graph"]["steps"]}


def test_loads_from_file_with_no_errors_and_no_network(page):
    p, data, errors, requests = page
    p.wait_for_timeout(300)
    assert errors == []
    assert requests and all(u.startswith("file://") for u in requests), requests
    for v in VIEWS:
        assert p.locator(f"#view-{v}").count() == 1 and shown_step(p, v) == 1
    assert p.locator("#view-graph g.cluster[data-t]").count() == data["graph"]["steps"]


def test_slider_moves_the_step_and_draws_the_recorded_states(page):
    p, data, errors, _ = page
    T = data["hidden"]["T"]
    first = {}
    for t in (1, 4, T):
        p.locator("#step").fill(str(t))
        assert p.text_content("#step-label") == f"t = {t} / {T}"
        assert shown_step(p, "hidden") == t
        for cell, rec in data["hidden"]["cells"].items():
            drawn = p.eval_on_selector_all(f'#view-hidden [data-cell="{cell}"] svg.vec rect.cellv',
                                           "els => els.map(e => Number(e.getAttribute('data-value')))")
            assert drawn == rec["h"][t - 1], (cell, t)
            first.setdefault(cell, drawn)
        gates = p.eval_on_selector_all('#view-lstm [data-gate="f"] rect.cellv',
                                       "els => els.map(e => Number(e.getAttribute('data-value')))")
        assert gates == data["lstm"]["gates"]["f"][t - 1]
    assert any(first[c] != data["hidden"]["cells"][c]["h"][T - 1] for c in first)     # the drawing changed
    assert errors == []


def test_clicking_a_graph_cluster_selects_that_step_in_every_view(page):
    p, data, errors, _ = page
    lengths = view_lengths(data)
    for t in (3, 2):
        p.locator(f'#view-graph g.cluster[data-t="{t}"] text').first.click()
        assert p.get_attribute("#app", "data-step") == str(t)
        for v in VIEWS:
            assert shown_step(p, v) == min(t, lengths[v]), v
        assert p.locator(f'#view-graph g.cluster.current[data-t="{t}"]').count() == 1
    node = p.locator("#view-graph g.node[data-grad]").filter(has_text="‖grad‖").first
    node.hover()
    tip = p.text_content("#graph-tip")
    assert p.is_visible("#graph-tip") and node.get_attribute("data-shape") in tip and "‖grad‖" in tip
    assert errors == []


def test_memory_view_shows_the_recorded_numbers(page):
    p, data, errors, _ = page
    mem = data["memory"]
    for cell in mem["cells"]:
        for T in mem["lengths"]:
            p.select_option("#mem-cell", cell)
            p.select_option("#mem-T", str(T))
            runs = [r for r in mem["runs"] if r["cell"] == cell and r["T"] == T]
            rows = p.eval_on_selector_all("#mem-table tr[data-seed]", """els => els.map(e => [
                Number(e.dataset.seed), Number(e.dataset.accuracy), Number(e.dataset.gradH1Init),
                Number(e.dataset.gradH1Final)])""")
            assert rows == [[r["seed"], r["accuracy"], r["grad_h1_init"], r["grad_h1_final"]] for r in runs]
            assert shown_step(p, "memory") == min(int(p.get_attribute("#app", "data-step")), T)
            for r in runs:
                for key in ("right", "wrong"):
                    e = r["examples"][key]
                    sel = f'#mem-examples [data-example="{key}"][data-seed="{r["seed"]}"]'
                    assert p.locator(sel).count() == 1
                    text = p.text_content(sel)
                    if e is None:
                        assert "no test sequence" in text
                        continue
                    labels = [mem["labels"][c] for c in e["channels"]]
                    assert p.eval_on_selector_all(sel + " .chip", "els => els.map(e => e.textContent)") == labels
                    assert f"target {mem['labels'][e['target']]}, answered {mem['labels'][e['pred']]}" in text
    assert errors == []


def test_play_advances_and_arrow_keys_move(page):
    p, data, errors, _ = page
    p.locator("#step").fill("1")
    p.click("#play")
    for _ in range(50):                                 # bounded: 5 s (the page's CSP forbids wait_for_function's eval)
        if int(p.get_attribute("#app", "data-step")) >= 3:
            break
        p.wait_for_timeout(100)
    assert int(p.get_attribute("#app", "data-step")) >= 3
    p.click("#play")                                    # pause
    paused = int(p.get_attribute("#app", "data-step"))
    p.wait_for_timeout(800)
    assert int(p.get_attribute("#app", "data-step")) == paused
    p.click("h1")                                       # focus leaves the controls
    p.keyboard.press("ArrowRight")
    p.keyboard.press("ArrowRight")
    assert int(p.get_attribute("#app", "data-step")) == paused + 2
    p.keyboard.press("ArrowLeft")
    assert int(p.get_attribute("#app", "data-step")) == paused + 1
    assert shown_step(p, "hidden") == paused + 1
    assert errors == []


def test_gradient_view_reads_the_recorded_norms_and_sweeps_backward(page):
    p, data, errors, _ = page
    g = data["gradients"]
    T = min(g["lengths"])
    p.select_option("#grad-T", str(T))
    p.locator("#step").fill("2")
    for row in (r for r in g["curves"] if r["T"] == T):
        drawn = p.eval_on_selector_all(f'#grad-readout tr[data-cell="{row["cell"]}"] td[data-value]',
                                       "els => els.map(e => Number(e.getAttribute('data-value')))")
        assert drawn == [row["init"][1], row["final"][1]]
    assert shown_step(p, "gradients") == 2
    points = '#view-gradients polyline[data-cell="lstm"][data-curve="final"]'
    lstm = next(r for r in g["curves"] if r["T"] == T and r["cell"] == "lstm")
    full = sum(v is not None and v > 0 for v in lstm["final"])     # a log scale leaves out underflowed zeros
    assert len(p.get_attribute(points, "points").split()) == full >= 2
    p.click("#grad-sweep")                               # the sweep starts at t = T and draws back to t = 1
    p.wait_for_timeout(150)
    assert len(p.get_attribute(points, "points").split()) < full
    for _ in range(50):                                  # bounded: 5 s
        if len(p.get_attribute(points, "points").split()) == full:
            break
        p.wait_for_timeout(100)
    assert len(p.get_attribute(points, "points").split()) == full
    assert errors == []
