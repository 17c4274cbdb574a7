"""The HTML pieces every report section shares: the page's styles, escaping, a table, an inlined figure.
Apart from report.py so that the sections it includes (recommendation, sustained) can use them without
importing the report back."""
from __future__ import annotations

import base64
import html
from collections.abc import Sequence

CSS = """
:root { color-scheme: light; --fg:#111827; --muted:#6b7280; --line:#e5e7eb; --bad:#b91c1c; --good:#047857; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg);
       margin: 0 auto; max-width: 960px; padding: 16px; }
h1 { font-size: 1.5rem; margin: 0 0 4px; } h2 { font-size: 1.15rem; margin: 28px 0 8px;
     border-bottom: 1px solid var(--line); padding-bottom: 4px; }
.meta, .note, footer { color: var(--muted); font-size: .9rem; }
.meta code { font-size: .85rem; overflow-wrap: anywhere; }
.chips { display: flex; flex-wrap: wrap; gap: 6px; padding: 0; list-style: none; margin: 10px 0; }
.chips li { border: 1px solid var(--line); border-radius: 999px; padding: 2px 10px; font-size: .9rem; }
figure { margin: 8px 0; overflow-x: auto; -webkit-overflow-scrolling: touch; }
figure img { width: 100%; min-width: 520px; height: auto; display: block; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; font-size: .85rem; width: 100%; }
th, td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }
th:nth-child(-n+3), td:nth-child(-n+3) { text-align: left; }
th { background: #f9fafb; position: sticky; top: 0; }
.slower, .error, .regression { color: var(--bad); font-weight: 600; }
.faster, .improvement { color: var(--good); font-weight: 600; }
.warn { color: #b45309; }
"""


def _e(v: object) -> str:
    return html.escape("" if v is None else str(v))


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], classes: Sequence[str] | None = None) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{_e(classes[i])}"' if classes and classes[i] else ""
        body.append(f"<tr{cls}>" + "".join(f"<td>{_e(c)}</td>" for c in row) + "</tr>")
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table></div>'


def _figure(svg: str | None, alt: str, missing: str) -> str:
    if svg is None:
        return f'<p class="note">{_e(missing)}</p>'
    data = base64.b64encode(svg.encode()).decode()
    return f'<figure><img alt="{_e(alt)}" src="data:image/svg+xml;base64,{data}"></figure>'
