// rnnlens explore: the page. All text that comes from the user or the server is written with
// textContent / DOM properties, never parsed as HTML; strings handed to plotly are escaped (esc).
"use strict";

const state = { models: [], selected: [], scenes: {}, last: {}, seq: {}, limits: {}, defs: {}, colourBy: "settled" };
const DEBOUNCE_MS = 250;
const POS = [33, 102, 172], NEG = [178, 24, 43];
const LABEL_COLOURS = ["#d6604d", "#4393c3", "#5aae61", "#9970ab", "#e08214", "#878787"];

function el(tag, props, children) {
  const e = document.createElement(tag);
  if (props) for (const [k, v] of Object.entries(props)) {
    if (k === "text") e.textContent = v; else if (k === "cls") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children || []) e.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
  return e;
}
// plotly renders a few HTML-like tags in hover text and titles: escape everything user-made
function esc(s) {
  return String(s).replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
}
function fmt(x, d = 3) {
  if (x === null || x === undefined || Number.isNaN(x)) return "n/a";
  return (x >= 0 ? "+" : "") + Number(x).toFixed(d);
}
function debounce(fn, ms) {
  let t = null;
  return (...a) => { clearTimeout(t); t = setTimeout(() => fn(...a), ms); };
}
async function api(path, body) {
  const opts = body === undefined ? {} : { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const limit = state.limits.max_body_bytes;
  if (opts.body && limit && new Blob([opts.body]).size > limit)      // the server would refuse it (413) unread
    throw new Error(`the text is too long to send (over ${limit.toLocaleString("en")} bytes); only its start is read anyway`);
  const r = await fetch(path, opts);
  const data = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(typeof data.detail === "string" ? data.detail : `HTTP ${r.status}`);
  return data;
}
function setStatus(s) { document.getElementById("status").textContent = s; }

function panelId(name) { return "panel-" + state.models.findIndex(m => m.name === name); }

function buildPanels() {
  const host = document.getElementById("panels");
  host.replaceChildren();
  for (const name of state.selected) {
    const m = state.models.find(x => x.name === name);
    const id = panelId(name);
    const acc = m.validation_accuracy == null ? "" : `, validation accuracy ${(100 * m.validation_accuracy).toFixed(1)}%`;
    const p = el("article", { cls: "panel", id, "data-model": name }, [
      el("h2", { text: `${m.name} (${m.arch}, ${m.hidden_size} units)` }),
      el("p", { cls: "meta", text: `${m.dataset || "?"}${acc}; ${m.nodes} slow-manifold nodes (${m.nodes_source})` }),
      el("p", { cls: "readout-now", text: "" }),
      el("div", { cls: "tokens", "aria-label": "tokens coloured by push" }),
      el("div", { cls: "plot traj" }),
      el("p", { cls: "definition", text: "Trajectory: the state after each token projected on the top two principal "
        + "components of the visited states (dots: visited states, coloured by true label; black line: the traced slow "
        + "manifold; black circles: stable fixed points, open circles: saddles; triangle: start, star: last token)." }),
      el("div", { cls: "plot probs" }),
      el("p", { cls: "definition", text: "Readout: probability of each class after each token (0: before any token)." }),
      el("div", { cls: "mods" }),
    ]);
    host.appendChild(p);
    drawModifiers(name);
  }
  const sel = document.getElementById("words-model");
  const keep = sel.value;
  sel.replaceChildren(...state.models.map(m => el("option", { value: m.name, text: m.name })));
  if (keep) sel.value = keep;
}

function drawModifiers(name) {
  const sc = state.scenes[name];
  const host = document.querySelector(`#${panelId(name)} .mods`);
  if (!sc || !host) return;
  host.replaceChildren();
  const mods = sc.modifiers;
  if (!mods || !mods.factor) return;
  const words = Object.keys(mods.factor);
  const K = Math.max(...words.map(w => (mods.factor[w] || []).length));
  const head = el("tr", null, [el("th", { text: "modifier" }), ...Array.from({ length: K }, (_, k) => el("th", { text: `k=${k + 1}` }))]);
  const rows = words.map(w => el("tr", null, [el("td", { text: w }),
    ...Array.from({ length: K }, (_, k) => el("td", { text: mods.factor[w][k] == null ? "" : Number(mods.factor[w][k]).toFixed(2) }))]));
  host.appendChild(el("h3", { text: "Modifier factors" }));
  host.appendChild(el("div", { cls: "table-wrap" }, [el("table", null, [el("thead", null, [head]), el("tbody", null, rows)])]));
  host.appendChild(el("p", { cls: "definition", text: "Factor at gap k: " + (mods.factor_definition || "") }));
}

function colourFor(v, scale) {
  const c = Math.max(-1, Math.min(1, (v || 0) / (scale || 1)));
  const [r, g, b] = c >= 0 ? POS : NEG;
  return { bg: `rgba(${r},${g},${b},${Math.abs(c).toFixed(3)})`, fg: Math.abs(c) > 0.55 ? "#fff" : "#1b1f24" };
}

function tokenTitle(d, i, m) {
  const lab = d.label_names[d.label_names.length - 1];
  const lines = [
    `token ${i + 1}: "${d.tokens[i]}"` + (d.unknown[i] ? " (not in the vocabulary: read as <unk>)" : ""),
    `measured push along the line (readout change still there ${state.limits.settle_steps} tokens later): ${fmt(d.settled[i])} logits`,
    `measured one-step readout change: ${fmt(d.measured[i])} logits`,
    `linearized prediction (w.r1) l1^T J_inp x at the nearest slow-manifold node (#${d.node[i]}): ${fmt(d.predicted[i])} logits`,
    `  l1^T J_inp x (distance along r1): ${fmt(d.predicted_line[i])}`,
    `P(${lab}) after this token: ${d.probs[i + 1][d.probs[i + 1].length - 1].toFixed(3)}`,
  ];
  if (d.modifier[i]) lines.push("a modifier word measured by the analysis (see the modifier factors)");
  return lines.join("\n");
}

function drawRead(name, d) {
  const pid = panelId(name);
  const panel = document.getElementById(pid);
  if (!panel) return;
  const m = state.models.find(x => x.name === name);
  const sc = state.scenes[name];
  const toks = panel.querySelector(".tokens");
  const key = state.colourBy;
  const spans = d.tokens.map((t, i) => {
    const s = el("span", { cls: "tok" + (d.unknown[i] ? " unk" : "") + (d.modifier[i] ? " mod" : ""), "data-i": String(i) });
    s.textContent = t;
    const c = colourFor(d[key][i], d.push_scale);
    s.style.background = c.bg; s.style.color = c.fg;
    s.title = tokenTitle(d, i, m);
    return s;
  });
  toks.replaceChildren(...spans);
  const last = d.probs[d.probs.length - 1];
  const parts = d.label_names.map((n, j) => `P(${n}) = ${last[j].toFixed(3)}`);
  panel.querySelector(".readout-now").textContent =
    (d.empty ? "Before any token: " : `After ${d.n_tokens} token(s): `) + parts.join(", ") + `; readout ${fmt(d.readout[d.readout.length - 1], 2)} logits`;

  const traces = [];
  if (sc) {
    const labels = sc.cloud.label_names;
    labels.forEach((ln, j) => {
      const idx = sc.cloud.label.map((l, i) => l === j ? i : -1).filter(i => i >= 0);
      traces.push({ type: "scatter", mode: "markers", name: `visited (${esc(ln)})`, hoverinfo: "skip",
        x: idx.map(i => sc.cloud.pc[i][0]), y: idx.map(i => sc.cloud.pc[i][1]),
        marker: { size: 3, color: LABEL_COLOURS[j % LABEL_COLOURS.length], opacity: 0.25 } });
    });
    traces.push({ type: "scatter", mode: "lines", name: "slow manifold", x: sc.line.pc.map(p => p[0]), y: sc.line.pc.map(p => p[1]),
      line: { color: "#111", width: 3 }, text: sc.line.readout.map((r, i) => `node ${i}: readout w.h = ${r.toFixed(2)}, |lambda1| = ${sc.line.abs_lambda1[i].toFixed(4)}`),
      hoverinfo: "text" });
    const fp = sc.fixed_points;
    if (fp.pc.length) traces.push({ type: "scatter", mode: "markers", name: "fixed points", x: fp.pc.map(p => p[0]), y: fp.pc.map(p => p[1]),
      marker: { size: 11, color: fp.unstable.map(u => u ? "#fff" : "#111"), line: { color: "#111", width: 2 } },
      text: fp.unstable.map(u => u ? `saddle (${u} unstable mode)` : "stable fixed point"), hoverinfo: "text" });
  }
  const hover = d.pc.map((p, i) => i === 0 ? "start (initial state)" :
    `${i}: "${esc(d.tokens[i - 1])}"  push ${fmt(d.settled[i - 1], 2)} (pred ${fmt(d.predicted[i - 1], 2)})  P=${d.probs[i][d.probs[i].length - 1].toFixed(3)}`);
  traces.push({ type: "scatter", mode: "lines+markers", name: "this text", x: d.pc.map(p => p[0]), y: d.pc.map(p => p[1]),
    line: { color: "#e6a100", width: 2 }, marker: { size: 6, color: d.pc.map((_, i) => i), colorscale: "Viridis" },
    text: hover, hoverinfo: "text" });
  const n = d.pc.length - 1;
  traces.push({ type: "scatter", mode: "markers", name: "start", x: [d.pc[0][0]], y: [d.pc[0][1]], hoverinfo: "skip",
    marker: { symbol: "triangle-up", size: 12, color: "#e6a100", line: { color: "#000", width: 1 } } });
  if (n > 0) traces.push({ type: "scatter", mode: "markers", name: "last token", x: [d.pc[n][0]], y: [d.pc[n][1]], hoverinfo: "skip",
    marker: { symbol: "star", size: 15, color: "#e6a100", line: { color: "#000", width: 1 } } });
  const axes = sc ? sc.axes : ["PC1", "PC2"];
  Plotly.react(panel.querySelector(".plot.traj"), traces, {
    margin: { l: 50, r: 10, t: 10, b: 40 }, showlegend: false, hovermode: "closest",
    xaxis: { title: { text: axes[0] }, zeroline: false }, yaxis: { title: { text: axes[1] }, zeroline: false },
  }, { responsive: true, displaylogo: false });

  const xs = d.probs.map((_, i) => i);
  const names = d.label_names;
  const show = names.length === 2 ? [1] : names.map((_, j) => j);
  const ptr = show.map(j => ({ type: "scatter", mode: "lines+markers", name: `P(${esc(names[j])})`, x: xs, y: d.probs.map(p => p[j]),
    text: xs.map(i => i === 0 ? "before any token" : `${i}: "${esc(d.tokens[i - 1])}"`), hovertemplate: `%{text}<br>P(${esc(names[j])}) = %{y:.3f}<extra></extra>`,
    line: { color: LABEL_COLOURS[j % LABEL_COLOURS.length] }, marker: { size: 4 } }));
  Plotly.react(panel.querySelector(".plot.probs"), ptr, {
    margin: { l: 50, r: 10, t: 10, b: 40 }, showlegend: names.length > 2,
    xaxis: { title: { text: "tokens read" } }, yaxis: { title: { text: names.length === 2 ? `P(${esc(names[1])})` : "P(class)" }, range: [0, 1] },
    shapes: [{ type: "line", xref: "paper", x0: 0, x1: 1, y0: 0.5, y1: 0.5, line: { color: "#999", dash: "dot", width: 1 } }],
  }, { responsive: true, displaylogo: false });
  panel.setAttribute("data-rendered", String(d.n_tokens));
}

function showNotes(d) {
  const ul = document.getElementById("notes");
  ul.replaceChildren(...(d ? d.notes : []).map(t => el("li", { text: t })));
}

function updateLegend() {
  const defs = state.defs;
  const text = { settled: defs.settled, measured: defs.measured, predicted: defs.predicted }[state.colourBy] || "";
  document.getElementById("legend").textContent =
    "Token colour: blue = pushes towards the last class (positive), red = towards the first (negative); full colour at "
    + "the model's push scale (95th percentile of word pushes). Dashed with ? = unknown word (read as <unk>). Colour = " + text;
}

async function readAll() {
  const text = document.getElementById("review").value;
  setStatus("reading...");
  const jobs = state.selected.map(async name => {
    const s = (state.seq[name] || 0) + 1;
    state.seq[name] = s;
    try {
      const d = await api("/api/read", { model: name, text });
      if (state.seq[name] !== s) return;            // a newer request is on its way
      state.last[name] = d;
      drawRead(name, d);
      return d;
    } catch (e) {
      const p = document.getElementById(panelId(name));
      if (p) p.querySelector(".readout-now").textContent = "error: " + e.message;
    }
  });
  const res = await Promise.all(jobs);
  showNotes(res.find(d => d));
  setStatus("");
  document.body.setAttribute("data-reads", String((Number(document.body.getAttribute("data-reads")) || 0) + 1));
}

async function lookupWord() {
  const word = document.getElementById("word-input").value;
  const host = document.getElementById("word-result");
  if (!word.trim()) { host.replaceChildren(); return; }
  const rows = await Promise.all(state.selected.map(async name => {
    try {
      const d = await api(`/api/word?model=${encodeURIComponent(name)}&word=${encodeURIComponent(word.slice(0, 200))}`);
      if (d.token === null) return el("li", { text: `${name}: ${d.note}` });
      const txt = `${name}: "${d.token}" push ${fmt(d.push)} logits (std over the line ${d.push_std.toFixed(3)}), valence l1^T J_inp x = ${fmt(d.valence)}`
        + (d.known ? `, rank ${d.rank} of ${d.rank_of} most frequent words (1 = most positive)` : "") + ` - ${d.note}`;
      return el("li", { cls: d.known ? "" : "unk-word", text: txt });
    } catch (e) { return el("li", { cls: "error", text: `${name}: ${e.message}` }); }
  }));
  host.replaceChildren(el("ul", null, rows));
}

async function loadWordLists() {
  const name = document.getElementById("words-model").value;
  const host = document.getElementById("word-lists");
  if (!name) return;
  const d = await api(`/api/words?model=${encodeURIComponent(name)}&n=12`);
  const list = (title, rows) => el("div", null, [el("h3", { text: title }),
    el("ol", null, rows.map(r => el("li", null, [r.word, el("span", { cls: "v", text: fmt(r.push) })])))]);
  host.replaceChildren(list("most positive", d.positive), list("most negative", d.negative), list("most neutral", d.neutral));
  document.getElementById("word-definition").textContent =
    `Push of a word = ${d.definition}. Lists: among ${d.pool_definition}.`;
}

async function init() {
  try {
    const info = await api("/api/models");
    state.models = info.models; state.limits = info.limits; state.defs = info.definitions;
    state.selected = state.models.slice(0, 4).map(m => m.name);
    const boxes = document.getElementById("model-boxes");
    boxes.replaceChildren(...state.models.map(m => {
      const cb = el("input", { type: "checkbox", value: m.name });
      cb.checked = state.selected.includes(m.name);
      cb.addEventListener("change", () => {
        state.selected = state.models.map(x => x.name).filter(n => boxes.querySelector(`input[value="${CSS.escape(n)}"]`).checked);
        buildPanels(); readAll();
      });
      return el("label", null, [cb, " " + m.name]);
    }));
    await Promise.all(state.models.map(async m => { state.scenes[m.name] = await api(`/api/scene?model=${encodeURIComponent(m.name)}`); }));
    buildPanels();
    updateLegend();
    const review = document.getElementById("review");
    review.addEventListener("input", debounce(readAll, DEBOUNCE_MS));
    document.getElementById("colour-by").addEventListener("change", e => {
      state.colourBy = e.target.value; updateLegend();
      for (const n of state.selected) if (state.last[n]) drawRead(n, state.last[n]);
    });
    document.getElementById("word-input").addEventListener("input", debounce(lookupWord, DEBOUNCE_MS));
    document.getElementById("words-model").addEventListener("change", loadWordLists);
    await loadWordLists();
    await readAll();
    document.body.setAttribute("data-ready", "1");
  } catch (e) {
    setStatus("error: " + e.message);
  }
}
document.addEventListener("DOMContentLoaded", init);
