"""One self-contained HTML page (PNG images embedded as base64) from saved analyses."""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

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


def checks_html(summary) -> str:
    """The pass/fail checks as an HTML list, failures stated plainly."""
    items = []
    for c in summary.get("checks", []):
        if c["passed"] is None:
            mark, cls = "NOT CHECKED", "na"
        elif c["passed"]:
            mark, cls = "PASS", "ok"
        else:
            mark, cls = "FAIL", "fail"
        items.append(f'<li class="{cls}"><b>{mark}</b> {html.escape(c["claim"])} &mdash; '
                     f'{html.escape(str(c["detail"]))}</li>')
    return "<ul class='checks'>" + "".join(items) + "</ul>"


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
        f"<td class='num'>{num(r.get('dist_to_visited_median'), '{:.3g}')}</td></tr>" for r in node["value"])
    return ("<h3>Exact fixed points vs the slow manifold</h3><p>The same seeds, each point stopped at the first "
            f"iterate under the tolerance. The checks above use {tol_text}; where a network's line "
            "is only approximately slow, the points that reach it gather at a few exact fixed points, while at "
            "looser tolerances they stop along the slow manifold near where they started.</p>"
            "<table><tr><th>tol on q</th><th>points under tol</th><th>variance on top PC</th>"
            "<th>|cos(m, readout)|</th><th>median distance from seed</th><th>median distance to visited states"
            f"</th></tr>{rows}</table><p class='def'>{html.escape(node['definition'])}</p>")


def model_section(summary, figures: list[tuple[str, Path | None, str]], title: str) -> str:
    """HTML for one analysed model: key numbers, checks, what is missing, figures with captions."""
    rows = []
    for spec in key_numbers():
        s = _fmt(summary, spec.path, spec.fmt)
        if s is not None:
            definition = metric_node(summary, spec.path)["definition"]
            rows.append(f"<tr><td>{html.escape(spec.label)}</td><td class='num'>{html.escape(s)}</td>"
                        f"<td class='def'>{html.escape(definition)}</td></tr>")
    parts = [f"<h2>{html.escape(title)}</h2>"]
    if summary.get("missing"):
        parts.append("<div class='missing'><b>Partial analysis.</b> Not measured:<ul>" + "".join(
            f"<li>{html.escape(m['what'])}: {html.escape(m['why'])}</li>" for m in summary["missing"]) + "</ul></div>")
    if summary.get("skipped"):
        parts.append("<p>Sections that do not apply to this network or these data:</p><ul>" + "".join(
            f"<li>{html.escape(m['section'])}: {html.escape(m['why'])}</li>" for m in summary["skipped"]) + "</ul>")
    parts.append("<h3>Checks against the paper</h3>" + checks_html(summary))
    parts.append("<h3>Key numbers</h3><table><tr><th>what</th><th>value</th><th>definition</th></tr>"
                 + "".join(rows) + "</table>")
    for section in sections():     # each section's own table (e.g. the tolerance sweep, the modifiers)
        if section.table is not None:
            parts.append(resolve(section.table)(summary))
    parts.append(f"<p class='def'>Sign convention: {html.escape(summary.get('sign_convention', ''))}</p>")
    parts.extend(figure_html(*f) for f in figures)
    prov = summary.get("provenance", {})
    parts.append("<details><summary>How these numbers were made</summary><pre>"
                 + html.escape("\n".join(f"{k}: {prov.get(k)}" for k in
                                         ("checkpoint", "dataset", "corpus_fingerprint", "code_version", "torch",
                                          "device", "created", "trained_on_same_corpus")))
                 + "\nsettings: " + html.escape(str(summary.get("settings"))) + "</pre></details>")
    return "\n".join(parts)


CSS = """body{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}
table{border-collapse:collapse;font-size:90%}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:left}
td.num{font-family:monospace;white-space:nowrap}.def{color:#666;font-size:85%}
li.ok b{color:#1e8449}li.fail b{color:#c0392b}li.na b{color:#888}.missing{background:#fdebd0;padding:.5em 1em}
figure{margin:1.5em 0}img{max-width:100%}figcaption{color:#444;font-size:90%}"""


def page(title: str, intro: str, sections: list[str]) -> str:
    """The full HTML document."""
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1><p>{intro}</p>"
            + "\n".join(sections) + "</body></html>\n")
