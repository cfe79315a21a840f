"""The document a report is made of, and its two renderings: blocks (text, subheading, bullet list, table,
figure) grouped in sections, written as Markdown and as one self-contained HTML page.

Separate from the study so that the renderers know nothing of measurements: a section builder says what to
show, these say how. Both renderings walk the same blocks, so Markdown and HTML show the same numbers.
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path


# ---- document blocks ------------------------------------------------------------------------------------------
@dataclass
class Text:
    text: str


@dataclass
class Subheading:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


@dataclass
class Image:
    path: Path  # the PNG written under the report's figures/ folder
    caption: str


Block = Text | Subheading | Bullets | Table | Image


@dataclass
class Section:
    anchor: str
    title: str
    blocks: list[Block]


# ---- rendering ------------------------------------------------------------------------------------------------
def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(title: str, subtitle: str, sections: list[Section], base: Path) -> str:
    lines = [f"# {title}", "", subtitle, ""]
    for s in sections:
        lines += [f"## {s.title}", ""]
        for b in s.blocks:
            if isinstance(b, Text):
                lines += [b.text, ""]
            elif isinstance(b, Subheading):
                lines += [f"### {b.text}", ""]
            elif isinstance(b, Bullets):
                lines += [f"- {item}" for item in b.items] + [""]
            elif isinstance(b, Table):
                lines.append("| " + " | ".join(_md_cell(h) for h in b.headers) + " |")
                lines.append("|" + "|".join("---" for _ in b.headers) + "|")
                lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in b.rows]
                lines.append("")
            elif isinstance(b, Image):
                rel = b.path.relative_to(base).as_posix()
                lines += [f"![{_md_cell(b.caption)}]({rel})", "", f"*{b.caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;
color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.85em}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:left;vertical-align:top}
th{background:#f4f4f4}tr:nth-child(even) td{background:#fafafa}
figure{margin:1em 0}img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}nav ol{columns:2;font-size:.9em}.sub{color:#555}
"""


def render_html(title: str, subtitle: str, sections: list[Section]) -> str:
    esc = html.escape
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f'<p class="sub">{esc(subtitle)}</p>',
        "<nav><ol>"
        + "".join(f'<li><a href="#{s.anchor}">{esc(s.title)}</a></li>' for s in sections)
        + "</ol></nav>",
    ]
    for s in sections:
        parts.append(f'<section><h2 id="{s.anchor}">{esc(s.title)}</h2>')
        for b in s.blocks:
            if isinstance(b, Text):
                parts.append(f"<p>{esc(b.text)}</p>")
            elif isinstance(b, Subheading):
                parts.append(f"<h3>{esc(b.text)}</h3>")
            elif isinstance(b, Bullets):
                parts.append("<ul>" + "".join(f"<li>{esc(i)}</li>" for i in b.items) + "</ul>")
            elif isinstance(b, Table):
                head = "".join(f"<th>{esc(h)}</th>" for h in b.headers)
                body = "".join(
                    "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in b.rows
                )
                parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
            elif isinstance(b, Image):
                data = base64.b64encode(b.path.read_bytes()).decode("ascii")
                parts.append(
                    f'<figure><img src="data:image/png;base64,{data}" alt="{esc(b.caption)}">'
                    f"<figcaption>{esc(b.caption)}</figcaption></figure>"
                )
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
