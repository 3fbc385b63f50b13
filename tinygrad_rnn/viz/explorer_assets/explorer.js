/* tinygrad-rnn explorer: the page's views, in plain JavaScript (SVG built with the DOM; no library).
 *
 * The data is the JSON of the page's element #explorer-data. One step t (0-based here, shown as t = 1..T)
 * drives every view: the slider, play/pause, the arrow keys and a click on a cluster of the graph all
 * call setStep(). Each view clamps t to its own sequence length and writes it to its section's
 * data-step attribute (1-based). Every drawn value also sits in a data-value attribute, so what is
 * drawn can be read back (the browser tests do).
 */
"use strict";
(function () {
  var D = JSON.parse(document.getElementById("explorer-data").textContent);
  var SVGNS = "http://www.w3.org/2000/svg";
  var CELL_COLORS = { rnn: "#d62728", gru: "#2ca02c", lstm: "#1f77b4" };
  var state = { step: 0, T: 1, playing: null, views: [] };

  // ---------------------------------------------------------------------------------------------
  // small helpers

  function el(tag, attrs, parent, text) {
    var e = document.createElement(tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function sv(tag, attrs, parent, text) {
    var e = document.createElementNS(SVGNS, tag);
    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmt(v) {
    if (v === null || v === undefined) return "–";
    var a = Math.abs(v);
    return a !== 0 && (a < 1e-3 || a >= 1e4) ? v.toExponential(2) : v.toFixed(3);
  }
  function mix(c0, c1, u) {
    return [0, 1, 2].map(function (i) { return Math.round(c0[i] + (c1[i] - c0[i]) * u); });
  }
  function rgb(c) { return "rgb(" + c[0] + "," + c[1] + "," + c[2] + ")"; }
  // diverging: blue (-vmax) .. white (0) .. red (+vmax)
  function diverging(v, vmax) {
    var u = Math.max(-1, Math.min(1, v / (vmax || 1)));
    return u < 0 ? rgb(mix([255, 255, 255], [33, 102, 172], -u)) : rgb(mix([255, 255, 255], [178, 24, 43], u));
  }
  // sequential 0..1: white .. green .. dark blue (for gate activations)
  function sequential(v) {
    var u = Math.max(0, Math.min(1, v));
    return u < 0.5 ? rgb(mix([255, 255, 229], [65, 171, 93], u * 2)) : rgb(mix([65, 171, 93], [8, 48, 107], u * 2 - 1));
  }
  function clampStep(T) { return Math.max(0, Math.min(T - 1, state.step)); }
  function median(a) {
    var b = a.filter(function (v) { return v !== null; }).slice().sort(function (x, y) { return x - y; });
    if (!b.length) return null;
    var m = Math.floor(b.length / 2);
    return b.length % 2 ? b[m] : (b[m - 1] + b[m]) / 2;
  }

  // a row of H squares for one vector; returns {set(values)} that recolours them
  function vectorRow(parent, H, size, colour, label) {
    var w = H * size + 60;
    var s = sv("svg", { width: w, height: size + 4, "class": "vec" }, parent);
    if (label) sv("text", { x: 0, y: size - 2, "font-size": 11 }, s, label);
    var rects = [];
    for (var j = 0; j < H; j++) {
      rects.push(sv("rect", { x: 56 + j * size, y: 2, width: size - 1, height: size - 1, stroke: "#999",
                               "stroke-width": 0.3, "class": "cellv", "data-unit": j }, s));
    }
    return {
      svg: s,
      set: function (vals) {
        for (var j = 0; j < H; j++) {
          var v = vals[j];
          rects[j].setAttribute("fill", colour(v));
          rects[j].setAttribute("data-value", String(v));
          var tt = rects[j].firstChild || sv("title", {}, rects[j]);
          tt.textContent = (label || "") + "[" + j + "] = " + fmt(v);
        }
      }
    };
  }

  function legendBar(parent, colour, lo, hi, text) {
    var s = sv("svg", { width: 220, height: 30, "class": "legend" }, parent);
    for (var i = 0; i < 50; i++) {
      var v = lo + (hi - lo) * i / 49;
      sv("rect", { x: 10 + i * 4, y: 2, width: 4, height: 10, fill: colour(v) }, s);
    }
    sv("text", { x: 10, y: 26, "font-size": 10 }, s, String(lo));
    sv("text", { x: 110, y: 26, "font-size": 10, "text-anchor": "middle" }, s, text || "");
    sv("text", { x: 210, y: 26, "font-size": 10, "text-anchor": "end" }, s, String(hi));
    return s;
  }

  function section(id, title, explain) {
    var s = el("section", { "class": "view", id: id, "data-step": "1" }, document.getElementById("views"));
    var h = el("h2", {}, s, title);
    var t = el("span", { "class": "t" }, h, "");
    el("p", { "class": "explain" }, s, explain);
    return { root: s, tlabel: t };
  }
  function markStep(view, t, T) {
    view.root.setAttribute("data-step", String(t + 1));
    view.tlabel.textContent = "t = " + (t + 1) + " / " + T;
  }
  function missing(view, why) { el("p", { "class": "missing" }, view.root, why); }

  // a line chart; returns an object with helpers to map data to pixels
  function chart(parent, W, H, xmax, ylo, yhi, logy, xlabel, ylabel) {
    var m = { l: 58, r: 12, t: 10, b: 34 };
    var s = sv("svg", { width: W, height: H, "class": "chart" }, parent);
    var f = function (v) { return logy ? Math.log10(v) : v; };
    var c = {
      svg: s,
      logy: logy,
      x: function (t) { return m.l + (W - m.l - m.r) * (xmax > 1 ? (t - 1) / (xmax - 1) : 0.5); },
      y: function (v) { return m.t + (H - m.t - m.b) * (1 - (f(v) - f(ylo)) / (f(yhi) - f(ylo))); }
    };
    sv("line", { x1: m.l, y1: H - m.b, x2: W - m.r, y2: H - m.b, stroke: "#444" }, s);
    sv("line", { x1: m.l, y1: m.t, x2: m.l, y2: H - m.b, stroke: "#444" }, s);
    var xt = Math.max(1, Math.round(xmax / 8));
    for (var t = 1; t <= xmax; t += xt) {
      sv("text", { x: c.x(t), y: H - m.b + 14, "font-size": 10, "text-anchor": "middle" }, s, String(t));
    }
    if (logy) {
      for (var e = Math.ceil(Math.log10(ylo)); e <= Math.floor(Math.log10(yhi)); e++) {
        sv("line", { x1: m.l, x2: W - m.r, y1: c.y(Math.pow(10, e)), y2: c.y(Math.pow(10, e)), stroke: "#eee" }, s);
        sv("text", { x: m.l - 4, y: c.y(Math.pow(10, e)) + 3, "font-size": 10, "text-anchor": "end" }, s, "1e" + e);
      }
    } else {
      for (var k = 0; k <= 4; k++) {
        var v = ylo + (yhi - ylo) * k / 4;
        sv("text", { x: m.l - 4, y: c.y(v) + 3, "font-size": 10, "text-anchor": "end" }, s, v.toFixed(2));
      }
    }
    sv("text", { x: (W + m.l) / 2, y: H - 4, "font-size": 11, "text-anchor": "middle" }, s, xlabel);
    sv("text", { x: 12, y: H / 2, "font-size": 11, "text-anchor": "middle",
                 transform: "rotate(-90 12 " + H / 2 + ")" }, s, ylabel);
    c.cursor = sv("line", { y1: m.t, y2: H - m.b, stroke: "#888", "stroke-dasharray": "3,3", "class": "cursor" }, s);
    c.moveCursor = function (t) { c.cursor.setAttribute("x1", c.x(t)); c.cursor.setAttribute("x2", c.x(t)); };
    return c;
  }
  function polyline(c, ys, attrs, from) {
    var pts = [];
    for (var i = (from || 0); i < ys.length; i++) {
      if (ys[i] !== null && (!c.logy || ys[i] > 0)) pts.push(c.x(i + 1).toFixed(1) + "," + c.y(ys[i]).toFixed(1));
    }
    attrs.points = pts.join(" ");
    attrs.fill = "none";
    return sv("polyline", attrs, c.svg);
  }

  function symbolChips(parent, channels, labels, K, t, extra) {
    parent.textContent = "";
    channels.forEach(function (ch, i) {
      var cls = "chip" + (ch < K ? " signal" : ch === labels.length - 1 ? " cue" : "") +
        (i === t ? " now" : i > t ? " future" : "") + (extra ? " " + extra : "");
      el("span", { "class": cls, "data-t": i + 1 }, parent, labels[ch]);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // 1. hidden state over time

  function hiddenView() {
    var d = D.hidden;
    var v = section("view-hidden", "1 · Hidden state over time",
      "A trained vanilla RNN, GRU and LSTM read the same held-out sequence of the memory task: a signal " +
      "symbol (A, B, ...) at step 1, distractors (a, b, ...), then the recall cue ?. Each square is one unit " +
      "of the state vector h_t at the chosen step, blue for negative, red for positive; below it, the whole " +
      "sequence so far (one column per step, units top to bottom). Watch which cells keep a pattern set at " +
      "step 1 alive until the cue arrives — the vanilla RNN's state is overwritten by every distractor.");
    if (!d) { missing(v, "No hidden traces were recorded."); return; }
    var cells = Object.keys(d.cells);
    var T = d.T;
    var inp = el("div", { "class": "panel" }, v.root);
    el("h3", {}, inp, "input so far (target: " + d.labels[d.target] + ")");
    var now = el("div", { "class": "small", id: "hidden-input" }, inp);
    var chips = el("div", { id: "hidden-seq" }, inp);
    var K = D.memory ? D.memory.K : d.target + 1;
    var rows = {}, maps = {};
    cells.forEach(function (cell) {
      var p = el("div", { "class": "panel", "data-cell": cell }, v.root);
      var H = d.cells[cell].h[0].length;
      var pred = d.cells[cell].pred;
      el("h3", {}, p, cell.toUpperCase() + "  h_t (H = " + H + ")" +
        (pred !== null && pred !== undefined ? "  — recalls " + d.labels[pred] +
          (pred === d.target ? " (right)" : " (wrong)") : ""));
      rows[cell] = vectorRow(p, H, 14, function (x) { return diverging(x, 1); }, "h_t");
      var size = Math.max(3, Math.min(10, Math.floor(600 / T)));
      var s = sv("svg", { width: 56 + T * size, height: H * 4 + 4, "class": "seqmap" }, p);
      var cols = [];
      for (var t = 0; t < T; t++) {
        var g = sv("g", { "data-t": t + 1 }, s);
        for (var j = 0; j < H; j++) {
          sv("rect", { x: 56 + t * size, y: j * 4, width: size, height: 4, fill: diverging(d.cells[cell].h[t][j], 1) }, g);
        }
        cols.push(g);
      }
      maps[cell] = cols;
    });
    legendBar(v.root, function (x) { return diverging(x, 1); }, -1, 1, "h (tanh range)");
    state.views.push(function () {
      var t = clampStep(T);
      markStep(v, t, T);
      var ch = d.channels[t];
      now.textContent = "step " + (t + 1) + ": input " + d.labels[ch] +
        (ch < K ? " (the signal to remember)" : ch === d.labels.length - 1 ? " (the recall cue)" : " (a distractor)");
      symbolChips(chips, d.channels, d.labels, K, t);
      cells.forEach(function (cell) {
        rows[cell].set(d.cells[cell].h[t]);
        maps[cell].forEach(function (g, i) { g.setAttribute("opacity", i <= t ? 1 : 0.12); });
      });
    });
  }

  // ---------------------------------------------------------------------------------------------
  // 2. gradients through time

  function gradientView() {
    var d = D.gradients;
    var v = section("view-gradients", "2 · Gradients through time",
      "‖∂L/∂h_t‖ for every step t of the memory task, at initialisation (dashed) and after training (solid), " +
      "median over the seeds, on a log scale. The loss is computed at the last step; its gradient flows " +
      "backward, and each step multiplies it by the step Jacobian ∂h_t/∂h_{t−1}. For the vanilla RNN the " +
      "dotted line is the prediction ‖∂L/∂h_T‖ · σ_max(W_hh)^(T−t) from the recurrent weights alone (an upper " +
      "bound, since |tanh′| ≤ 1): when σ_max < 1 the signal from step 1 vanishes geometrically. Press " +
      "'backward sweep' to watch the gradient travel from t = T back to t = 1.");
    if (!d || !d.curves.length) { missing(v, "No gradient norms were recorded."); return; }
    var ctl = el("div", { "class": "panel" }, v.root);
    el("label", { "for": "grad-T" }, ctl, "T = ");
    var sel = el("select", { id: "grad-T" }, ctl);
    d.lengths.forEach(function (T) { el("option", { value: T }, sel, String(T)); });
    sel.value = String(Math.max.apply(null, d.lengths));
    var sweepBtn = el("button", { id: "grad-sweep", type: "button" }, ctl, "◀ backward sweep");
    var box = el("div", { "class": "row" }, v.root);
    var chartBox = el("div", {}, box);
    var readout = el("table", { "class": "runs", id: "grad-readout" }, box);
    var sweepFrom = null, sweepTimer = null, c = null, lines = [];

    function curvesFor(T) { return d.curves.filter(function (r) { return r.T === T; }); }
    function draw() {
      var T = Number(sel.value);
      var rows = curvesFor(T);
      var all = [];
      rows.forEach(function (r) {
        ["init", "final", "predicted_init", "predicted_final"].forEach(function (k) {
          (r[k] || []).forEach(function (x) { if (x !== null && x > 0) all.push(x); });
        });
      });
      var lo = Math.pow(10, Math.floor(Math.log10(Math.min.apply(null, all))));
      var hi = Math.pow(10, Math.ceil(Math.log10(Math.max.apply(null, all))));
      if (lo === hi) hi = lo * 10;
      chartBox.textContent = "";
      c = chart(chartBox, 640, 300, T, lo, hi, true, "step t", "‖∂L/∂h_t‖");
      lines = [];
      rows.forEach(function (r) {
        var col = CELL_COLORS[r.cell] || "#555";
        [["init", "6,4", 1.5], ["final", null, 2.2], ["predicted_init", "1,3", 1.3], ["predicted_final", "1,3", 2]]
          .forEach(function (spec) {
            if (!r[spec[0]]) return;
            var a = { stroke: col, "stroke-width": spec[2], "data-cell": r.cell, "data-curve": spec[0] };
            if (spec[1]) a["stroke-dasharray"] = spec[1];
            lines.push({ r: r, key: spec[0], attrs: a, node: polyline(c, r[spec[0]], a, sweepFrom || 0) });
          });
      });
      var lg = el("div", { "class": "legend" }, chartBox);
      rows.forEach(function (r) {
        var item = el("span", { style: "margin-right:14px" }, lg);
        el("span", { style: "display:inline-block;width:18px;height:3px;vertical-align:middle;margin-right:4px;" +
                              "background:" + (CELL_COLORS[r.cell] || "#555") }, item);
        item.appendChild(document.createTextNode(r.cell.toUpperCase() + (r.sigma_max_final !== undefined ?
          " (σ_max(W_hh) " + fmt(r.sigma_max_init) + " at init → " + fmt(r.sigma_max_final) + " trained)" : "")));
      });
      el("div", {}, lg, "dashed: at initialisation · solid: after training · dotted: the σ_max(W_hh) prediction");
      update();
    }
    function update() {
      var T = Number(sel.value);
      var t = clampStep(T);
      markStep(v, t, T);
      c.moveCursor(t + 1);
      readout.textContent = "";
      var head = el("tr", {}, readout);
      ["cell", "‖∂L/∂h_" + (t + 1) + "‖ init", "trained", "σ_max prediction (trained)"].forEach(function (h) {
        el("th", {}, head, h);
      });
      curvesFor(T).forEach(function (r) {
        var tr = el("tr", { "data-cell": r.cell }, readout);
        el("td", {}, tr, r.cell.toUpperCase());
        el("td", { "data-value": String(r.init[t]) }, tr, fmt(r.init[t]));
        el("td", { "data-value": String(r.final[t]) }, tr, fmt(r.final[t]));
        el("td", {}, tr, r.predicted_final ? fmt(r.predicted_final[t]) : "–");
      });
    }
    sel.addEventListener("change", draw);
    sweepBtn.addEventListener("click", function () {
      var T = Number(sel.value);
      if (sweepTimer) clearInterval(sweepTimer);
      sweepFrom = T - 1;
      draw();
      sweepTimer = setInterval(function () {
        sweepFrom -= 1;
        if (sweepFrom < 0) { clearInterval(sweepTimer); sweepTimer = null; sweepFrom = null; }
        lines.forEach(function (l) { l.node.remove(); l.node = polyline(c, l.r[l.key], l.attrs, sweepFrom || 0); });
        c.moveCursor((sweepFrom === null ? 0 : sweepFrom) + 1);
      }, Math.max(20, 1500 / T));
    });
    draw();
    state.views.push(update);
  }

  // ---------------------------------------------------------------------------------------------
  // 3. LSTM gates

  function lstmView() {
    var d = D.lstm;
    var v = section("view-lstm", "3 · Information flow through the LSTM gates",
      "The trained LSTM on the same sequence: the input gate i_t, forget gate f_t and output gate o_t (0 = " +
      "closed, 1 = open), the candidate g_t and the cell state c_t = f_t ⊙ c_{t−1} + i_t ⊙ g_t. The chart " +
      "draws every unit of c_t through time and the mean forget gate: where f_t stays near 1 the cell " +
      "state carries what it stored at step 1 past all the distractors — the memory the vanilla RNN lacks.");
    if (!d) { missing(v, "No LSTM was traced."); return; }
    var T = d.c.length, H = d.c[0].length;
    var rows = {};
    var specs = [["i", "i_t input", sequential], ["f", "f_t forget", sequential], ["o", "o_t output", sequential],
                 ["g", "g_t cand.", function (x) { return diverging(x, 1); }]];
    var box = el("div", { "class": "row" }, v.root);
    var left = el("div", {}, box);
    specs.forEach(function (sp) {
      var p = el("div", { "data-gate": sp[0] }, left);
      rows[sp[0]] = { row: vectorRow(p, H, 12, sp[2], sp[0] + "_t"), vals: d.gates[sp[0]] };
    });
    var cmax = 0;
    d.c.forEach(function (r) { r.forEach(function (x) { cmax = Math.max(cmax, Math.abs(x)); }); });
    cmax = cmax || 1;
    var pc = el("div", { "data-gate": "c" }, left);
    rows.c = { row: vectorRow(pc, H, 12, function (x) { return diverging(x, cmax); }, "c_t"), vals: d.c };
    legendBar(left, sequential, 0, 1, "gate activation");
    legendBar(left, function (x) { return diverging(x, cmax); }, -Math.round(cmax * 10) / 10,
      Math.round(cmax * 10) / 10, "c_t");
    var right = el("div", {}, box);
    var c = chart(right, 520, 260, T, -cmax, cmax, false, "step t", "c_t (every unit)");
    for (var j = 0; j < H; j++) {
      polyline(c, d.c.map(function (r) { return r[j]; }), { stroke: "#1f77b4", "stroke-width": 0.8, opacity: 0.55 });
    }
    var fmean = d.gates.f.map(function (r) { return r.reduce(function (a, b) { return a + b; }, 0) / r.length; });
    var cf = chart(right, 520, 140, T, 0, 1, false, "step t", "mean f_t");
    polyline(cf, fmean, { stroke: "#2ca02c", "stroke-width": 2 });
    state.views.push(function () {
      var t = clampStep(T);
      markStep(v, t, T);
      Object.keys(rows).forEach(function (g) { rows[g].row.set(rows[g].vals[t]); });
      c.moveCursor(t + 1);
      cf.moveCursor(t + 1);
    });
  }

  // ---------------------------------------------------------------------------------------------
  // 4. encoder–decoder

  function seq2seqView() {
    var d = D.seq2seq;
    var v = section("view-seq2seq", "4 · Encoder–decoder: the bottleneck and attention",
      "Two models trained to reverse a sequence (same data, same budget): one whose decoder sees only the " +
      "encoder's final state — the single context vector, the bottleneck — and one with Bahdanau attention, " +
      "whose decoder looks back at every encoder state at every step. Shown for one source: the encoder's " +
      "states (one column per source token), the context vector, the decoder's state and output at step t, " +
      "and for the attention model the weights of each decoder step over the source (a row per step; the " +
      "current one outlined) — reversal draws an anti-diagonal.");
    if (!d) { missing(v, "No encoder–decoder was trained."); return; }
    var names = Object.keys(d.models);
    var parts = {};
    var row = el("div", { "class": "row" }, v.root);
    var L = 1;
    names.forEach(function (name) {
      var m = d.models[name];
      L = Math.max(L, m.outputs.length);
      var p = el("div", { "class": "panel", "data-model": name }, row);
      el("h3", {}, p, (name === "attention" ? "with attention" : "no attention (bottleneck)") +
        " — exact-sequence accuracy " + (100 * m.accuracy).toFixed(1) + " % on " + d.test_size + " test sequences");
      var src = el("div", { "class": "small" }, p, "source: ");
      d.source.forEach(function (tok) { el("span", { "class": "chip" }, src, d.labels[tok]); });
      var S = m.encoder.length, H = m.context.length;
      el("div", { "class": "small" }, p, "encoder states (column = source step, row = unit)");
      var es = sv("svg", { width: 56 + S * 14, height: H * 5 + 4 }, p);
      m.encoder.forEach(function (vec, s) {
        vec.forEach(function (x, j) {
          sv("rect", { x: 56 + s * 14, y: j * 5, width: 13, height: 5, fill: diverging(x, 1) }, es);
        });
      });
      el("div", { "class": "small" }, p, "context vector (the encoder's final h: all a bottleneck decoder gets)");
      vectorRow(p, H, 10, function (x) { return diverging(x, 1); }, "context").set(m.context);
      el("div", { "class": "small" }, p, "decoder state at step t");
      var dec = vectorRow(p, H, 10, function (x) { return diverging(x, 1); }, "s_t");
      var outs = el("div", { "class": "small decoder-out" }, p);
      var att = null, attRows = [];
      if (m.attention) {
        el("div", { "class": "small" }, p, "attention weights (row = decoder step, column = source token)");
        att = sv("svg", { width: 56 + S * 16, height: m.attention.length * 16 + 4, "class": "attention" }, p);
        m.attention.forEach(function (wrow, i) {
          var g = sv("g", { "data-t": i + 1 }, att);
          sv("text", { x: 0, y: i * 16 + 12, "font-size": 10 }, g, "t=" + (i + 1));
          wrow.forEach(function (w, s) {
            sv("rect", { x: 56 + s * 16, y: i * 16, width: 15, height: 15, fill: sequential(w), "data-value": String(w) }, g);
          });
          attRows.push(sv("rect", { x: 55, y: i * 16 - 1, width: S * 16 + 1, height: 17, fill: "none",
                                    stroke: "none", "stroke-width": 2 }, att));
        });
      }
      parts[name] = { m: m, dec: dec, outs: outs, attRows: attRows };
    });
    state.views.push(function () {
      var t = clampStep(L);
      markStep(v, t, L);
      names.forEach(function (name) {
        var q = parts[name], n = q.m.outputs.length, k = Math.min(t, n - 1);
        q.dec.set(q.m.decoder[k]);
        q.outs.textContent = "decoder output, steps 1.." + (k + 1) + ": ";
        var want = d.source.slice().reverse().concat([2]);
        q.m.outputs.slice(0, k + 1).forEach(function (tok, i) {
          el("span", { "class": "chip " + (tok === want[i] ? "ok" : "bad"), "data-t": i + 1 }, q.outs, d.labels[tok]);
        });
        q.attRows.forEach(function (r, i) { r.setAttribute("stroke", i === k ? "#d62728" : "none"); });
      });
    });
  }

  // ---------------------------------------------------------------------------------------------
  // 5. the memory test

  function memoryView() {
    var d = D.memory;
    var v = section("view-memory", "5 · The memory test",
      "Can the network recall at the last step the symbol it saw at step 1? Choose a cell and a sequence " +
      "length T: every seed's test accuracy (chance is 1/K), whether it counts as remembered (accuracy ≥ " +
      (100 * (d ? d.success_threshold : 0.95)).toFixed(0) + " %), and ‖∂L/∂h_1‖ — how much gradient reaches " +
      "step 1, the only step that carries the answer — at initialisation and after training. Below, for each " +
      "seed, a test sequence the model got right and one it got wrong, with the step t marked.");
    if (!d) { missing(v, "No memory sweep was recorded."); return; }
    var ctl = el("div", { "class": "panel" }, v.root);
    el("label", { "for": "mem-cell" }, ctl, "cell ");
    var selC = el("select", { id: "mem-cell" }, ctl);
    d.cells.forEach(function (c) { el("option", { value: c }, selC, c.toUpperCase()); });
    el("label", { "for": "mem-T" }, ctl, "  T ");
    var selT = el("select", { id: "mem-T" }, ctl);
    d.lengths.forEach(function (T) { el("option", { value: T }, selT, String(T)); });
    selT.value = String(Math.max.apply(null, d.lengths));
    var summary = el("p", { id: "mem-summary", "class": "small" }, v.root);
    var table = el("table", { "class": "runs", id: "mem-table" }, v.root);
    var exBox = el("div", { id: "mem-examples" }, v.root);
    var T = 1;
    function runs() {
      return d.runs.filter(function (r) { return r.cell === selC.value && r.T === Number(selT.value); });
    }
    function draw() {
      var rs = runs();
      T = Number(selT.value);
      table.textContent = "";
      var head = el("tr", {}, table);
      ["seed", "test accuracy", "remembered", "‖∂L/∂h₁‖ at init", "after training"].forEach(function (h) {
        el("th", {}, head, h);
      });
      rs.forEach(function (r) {
        var tr = el("tr", { "data-seed": r.seed, "data-accuracy": String(r.accuracy),
                            "data-grad-h1-init": String(r.grad_h1_init), "data-grad-h1-final": String(r.grad_h1_final) },
                    table);
        el("td", {}, tr, String(r.seed));
        el("td", {}, tr, (100 * r.accuracy).toFixed(1) + " %");
        el("td", {}, tr, r.success ? "yes" : "no");
        el("td", {}, tr, fmt(r.grad_h1_init));
        el("td", {}, tr, fmt(r.grad_h1_final));
      });
      var acc = median(rs.map(function (r) { return r.accuracy; }));
      summary.setAttribute("data-median-accuracy", String(acc));
      summary.textContent = selC.value.toUpperCase() + ", T = " + T + ": " +
        rs.filter(function (r) { return r.success; }).length + "/" + rs.length + " seeds remembered; median " +
        "accuracy " + (acc === null ? "–" : (100 * acc).toFixed(1) + " %") + " (chance " +
        (100 / d.K).toFixed(0) + " %); median ‖∂L/∂h₁‖ " + fmt(median(rs.map(function (r) { return r.grad_h1_init; }))) +
        " → " + fmt(median(rs.map(function (r) { return r.grad_h1_final; })));
      update();
    }
    function update() {
      var t = clampStep(T);
      markStep(v, t, T);
      exBox.textContent = "";
      var rs = runs();
      if (!rs.length || !rs[0].examples) {
        el("p", { "class": "missing" }, exBox, "Example sequences were not recorded for these runs (a demo output " +
          "keeps no models; run tinygrad-rnn explore without --from to record them).");
        return;
      }
      rs.forEach(function (r) {
        [["right", "got right"], ["wrong", "got wrong"]].forEach(function (kv) {
          var e = r.examples[kv[0]];
          var p = el("div", { "class": "panel", "data-example": kv[0], "data-seed": r.seed }, exBox);
          if (!e) { el("div", { "class": "small" }, p, "seed " + r.seed + ": no test sequence " + kv[1]); return; }
          el("div", { "class": "small" }, p, "seed " + r.seed + ", a test sequence it " + kv[1] + ": target " +
            d.labels[e.target] + ", answered " + d.labels[e.pred]);
          symbolChips(el("div", {}, p), e.channels, d.labels, d.K, t);
        });
      });
    }
    selC.addEventListener("change", draw);
    selT.addEventListener("change", draw);
    draw();
    state.views.push(update);
  }

  // ---------------------------------------------------------------------------------------------
  // the graph

  function graphView() {
    var d = D.graph;
    var v = section("view-graph", "The unrolled graph of a small LSTM",
      "The computation graph this engine recorded for a 4-step LSTM (H = 3), drawn by tr.viz: one cluster per " +
      "time step, the same cell in every step (its gates in order), the weights drawn once as a strip that " +
      "every step shares (the \u25c6 marks), node colour = gradient norm. Click a step's cluster to move every view to that step; hover a node for its " +
      "shape and gradient norm.");
    if (!d || !d.svg) { missing(v, "The graph is not included: " + (d && d.reason ? d.reason : "not recorded")); return; }
    var box = el("div", { id: "graph-box" }, v.root);
    box.innerHTML = d.svg;
    var root = box.querySelector("svg");
    if (root) { root.setAttribute("width", "100%"); root.removeAttribute("height"); }
    var tip = el("div", { id: "graph-tip" }, document.body);
    var clusters = [];
    box.querySelectorAll("g.cluster").forEach(function (g) {
      var title = g.querySelector("title");
      var label = g.querySelector("text");
      var m = label && /^t=(\d+)$/.exec(label.textContent.trim());
      if (!title || title.textContent.indexOf("cluster_step") !== 0 || !m) return;
      var t = Number(m[1]);
      g.setAttribute("data-t", t);
      g.addEventListener("click", function () { setStep(t - 1); });
      clusters.push(g);
    });
    box.querySelectorAll("g.node").forEach(function (g) {
      var lines = Array.prototype.map.call(g.querySelectorAll("text"), function (x) { return x.textContent; });
      var shape = lines.filter(function (s) { return /^\(.*\)$/.test(s); })[0] || "";
      var grad = lines.filter(function (s) { return s.indexOf("‖grad‖") === 0; })[0] || "";
      g.setAttribute("data-shape", shape);
      g.setAttribute("data-grad", grad.replace("‖grad‖", "").trim());
      g.addEventListener("mouseenter", function (ev) {
        tip.textContent = lines[0] + "\nshape " + (shape || "–") + "\n‖grad‖ " + (grad.replace("‖grad‖", "").trim() || "–");
        tip.style.display = "block";
        tip.style.left = ev.clientX + 12 + "px";
        tip.style.top = ev.clientY + 12 + "px";
      });
      g.addEventListener("mouseleave", function () { tip.style.display = "none"; });
    });
    var T = clusters.length || 1;
    state.views.push(function () {
      var t = clampStep(T);
      markStep(v, t, T);
      clusters.forEach(function (g) { g.classList.toggle("current", Number(g.getAttribute("data-t")) === t + 1); });
    });
  }

  // ---------------------------------------------------------------------------------------------
  // the step: slider, play/pause, arrow keys

  function setStep(t) {
    state.step = Math.max(0, Math.min(state.T - 1, t));
    var slider = document.getElementById("step");
    slider.value = String(state.step + 1);
    document.getElementById("step-label").textContent = "t = " + (state.step + 1) + " / " + state.T;
    document.getElementById("app").setAttribute("data-step", String(state.step + 1));
    state.views.forEach(function (f) { f(); });
  }
  function play() {
    var btn = document.getElementById("play");
    if (state.playing) {
      clearInterval(state.playing);
      state.playing = null;
      btn.textContent = "▶ play";
      return;
    }
    btn.textContent = "❚❚ pause";
    state.playing = setInterval(function () { setStep((state.step + 1) % state.T); }, 500);
  }

  function build() {
    var app = document.getElementById("app");
    var header = el("header", {}, app);
    el("h1", {}, header, app.getAttribute("data-title") || "explorer");
    var btn = el("button", { id: "play", type: "button" }, header, "▶ play");
    state.T = D.hidden ? D.hidden.T : D.lstm ? D.lstm.c.length : D.memory ? Math.max.apply(null, D.memory.lengths) : 4;
    var slider = el("input", { id: "step", type: "range", min: 1, max: state.T, value: 1, step: 1,
                               "aria-label": "time step" }, header);
    el("span", { id: "step-label" }, header, "");
    var nav = el("nav", {}, header);
    [["view-hidden", "hidden"], ["view-gradients", "gradients"], ["view-lstm", "gates"], ["view-seq2seq", "seq2seq"],
     ["view-memory", "memory"], ["view-graph", "graph"]].forEach(function (a) {
      el("a", { href: "#" + a[0] }, nav, a[1]);
    });
    var main = el("main", { id: "views" }, app);
    if (D.meta) {
      el("p", { "class": "small", id: "meta" }, main, "Runs " + D.meta.source + " (seed " + D.meta.seed + ", device " +
        D.meta.device + "). " + D.meta.settings);
    }
    hiddenView();
    gradientView();
    lstmView();
    seq2seqView();
    memoryView();
    graphView();
    btn.addEventListener("click", play);
    slider.addEventListener("input", function () { setStep(Number(slider.value) - 1); });
    document.addEventListener("keydown", function (ev) {
      var tag = ev.target && ev.target.tagName;
      if (tag === "INPUT" || tag === "SELECT" || tag === "TEXTAREA") return;    // the control moves itself
      if (ev.key === "ArrowRight") { setStep(state.step + 1); ev.preventDefault(); }
      else if (ev.key === "ArrowLeft") { setStep(state.step - 1); ev.preventDefault(); }
    });
    setStep(0);
    app.setAttribute("data-ready", "1");
  }

  build();
})();
