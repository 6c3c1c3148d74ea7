"""Building blocks of the reports: the HTML page, and safe text for HTML and Markdown.

Everything shown in a report may come from a server (failure messages quote response
bodies), so every value passes through `redact_text` first, then through the escaping
of the format it lands in. The page is self-contained: inline CSS, no scripts, no links
to anything outside it, so it opens the same from a CI artifact as from a disk.
"""

from __future__ import annotations

import html
import re
from urllib.parse import urlsplit, urlunsplit

from masivo_conformance.scrub import redact_text

__all__ = [
    "h",
    "html_table",
    "md_cell",
    "md_code_block",
    "md_table",
    "md_text",
    "page",
    "safe_target",
    "terminal_text",
]

_CSS = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2rem auto; max-width: 72rem;
       padding: 0 1rem; color: #1f2328; }
h1 { font-size: 1.5rem; margin-bottom: .25rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #d0d7de; }
table { border-collapse: collapse; width: 100%; margin: .5rem 0; }
th, td { border: 1px solid #d0d7de; padding: .3rem .5rem; text-align: left;
         vertical-align: top; }
th { background: #f6f8fa; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; overflow-wrap: anywhere; }
.verdict { font-size: 1.1rem; font-weight: 600; padding: .6rem .8rem; border-radius: 6px; }
.verdict.ok { background: #dafbe1; } .verdict.bad { background: #ffebe9; }
.verdict.warn { background: #fff8c5; } .verdict.none { background: #eaeef2; }
td.status { font-weight: 600; white-space: nowrap; }
tr.pass td.status { color: #1a7f37; background: #dafbe1; }
tr.fail td.status { color: #cf222e; background: #ffebe9; }
tr.warn td.status { color: #9a6700; background: #fff8c5; }
tr.not-checked td.status { color: #57606a; background: #eaeef2; }
tr.accepted td.status { color: #7d4e00; background: #fff1d6; }
tr.breaking td.status { color: #cf222e; background: #ffebe9; }
tr.additive td.status { color: #0969da; background: #ddf4ff; }
.level-SHOULD { font-style: italic; }
section.failure { border: 1px solid #d0d7de; border-radius: 6px; padding: .2rem 1rem .8rem;
                  margin: 1rem 0; }
pre { background: #f6f8fa; padding: .6rem; border-radius: 6px; overflow-x: auto;
      white-space: pre-wrap; overflow-wrap: anywhere; }
/* One click selects the whole reproducer, so it can be copied without a script. */
pre.reproducer { user-select: all; border-left: 3px solid #0969da; }
.hint { color: #57606a; font-size: .85rem; }
"""

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#!])")
# Control characters other than newline and tab: a server's answer must not be able to
# move the cursor or recolour the terminal that prints the matrix.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def h(value: object) -> str:
    """A value as HTML text: secrets redacted, then every markup character escaped."""
    return html.escape(redact_text(str(value)), quote=True)


def md_text(value: object) -> str:
    """A value as one line of Markdown prose: no markup of its own survives."""
    text = redact_text(str(value)).replace("&", "&amp;")
    return " ".join(_MD_SPECIAL.sub(r"\\\1", text).split())


def md_cell(value: object) -> str:
    """A value for a Markdown table cell: one line, pipes escaped so columns stay put."""
    return md_text(value) or " "


def md_code_block(value: object, language: str = "text") -> str:
    """A fenced block that no backtick run inside `value` can close early."""
    text = _CONTROL.sub("?", redact_text(str(value))).rstrip("\n")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def md_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    """The lines of a GitHub table; cells must already be escaped with `md_cell`."""
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    return out + ["| " + " | ".join(row) + " |" for row in rows]


def html_table(headers: list[str], rows: list[str]) -> str:
    """A table of plain-text `headers` over `rows`, each an already-escaped `<tr>`."""
    head = "".join(f"<th>{h(name)}</th>" for name in headers)
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{''.join(rows)}</tbody>\n</table>"


def terminal_text(value: object) -> str:
    """A value as a terminal may print it: secrets redacted, control characters shown as ?."""
    return _CONTROL.sub("?", redact_text(str(value)))


def safe_target(target: str) -> str:
    """The target as shown: a URL loses any user:password part before anything else."""
    parts = urlsplit(target)
    if parts.hostname and (parts.username or parts.password):
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        return urlunsplit(parts._replace(netloc=host))
    return target


def page(title: str, body: str) -> str:
    """A complete HTML document; `title` is plain text, `body` already-escaped HTML."""
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{h(title)}</title>\n<style>{_CSS}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    )
