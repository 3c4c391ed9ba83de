"""One self-contained HTML page (PNG images embedded as base64) from saved analyses: each model opens with its
verdict (the checks, then the figure that shows the line); definitions are folded in ``<details>``."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path
from urllib.parse import quote

from rnnlens.analysis.metrics import key_numbers, metric_node, metric_value
from rnnlens.analysis.registry import resolve, sections


def _fmt(summary, path, fmt) -> str | None:
    v = metric_value(summary, path)
    if v is None:
        return None
    if fmt == "pc3":
        return f"{v[min(2, len(v) - 1)]:.1%}"
    if fmt == "tau":
        return ", ".join("inf" if not math.isfinite(t) else f"{t:.3g}" for t in v)
    if fmt == "r1m":
        null = metric_value(summary, "modes.null_mean")
        return f"{v:.3f} ({null:.3f})"
    if isinstance(v, float) and math.isnan(v):
        return "undefined"
    return fmt.format(v)


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{data}">'


def figure_html(name: str, png: Path | None, caption: str) -> str:
    """One figure (embedded PNG) with its caption, or a line saying why it was not drawn."""
    if png is None:
        return f"<p class='na'>Figure {html.escape(name)} not drawn: the analysis has no data for it.</p>"
    return f"<figure>{_img(png, name)}<figcaption>{html.escape(caption)}</figcaption></figure>"


def definition_html(text: str, label: str = "definition") -> str:
    """``text`` (plain) folded under ``label`` (HTML): closed until the reader opens it, so the page reads as
    numbers and verdicts first while every number keeps its definition on the page."""
    return f"<details class='def'><summary>{label}</summary>{html.escape(text)}</details>"


def tally(summary) -> str:
    """How many of the summary's checks pass, e.g. "5 of 8 checks pass" (and how many were not checked)."""
    checks = summary.get("checks", [])
    passed = sum(c["passed"] is True for c in checks)
    unchecked = sum(c["passed"] is None for c in checks)
    return (
        f"{passed} of {len(checks)} checks pass" + (f", {unchecked} not checked" if unchecked else "")
        if checks
        else "no checks"
    )


def checks_html(summary) -> str:
    """The pass/fail checks as an HTML list, one line each: the mark, the claim, then the measured number against
    its threshold; failures stated plainly."""
    items = []
    for c in summary.get("checks", []):
        if c["passed"] is None:
            mark, cls = "NOT CHECKED", "na"
        elif c["passed"]:
            mark, cls = "PASS", "ok"
        else:
            mark, cls = "FAIL", "fail"
        items.append(
            f'<li class="{cls}"><b>{mark}</b> {html.escape(c["claim"])} '
            f'<code class="val">{html.escape(str(c["detail"]))}</code></li>'
        )
    return "<ul class='checks'>" + "".join(items) + "</ul>"


def _check_definitions(summary) -> str:
    """The definitions of the metrics the checks read, folded."""
    rows = []
    for c in summary.get("checks", []):
        try:
            node = metric_node(summary, c["metric"]) if c.get("metric") else None
        except KeyError:  # a metric no registered section declares: its check still shows, undefined here
            node = None
        if node and node.get("definition"):
            rows.append(f"<li><code>{html.escape(c['metric'])}</code>: {html.escape(node['definition'])}</li>")
    if not rows:
        return ""
    return (
        "<details class='def'><summary>What the checked numbers measure</summary><ul>"
        + "".join(rows)
        + "</ul></details>"
    )


def verdict_html(summary, lead: str) -> str:
    """A model's verdict: the tally of its checks, the checks (one line each), what could not be measured, the
    definitions of the checked numbers (folded) and ``lead`` (the figure that shows the line, as HTML)."""
    parts = [
        f"<div class='verdict'><h3>Checks against the paper: {html.escape(tally(summary))}</h3>",
        checks_html(summary),
        _check_definitions(summary),
    ]
    if summary.get("missing"):
        parts.append(
            "<div class='missing'><b>Partial analysis.</b> Not measured:<ul>"
            + "".join(f"<li>{html.escape(m['what'])}: {html.escape(m['why'])}</li>" for m in summary["missing"])
            + "</ul></div>"
        )
    if summary.get("skipped"):
        parts.append(
            "<p>Sections that do not apply to this network or these data:</p><ul>"
            + "".join(f"<li>{html.escape(m['section'])}: {html.escape(m['why'])}</li>" for m in summary["skipped"])
            + "</ul>"
        )
    return "".join(parts) + lead + "</div>"


def tolerance_table(summary) -> str:
    """The fixed-point search at several tolerances: exact fixed points vs the slow manifold (empty when the
    summary has none)."""
    node = metric_node(summary, "fixed_points.by_tolerance")
    if not node:
        return ""
    settings = summary.get("settings", {})
    tol = (settings.get("fixed_points") or {}).get("tol", settings.get("tol"))
    tol_text = f"q &lt; {tol:g}" if isinstance(tol, (int, float)) else "q &lt; tol"

    def num(v, f):
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f.format(v)

    rows = "".join(
        f"<tr><td class='num'>{r['tol']:.0e}</td><td class='num'>{r['n_converged']}</td>"
        f"<td class='num'>{num(r.get('top_pc_fraction'), '{:.1%}')}</td>"
        f"<td class='num'>{num(r.get('readout_cos'), '{:.3f}')}</td>"
        f"<td class='num'>{num(r['distance_median'], '{:.3g}')}</td>"
        f"<td class='num'>{num(r.get('dist_to_visited_median'), '{:.3g}')}</td></tr>"
        for r in node["value"]
    )
    return (
        "<h3>Exact fixed points vs the slow manifold</h3>"
        "<table><tr><th>tol on q</th><th>points under tol</th><th>variance on top PC</th>"
        "<th>|cos(m, readout)|</th><th>median distance from seed</th><th>median distance to visited states"
        f"</th></tr>{rows}</table><details class='def'><summary>What this table shows</summary><p>The same seeds, "
        f"each point stopped at the first iterate under the tolerance. The checks above use {tol_text}; where a "
        "network's line is only approximately slow, the points that reach it gather at a few exact fixed "
        "points, while at looser tolerances they stop along the slow manifold near where they started.</p>"
        f"<p>{html.escape(node['definition'])}</p></details>"
    )


LEAD_FIGURE = "fig2b_states"  # the figure that shows the line (or its absence): it follows the verdict


def key_numbers_table(summary) -> str:
    """The key numbers: label and value, each label opening its definition."""
    rows = []
    for spec in key_numbers():
        s = _fmt(summary, spec.path, spec.fmt)
        if s is not None:
            definition = metric_node(summary, spec.path)["definition"]
            rows.append(
                f"<tr><td>{definition_html(definition, html.escape(spec.label))}</td>"
                f"<td class='num'>{html.escape(s)}</td></tr>"
            )
    return (
        "<h3>Key numbers</h3><p class='def'>Open a name for its definition.</p>"
        "<table class='key'><tr><th>what</th><th>value</th></tr>" + "".join(rows) + "</table>"
    )


def model_section(summary, figures: list[tuple[str, Path | None, str]], title: str, anchor: str = "") -> str:
    """HTML for one analysed model: its verdict first (the checks, then the figure that shows the line), then
    the key numbers, each section's table, the other figures with captions and how the numbers were made;
    definitions folded. ``anchor``: the section's id (for the page's table of contents)."""
    lead = [f for f in figures if f[0] == LEAD_FIGURE]
    rest = [f for f in figures if f[0] != LEAD_FIGURE]
    ident = f" id='{html.escape(anchor)}'" if anchor else ""
    parts = [
        f"<section class='model'{ident}><h2>{html.escape(title)}</h2>",
        verdict_html(summary, "".join(figure_html(*f) for f in lead)),
        key_numbers_table(summary),
    ]
    for section in sections():  # each section's own table (e.g. the tolerance sweep, the modifiers)
        if section.table is not None:
            parts.append(resolve(section.table)(summary))
    if summary.get("sign_convention"):
        parts.append(definition_html(summary["sign_convention"], "Sign convention"))
    if rest:
        parts.append("<h3>Figures</h3>")
    parts.extend(figure_html(*f) for f in rest)
    prov = summary.get("provenance", {})
    parts.append(
        "<details><summary>How these numbers were made</summary><pre>"
        + html.escape(
            "\n".join(
                f"{k}: {prov.get(k)}"
                for k in (
                    "checkpoint",
                    "dataset",
                    "corpus_fingerprint",
                    "code_version",
                    "torch",
                    "device",
                    "created",
                    "trained_on_same_corpus",
                )
            )
        )
        + "\nsettings: "
        + html.escape(str(summary.get("settings")))
        + "</pre></details></section>"
    )
    return "\n".join(parts)


def overview_html(models: list[tuple[str, str, dict]]) -> str:
    """The page's table of contents: one line per model (``(anchor, title, summary)``) with its tally."""
    items = "".join(
        f"<li><a href='#{html.escape(quote(anchor))}'>{html.escape(title)}</a>: {html.escape(tally(summary))}</li>"
        for anchor, title, summary in models
    )
    return f"<nav class='overview'><ul>{items}</ul></nav>"


CSS = """*{box-sizing:border-box}html{-webkit-text-size-adjust:100%}
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;max-width:1000px;margin:0 auto;padding:1em;
color:#222;line-height:1.45;overflow-wrap:break-word}
h2{margin-top:2.2em;padding-top:.4em;border-top:3px solid #2471a3}h3{margin:1.4em 0 .4em}
table{border-collapse:collapse;font-size:90%;display:block;max-width:100%;overflow-x:auto}
td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left;vertical-align:top}
td.num{font-family:monospace;white-space:nowrap}.def{color:#555;font-size:88%}
details.def summary,details summary{cursor:pointer}table details.def{color:inherit;font-size:inherit}
table details.def[open]{color:#555}td details.def[open] summary{color:#222}
.verdict{background:#f6f8fa;border:1px solid #dde3ea;border-radius:6px;padding:.2em 1em .6em}
.verdict h3{margin-top:.6em}ul.checks{list-style:none;padding-left:0;margin:.3em 0}
ul.checks li{margin:.35em 0}ul.checks b{display:inline-block;min-width:3.6em;padding:0 .35em;border-radius:3px;
color:#fff;font-size:85%;text-align:center;margin-right:.3em}
li.ok b{background:#1e8449}li.fail b{background:#c0392b}li.na b{background:#888}
code.val{display:inline-block;max-width:100%;font-size:85%;color:#333;background:#eaeef2;padding:0 .3em;
border-radius:3px;overflow-wrap:anywhere}td.num .ci{display:block;color:#666;font-size:85%}
.missing{background:#fdebd0;padding:.5em 1em}
nav.overview ul{padding-left:1.2em}
figure{margin:1.5em 0}img{max-width:100%;height:auto}figcaption{color:#444;font-size:90%}
pre{white-space:pre-wrap;overflow-wrap:anywhere;font-size:85%}"""


def page(title: str, intro: str, sections: list[str]) -> str:
    """The full HTML document."""
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p>{intro}</p>" + "\n".join(sections) + "</body></html>\n"
    )
