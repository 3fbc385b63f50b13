"""``tinygrad-rnn explore``: the --quick run end to end (the page on disk, its size) and --serve on loopback."""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from tinygrad_rnn.app.cli import main

pytestmark = pytest.mark.cpu_only          # runs the command line on the CPU

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _lines(stream, q: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        q.put(line)
    q.put(None)


def test_explore_quick_writes_the_page_and_serves_it_on_loopback(tmp_path):
    out = tmp_path / "explore"
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen([sys.executable, "-m", "tinygrad_rnn", "explore", "--quick", "--serve", "--no-progress",
                             "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env, cwd=str(tmp_path))
    q: queue.Queue = queue.Queue()
    threading.Thread(target=_lines, args=(proc.stdout, q), daemon=True).start()
    seen, url = [], None
    try:
        deadline = time.monotonic() + 300
        while url is None and time.monotonic() < deadline:
            try:
                line = q.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                break
            if line is None:
                break
            seen.append(line)
            m = re.search(r"at (http://127\.0\.0\.1:(\d+)/explore\.html)", line)
            url = m.group(1) if m else None
        assert url is not None, "".join(seen)
        page = out / "explore.html"
        size = page.stat().st_size
        assert 10_000 < size < 5_000_000
        assert any(f"wrote {page}" in s and "MB" in s for s in seen), seen
        assert (out / "explore.json").is_file()
        body = None
        for _ in range(50):                                   # bounded: the server is up once the URL is printed
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    assert r.status == 200
                    body = r.read()
                break
            except urllib.error.URLError:
                time.sleep(0.1)
        assert body == page.read_bytes()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_explore_from_a_folder_without_demo_output_fails_plainly(tmp_path, capsys):
    rc = main(["explore", "--from", str(tmp_path / "missing"), "--out", str(tmp_path / "o")])
    assert rc == 1
    assert "is not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    rc = main(["explore", "--from", str(tmp_path / "empty"), "--out", str(tmp_path / "o")])
    assert rc == 1
    err = capsys.readouterr().err
    assert "memory.json and hidden_traces.json" in err and "Traceback" not in err
