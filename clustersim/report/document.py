"""The report as a document: sections of prose, tables and figures, rendered as Markdown (report.md, figures
linked from plots/) and as one self-contained HTML file (report.html: figures inlined as data: URIs, the style
inline, no script, nothing fetched), and written beside the results.

A report says only what its builder computed: every sentence comes from numbers (``report.review``), never
from a hand-written claim.
"""
from __future__ import annotations

import base64
import html
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from clustersim.report.files import write_synced

REPORT_MD, REPORT_HTML, PLOTS = "report.md", "report.html", "plots"


@dataclass(frozen=True)
class Figure:
    """One PNG with its file stem (plots/<name>.png) and a caption saying what it shows."""

    name: str
    caption: str
    png: bytes


@dataclass(frozen=True)
class Table:
    """Rows of already formatted cells; ``numeric`` columns are right-aligned."""

    columns: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    numeric: frozenset[int] = frozenset()
    caption: str = ""


@dataclass
class Section:
    heading: str
    paragraphs: list[str] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    folded: bool = False  # long reference material: collapsed in the HTML


@dataclass
class Report:
    title: str
    subtitle: str
    sections: list[Section] = field(default_factory=list)

    def figures(self) -> list[Figure]:
        return [figure for section in self.sections for figure in section.figures]


def table(columns: list[str], rows: list[list[str]], numeric: set[int] | None = None, caption: str = "") -> Table:
    """A Table from lists (every row as long as the header)."""
    assert all(len(row) == len(columns) for row in rows), "a row's cells must match the columns"
    return Table(tuple(columns), tuple(tuple(row) for row in rows), frozenset(numeric or ()), caption)


# --- Markdown ---------------------------------------------------------------------------------

def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _md_table(t: Table) -> list[str]:
    align = ["---:" if i in t.numeric else ":---" for i in range(len(t.columns))]
    lines = ["| " + " | ".join(_md_cell(c) for c in t.columns) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in t.rows]
    return ([f"*{t.caption}*", ""] if t.caption else []) + lines + [""]


def render_markdown(report: Report) -> str:
    """report.md: the same content as the HTML, figures linked from plots/."""
    lines = [f"# {report.title}", "", report.subtitle, ""]
    for section in report.sections:
        lines += [f"## {section.heading}", ""]
        for paragraph in section.paragraphs:
            lines += [paragraph, ""]
        if section.bullets:
            lines += [f"- {b}" for b in section.bullets] + [""]
        for t in section.tables:
            lines += _md_table(t)
        for figure in section.figures:
            lines += [f"![{figure.caption}]({PLOTS}/{figure.name}.png)", "", f"*{figure.caption}*", ""]
    return "\n".join(lines).rstrip() + "\n"


# --- HTML -------------------------------------------------------------------------------------

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1f23; margin: 0;
       background: #f6f7f9; }
main { max-width: 1040px; margin: 0 auto; padding: 24px 32px 48px; background: #fff; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
.subtitle { color: #555; margin-top: 0; }
h2 { font-size: 1.25em; border-bottom: 1px solid #d8dde3; padding-bottom: 4px; margin-top: 2em; }
p, li { line-height: 1.5; }
table { border-collapse: collapse; margin: 12px 0 20px; font-size: 0.92em; }
th, td { border-bottom: 1px solid #e3e6ea; padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: #f0f2f5; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
caption { caption-side: top; text-align: left; color: #555; font-style: italic; padding-bottom: 4px; }
figure { margin: 16px 0 28px; }
figure img { max-width: 100%; height: auto; border: 1px solid #e3e6ea; }
figcaption { color: #444; font-size: 0.92em; margin-top: 4px; }
details summary { cursor: pointer; color: #333; margin: 8px 0; }
nav ol { columns: 2; font-size: 0.95em; }
.wide { overflow-x: auto; }
"""


def _anchor(heading: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    body = "".join(
        "<tr>" + "".join(f'<td class="num">{html.escape(c)}</td>' if i in t.numeric else f"<td>{html.escape(c)}</td>"
                         for i, c in enumerate(row)) + "</tr>" for row in t.rows)
    caption = f"<caption>{html.escape(t.caption)}</caption>" if t.caption else ""
    return f'<div class="wide"><table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _html_figure(figure: Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    caption = html.escape(figure.caption)
    return (f'<figure id="fig-{html.escape(figure.name)}"><img src="data:image/png;base64,{data}" alt="{caption}">'
            f"<figcaption>{caption}</figcaption></figure>")


def _html_section(section: Section) -> str:
    parts = [f"<p>{html.escape(p)}</p>" for p in section.paragraphs]
    if section.bullets:
        parts.append("<ul>" + "".join(f"<li>{html.escape(b)}</li>" for b in section.bullets) + "</ul>")
    parts += [_html_table(t) for t in section.tables]
    parts += [_html_figure(f) for f in section.figures]
    body = "".join(parts)
    if section.folded:
        body = f"<details><summary>show</summary>{body}</details>"
    anchor = _anchor(section.heading)
    return f'<section id="{anchor}"><h2>{html.escape(section.heading)}</h2>{body}</section>'


def render_html(report: Report) -> str:
    """report.html: one file, readable offline, figures inlined."""
    contents = "".join(f'<li><a href="#{_anchor(s.heading)}">{html.escape(s.heading)}</a></li>'
                       for s in report.sections)
    sections = "\n".join(_html_section(s) for s in report.sections)
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            f"<title>{html.escape(report.title)}</title><style>{_STYLE}</style></head>\n"
            f"<body><main><h1>{html.escape(report.title)}</h1><p class=\"subtitle\">{html.escape(report.subtitle)}</p>"
            f"<nav><ol>{contents}</ol></nav>\n{sections}\n</main></body></html>\n")


def write_report(out_dir: Path, report: Report,
                 write: Callable[[Path, bytes | str], None] = write_synced) -> list[Path]:
    """plots/*.png, report.md and report.html into ``out_dir`` with ``write`` (fsynced into a staging directory,
    or atomically beside a sweep's resumable store); returns the paths written."""
    written = []
    figures = report.figures()
    names = [f.name for f in figures]
    assert len(names) == len(set(names)), f"two figures share a file name: {names}"
    if figures:
        (out_dir / PLOTS).mkdir(exist_ok=True)
    for figure in figures:
        path = out_dir / PLOTS / f"{figure.name}.png"
        write(path, figure.png)
        written.append(path)
    for name, text in ((REPORT_MD, render_markdown(report)), (REPORT_HTML, render_html(report))):
        write(out_dir / name, text)
        written.append(out_dir / name)
    return written
