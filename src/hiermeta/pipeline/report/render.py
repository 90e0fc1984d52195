"""Report blocks and their two renderings: Markdown and self-contained HTML.

Everything that comes from the data (titles, study labels, levels, notes) is escaped for the
format it lands in: HTML entities (attributes included) for HTML; for Markdown, backslash
escapes of Markdown syntax and neutralised HTML tags, so a study called ``<script>`` reads as
text in both. Numbers are formatted in one place (:func:`fmt`): three decimals, p-values and
probabilities never shown as 0 or 1.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hiermeta.results.intervals import format_probability

__all__ = ["Block", "fmt", "markdown_table", "md_escape", "render_html", "render_markdown", "slug"]

_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~])")
_TAG_START = re.compile(r"<(?=[A-Za-z/!?])")


@dataclass
class Block:
    """One piece of a report."""

    kind: str  # "h1", "h2", "meta", "p", "list", "table", "image", "alert", "toc"
    content: Any
    caption: str = ""


def slug(text: str) -> str:
    """Anchor of a heading (as GitHub makes it: lower case, spaces to hyphens)."""
    return re.sub(r"[^a-z0-9 -]", "", text.lower()).strip().replace(" ", "-")


def md_escape(text: Any) -> str:
    """Text safe in Markdown: syntax characters escaped, HTML tags neutralised."""
    out = _MD_SPECIAL.sub(r"\\\1", str(text))
    out = _TAG_START.sub("&lt;", out)
    return out.replace("\n", " ")


def fmt(value: Any, column: str = "") -> str:
    """One number format for every table: 3 decimals; p-values and probabilities never 0 or 1."""
    if value is None or (isinstance(value, float | np.floating) and not np.isfinite(value)):
        return ""
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "NO"
    if isinstance(value, int | np.integer):
        return str(value)
    if isinstance(value, float | np.floating):
        number = float(value)
        if column == "p_value" or column.startswith("p "):
            return "< 0.001" if number < 0.001 else f"{number:.3f}"
        if column.startswith("P("):
            return format_probability(number)
        if number != 0 and (abs(number) >= 1e4 or abs(number) < 1e-3):
            return f"{number:.3g}"
        return f"{number:.3f}"
    return str(value)


def markdown_table(frame: pd.DataFrame) -> str:
    """A pipe table; cells and headers escaped, numbers formatted by :func:`fmt`."""
    frame = frame.reset_index()
    columns = [str(c) for c in frame.columns]
    header = "| " + " | ".join(md_escape(c) for c in columns) + " |"
    rule = "|" + "---|" * len(columns)
    rows = [
        "| " + " | ".join(md_escape(fmt(v, c)) for v, c in zip(row, columns, strict=True)) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *rows])


def _toc(blocks: list[Block]) -> list[str]:
    return [b.content for b in blocks if b.kind == "h2"]


def render_markdown(blocks: list[Block]) -> str:
    """The report as Markdown."""
    out = []
    for b in blocks:
        if b.kind == "h1":
            out.append(f"# {md_escape(b.content)}\n")
        elif b.kind == "h2":
            out.append(f"## {md_escape(b.content)}\n")
        elif b.kind == "meta":
            link = f" · [all reports]({b.caption})" if b.caption else ""
            out.append(f"*{md_escape(b.content)}*{link}\n")
        elif b.kind == "toc":
            out.append("\n".join(f"- [{md_escape(h)}](#{slug(h)})" for h in _toc(blocks)) + "\n")
        elif b.kind == "p":
            out.append(f"{md_escape(b.content)}\n")
        elif b.kind == "alert":
            lines = [md_escape(line) for line in str(b.content).split("\n")]
            out.append("> **" + "**\n>\n> **".join(lines) + "**\n")
        elif b.kind == "list":
            out.append("\n".join(f"- {md_escape(item)}" for item in b.content) + "\n")
        elif b.kind == "table":
            caption = "\n\n" + md_escape(b.caption) if b.caption else ""
            out.append(markdown_table(b.content) + caption + "\n")
        elif b.kind == "image":
            out.append(f"![{md_escape(b.caption)}]({b.content})\n\n*{md_escape(b.caption)}*\n")
    return "\n".join(out)


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem;"
    "line-height:1.45;color:#222}"
    "table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}"
    "td,th{border:1px solid #ccc;padding:.2rem .45rem;text-align:right}"
    "th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}img{max-width:100%}"
    ".alert{background:#fff3cd;border-left:5px solid #d39e00;padding:.6rem 1rem;font-weight:600}"
    ".ok{background:#e8f5e9;border-left:5px solid #2e7d32;padding:.6rem 1rem}"
    "figcaption{font-style:italic;font-size:.9rem}.meta{color:#555;font-size:.9rem}"
    "nav{background:#f7f7f7;padding:.4rem 1rem;margin:1rem 0}nav li{display:inline;margin-right:1rem}"
    "nav ul{margin:0;padding:0}"
)


def _html_table(block: Block) -> str:
    frame = block.content.reset_index()
    columns = [str(c) for c in frame.columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{html.escape(fmt(v, c))}</td>" for v, c in zip(row, columns, strict=True))
        + "</tr>"
        for row in frame.itertuples(index=False)
    )
    caption = f"<p><em>{html.escape(block.caption)}</em></p>" if block.caption else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{caption}"


def render_html(blocks: list[Block], folder: Path, title: str) -> str:
    """The report as one self-contained HTML page (figures embedded)."""
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
    ]
    for b in blocks:
        if b.kind == "h1":
            parts.append(f"<h1>{html.escape(b.content)}</h1>")
        elif b.kind == "h2":
            parts.append(f"<h2 id='{slug(b.content)}'>{html.escape(b.content)}</h2>")
        elif b.kind == "meta":
            link = f" · <a href='{html.escape(b.caption)}'>all reports</a>" if b.caption else ""
            parts.append(f"<p class='meta'>{html.escape(b.content)}{link}</p>")
        elif b.kind == "toc":
            items = "".join(
                f"<li><a href='#{slug(h)}'>{html.escape(h)}</a></li>" for h in _toc(blocks)
            )
            parts.append(f"<nav aria-label='contents'><ul>{items}</ul></nav>")
        elif b.kind == "p":
            parts.append(f"<p>{html.escape(b.content)}</p>")
        elif b.kind == "alert":
            css = "ok" if b.caption == "ok" else "alert"
            text = html.escape(b.content).replace("\n", "<br>")
            parts.append(f"<div class='{css}' role='status'>{text}</div>")
        elif b.kind == "list":
            items = "".join(f"<li>{html.escape(i)}</li>" for i in b.content)
            parts.append(f"<ul>{items}</ul>")
        elif b.kind == "table":
            parts.append(_html_table(b))
        elif b.kind == "image":
            data = base64.b64encode((folder / b.content).read_bytes()).decode("ascii")
            alt = html.escape(b.caption)
            parts.append(
                f"<figure><img alt='{alt}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{alt}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts)
