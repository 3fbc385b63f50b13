"""Screenshots of the explorer page's views into docs/figures/explorer/ (needs Playwright and Chromium).

    tinygrad-rnn explore --out explore_out             # the default run (a few minutes on 2 CPU cores)
    python docs/make_explorer_figures.py explore_out/explore.html

Opens the page in headless Chromium (Debian's ``chromium``), moves to a step where each view shows
something (the step is in the file name's caption in the docs), and writes one PNG per view:
hidden.png, gradients.png, lstm.png, seq2seq.png, memory.png, graph.png.
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


def main() -> None:
    from playwright.sync_api import sync_playwright
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("page", help="explore.html written by `tinygrad-rnn explore`")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    exe = shutil.which("chromium") or "/usr/bin/chromium"
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
            else:
                page.locator("#step").fill(str(step))
            if view == "memory":
                page.select_option("#mem-cell", "rnn")
            path = os.path.join(args.out, f"{view}.png")
            page.locator(f"#view-{view}").screenshot(path=path)
            print(f"wrote {path}")
        ctx.close()


if __name__ == "__main__":
    main()
