"""Screenshots of the explorer page's views into docs/figures/explorer/ (needs Playwright and Chromium).

    python docs/make_figures.py --only explorer         # the default run, these screenshots, the captions
    tinygrad-rnn explore --out explore_out             # or by hand: the default run (a few minutes on 2 CPU cores)
    python docs/make_explorer_figures.py explore_out/explore.html

Opens the page in headless Chromium (Debian's ``chromium``), moves to a step where each view shows
something (the step is in the file name's caption in the docs), and writes one PNG per view:
hidden.png, gradients.png, lstm.png, seq2seq.png, memory.png, graph.png. ``docs/make_figures.py`` reads
``SHOTS`` and ``MEMORY_CELL`` to write the captions (``docs/results/explorer.json``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "figures", "explorer")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# view -> the step to show
SHOTS = {"hidden": 12, "gradients": 12, "lstm": 20, "seq2seq": 4, "memory": 1, "graph": 2}
MEMORY_CELL = "rnn"         # the cell chosen in the memory view (its T is the page's default, the largest)


def chromium_path() -> str | None:
    """Debian's Chromium (or another on PATH), or None."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else None


def missing_tools() -> str | None:
    """Why the screenshots cannot be taken here (Playwright or Chromium missing), or None."""
    import importlib.util
    if importlib.util.find_spec("playwright") is None:
        return "Playwright's Python package is not installed (pip install playwright)"
    if chromium_path() is None:
        return "Chromium is not installed (apt-get install chromium)"
    return None


def main(argv: list | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("page", help="explore.html written by `tinygrad-rnn explore`")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args(argv)
    why = missing_tools()
    if why:
        raise SystemExit(f"make_explorer_figures: {why}")
    from playwright.sync_api import sync_playwright
    os.makedirs(args.out, exist_ok=True)
    exe = chromium_path()
    with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
        ctx = pw.chromium.launch_persistent_context(profile, executable_path=exe, headless=True, args=ARGS,
                                                    viewport={"width": 1240, "height": 1000})
        page = ctx.new_page()
        page.goto("file://" + os.path.abspath(args.page))
        page.wait_for_selector("#app[data-ready='1']")
        page.locator("header").evaluate("h => { h.style.position = 'static'; }")    # not over the views
        for view, step in SHOTS.items():
            if view == "graph":
                page.locator(f'#view-graph g.cluster[data-t="{step}"] text').first.click()
                # the whole graph, not the page's 560 px scroll box (its outputs were cut off)
                page.locator("#graph-box").evaluate("b => { b.style.maxHeight = 'none'; }")
                page.mouse.move(0, 0)                   # the click's hover tooltip off the picture
                page.evaluate("() => { const t = document.getElementById('graph-tip'); "
                              "if (t) t.style.display = 'none'; }")
            else:
                page.locator("#step").fill(str(step))
            if view == "memory":
                page.select_option("#mem-cell", MEMORY_CELL)
            path = os.path.join(args.out, f"{view}.png")
            page.locator(f"#view-{view}").screenshot(path=path)
            print(f"wrote {path}")
        ctx.close()


if __name__ == "__main__":
    main()
