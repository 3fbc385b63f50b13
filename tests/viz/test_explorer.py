"""The explorer page (``tr.viz.explorer``) and the data ``tinygrad-rnn explore`` records for it.

The page's structure is read back from its text: one inline JSON payload, the hand-written script and
styles inline, nothing that could reach the network. The data is held to the recorded traces: the
hidden states and gates in the page equal ``tr.analysis.hidden_trace`` of the trained models (and the
layer's own output), the memory view's numbers equal the sweep's run records, the σ_max prediction is
``‖∂L/∂h_T‖ · σ_max(W_hh)^{T−t}``. The browser tests (tests/browser) drive the page itself.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace

import numpy as np
import pytest

import tinygrad_rnn as tr
from tinygrad_rnn.app import experiments as ex
from tinygrad_rnn.app import explore

TINY = replace(ex.QUICK_MEMORY, lengths=(3, 5), seeds=2, hidden_size=4, steps=3, test_size=16, batch_size=8)
TINY_S2S = {"lengths": (3, 4), "hidden": 4, "embed": 3, "steps": 2, "batch": 4}
SVG_NAMESPACE = "http://www.w3.org/2000/svg"        # a namespace name (never fetched), used by createElementNS


def payload(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="explorer-data">(.*?)</script>', page, re.S)
    assert m is not None, "the page has no inline data"
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def recorded():
    """A tiny memory sweep on the CPU: its settings, run records, traces, models, and the page's data."""
    runs, traces, models = explore.train_memory(TINY, seed=0, device="cpu", progress=False)
    data = {"meta": {"source": "test", "seed": 0, "device": "cpu", "quick": True, "settings": TINY.describe()},
            "hidden": explore.hidden_section(TINY, traces), "gradients": explore.gradient_section(TINY, runs),
            "lstm": explore.lstm_section(traces), "memory": explore.memory_section(TINY, runs),
            "seq2seq": explore.seq2seq_section(dict(explore.S2S_QUICK, **TINY_S2S), 0, "cpu", False),
            "graph": {"svg": None, "steps": 4, "reason": "not drawn in this test"}}
    return {"runs": runs, "traces": traces, "models": models, "data": data, "page": tr.viz.explorer(data).html}


@pytest.mark.cpu_only       # the page's text: built once from CPU runs
def test_page_structure_and_inline_assets(recorded):
    page = recorded["page"]
    assert page.startswith("<!DOCTYPE html>")
    assert page.count('id="explorer-data"') == 1
    assert page.count("<script") == 2                     # the JSON payload and the inline script, no src=
    assert not re.search(r"<script[^>]*\ssrc=", page) and "<link" not in page and "@import" not in page
    js = (explore_assets() / "explorer.js").read_text(encoding="utf-8")
    css = (explore_assets() / "explorer.css").read_text(encoding="utf-8")
    assert js in page and css in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    for view in ("view-hidden", "view-gradients", "view-lstm", "view-seq2seq", "view-memory", "view-graph"):
        assert f'"{view}"' in js                            # every view is built by the script


@pytest.mark.cpu_only       # text search over the page
def test_no_network_urls_in_the_page(recorded):
    page = recorded["page"]
    urls = re.findall(r"(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s\"'<>]*", page)
    assert set(urls) <= {SVG_NAMESPACE}, urls
    assert "url(" not in page and "fetch(" not in page and "XMLHttpRequest" not in page


@pytest.mark.cpu_only       # the graph's SVG as Graphviz writes it, made inline
def test_inline_svg_drops_the_prolog_and_doctype():
    svg = ('<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN"\n "http://www.w3.org/Graphics/SVG/'
           '1.1/DTD/svg11.dtd">\n<!-- Generated -->\n<svg xmlns="http://www.w3.org/2000/svg" '
           'xmlns:xlink="http://www.w3.org/1999/xlink"><g/></svg>')
    out = explore.inline_svg(svg)
    assert out == '<svg xmlns="http://www.w3.org/2000/svg"><g/></svg>'


def test_page_data_equals_the_recorded_traces(recorded, device):
    data = payload(recorded["page"])
    T = max(TINY.lengths)
    x, y = ex._batch(TINY, T, 1, ex.test_seed(0) + 1, "cpu")
    assert data["hidden"]["channels"] == [int(c) for c in x.numpy()[:, 0].argmax(-1)]
    assert data["hidden"]["target"] == int(y.numpy()[0])
    for cell in TINY.cells:
        model = recorded["models"][(cell, T, 0)].to(device)
        xd = x.to(device)
        trace = tr.analysis.hidden_trace(model.rnn, xd)
        h = np.array(data["hidden"]["cells"][cell]["h"])
        np.testing.assert_array_equal(h, trace.h[0, 0, :, 0])                      # the trace, as recorded
        out, _ = model.rnn(xd)
        np.testing.assert_allclose(h, out.numpy()[:, 0].astype(np.float64), rtol=1e-5, atol=1e-6)   # = the layer
        with tr.no_grad():
            assert data["hidden"]["cells"][cell]["pred"] == int(model(xd).numpy().argmax(1)[0])
        if cell == "lstm":
            for g in ("i", "f", "g", "o"):
                np.testing.assert_array_equal(np.array(data["lstm"]["gates"][g]), trace.gates[g][0, 0, :, 0])
            np.testing.assert_array_equal(np.array(data["lstm"]["c"]), trace.c[0, 0, :, 0])
        model.to("cpu")


@pytest.mark.cpu_only       # compares JSON with the run records
def test_memory_view_numbers_are_the_run_records(recorded):
    data = payload(recorded["page"])
    assert len(data["memory"]["runs"]) == len(TINY.lengths) * len(TINY.cells) * TINY.seeds
    for shown, run in zip(data["memory"]["runs"], recorded["runs"]):
        for k in ("cell", "T", "seed", "accuracy", "success", "grad_h1_init", "grad_h1_final"):
            assert shown[k] == run[k]
        model = recorded["models"][(run["cell"], run["T"], run["seed"])]
        x, y = ex._batch(TINY, run["T"], TINY.test_size, ex.test_seed(run["seed"]), "cpu")
        with tr.no_grad():
            pred = model(x).numpy().argmax(1)
        for key, want in (("right", True), ("wrong", False)):
            e = shown["examples"][key]
            if e is None:
                assert ((pred == y.numpy()) == want).sum() == 0
                continue
            b = e["index"]
            assert (pred[b] == y.numpy()[b]) == want and e["pred"] == pred[b] and e["target"] == y.numpy()[b]
            assert e["channels"] == [int(c) for c in x.numpy()[:, b].argmax(-1)]


@pytest.mark.cpu_only       # arithmetic on run records
def test_gradient_view_median_and_sigma_prediction(recorded):
    s = TINY
    sec = explore.gradient_section(s, recorded["runs"])
    rows = {(r["cell"], r["T"]): r for r in sec["curves"]}
    assert set(rows) == {(c, T) for c in s.cells for T in s.lengths}
    for (cell, T), row in rows.items():
        rs = [r for r in recorded["runs"] if r["cell"] == cell and r["T"] == T]
        np.testing.assert_allclose(row["final"], np.median([r["grad_norms_final"] for r in rs], axis=0))
        assert ("predicted_final" in row) == (cell == "rnn")
    row = rows[("rnn", 5)]
    rs = [r for r in recorded["runs"] if r["cell"] == "rnn" and r["T"] == 5]
    for r in rs:
        w = recorded["models"][("rnn", 5, r["seed"])].rnn.weight_hh_l0.detach().numpy().astype(np.float64)
        assert r["sigma_max_final"] == pytest.approx(np.linalg.svd(w, compute_uv=False)[0])
    pred = [r["grad_norms_final"][-1] * r["sigma_max_final"] ** np.arange(4, -1, -1) for r in rs]
    np.testing.assert_allclose(row["predicted_final"], np.median(pred, axis=0))


@pytest.mark.cpu_only       # the encoder-decoder's trace read back from its own modules
def test_seq2seq_trace_is_greedy_decoding(recorded):
    d = recorded["data"]["seq2seq"]
    assert set(d["models"]) == {"attention", "bottleneck"}
    for name, m in d["models"].items():
        assert len(m["encoder"]) == len(d["source"]) and len(m["context"]) == TINY_S2S["hidden"]
        assert len(m["decoder"]) == len(m["outputs"])
        if name == "attention":
            w = np.array(m["attention"])
            assert w.shape == (len(m["outputs"]), len(d["source"]))
            np.testing.assert_allclose(w.sum(1), 1.0, rtol=1e-5)
        else:
            assert m["attention"] is None
        # the context vector is the encoder's final state: the last encoder output of a one-directional LSTM
        np.testing.assert_allclose(m["context"], m["encoder"][-1], rtol=1e-6)
        assert 0.0 <= m["accuracy"] <= 1.0


@pytest.mark.cpu_only       # the notebook view is text
def test_repr_html_is_an_iframe_with_the_page(recorded):
    page = tr.viz.explorer(recorded["data"], height=500)
    text = page._repr_html_()
    m = re.fullmatch(r'<iframe srcdoc="([^"]*)" style="[^"]*height:500px[^"]*" sandbox="allow-scripts" '
                     r'title="[^"]*"></iframe>', text)
    assert m is not None
    assert html.unescape(m.group(1)) == page.html
    assert "views=" in repr(page)


@pytest.mark.cpu_only       # text escaping
def test_data_cannot_close_the_script_element(tmp_path):
    evil = "</script><script>alert(1)</script><!--"
    page = tr.viz.explorer({"meta": {"source": evil, "seed": 0, "device": "cpu", "settings": ""}})
    assert payload(page.html)["meta"]["source"] == evil
    assert page.html.count("</script>") == 2
    path = page.save(tmp_path / "p.html")
    assert open(path, encoding="utf-8").read() == page.html


@pytest.mark.cpu_only       # argument checks
def test_bad_input_is_rejected_with_clear_errors():
    with pytest.raises(TypeError, match="data: expected a dict"):
        tr.viz.explorer([1, 2])
    with pytest.raises(ValueError, match="unknown \\['views'\\]"):
        tr.viz.explorer({"views": {}})
    with pytest.raises(TypeError, match="data\\['hidden'\\]"):
        tr.viz.explorer({"hidden": [1]})
    with pytest.raises(ValueError, match="<svg> element"):
        tr.viz.explorer({"graph": {"svg": "<?xml version='1.0'?><svg/>"}})
    with pytest.raises(ValueError, match="height"):
        tr.viz.explorer({}, height=10)
    with pytest.raises(TypeError, match="path"):
        tr.viz.explorer({}).save(3)
    with pytest.raises(TypeError, match="memory_settings"):
        explore.collect(memory_settings={"task": "memory"})
    with pytest.raises(ValueError, match="seq2seq_settings"):
        explore.collect(seq2seq_settings={"layers": 2})
    with pytest.raises(ValueError, match="memory task"):
        explore.collect(memory_settings=ex.QUICK_ADDING)


@pytest.mark.cpu_only       # reads files written by the CPU sweep
def test_collect_reads_a_demo_output_folder(recorded, tmp_path):
    runs = recorded["runs"]
    ex.write_json(str(tmp_path / "memory.json"), ex.Sweep(TINY, runs=[
        {k: v for k, v in r.items() if k not in ("examples", "sigma_max_init", "sigma_max_final")} for r in runs
    ]).to_json())
    ex.write_json(str(tmp_path / "hidden_traces.json"),
                  {c: {k: v for k, v in t.items() if k != "pred"} for c, t in recorded["traces"].items()})
    data = explore.collect(from_dir=str(tmp_path), graph=False, seq2seq_settings=TINY_S2S)
    assert data["meta"]["source"] == f"read from {tmp_path}"
    assert data["hidden"]["cells"]["gru"]["h"] == recorded["data"]["hidden"]["cells"]["gru"]["h"]
    assert [r["accuracy"] for r in data["memory"]["runs"]] == [r["accuracy"] for r in runs]
    assert all(r["examples"] is None for r in data["memory"]["runs"])
    assert "predicted_final" not in [r for r in data["gradients"]["curves"] if r["cell"] == "rnn"][0]
    tr.viz.explorer(data)                                   # the page builds without the missing parts
    with pytest.raises(FileNotFoundError, match="hidden_traces.json"):
        (tmp_path / "hidden_traces.json").unlink()
        explore.collect(from_dir=str(tmp_path))


def explore_assets():
    import importlib
    return importlib.import_module("tinygrad_rnn.viz.explorer").ASSETS     # tr.viz.explorer is the function
