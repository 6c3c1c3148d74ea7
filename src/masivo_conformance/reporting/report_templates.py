"""The Jinja2 environment of the reports, and the text filters its templates use.

The templates live in `reporting/templates/` as package data, so an installed wheel
renders the same pages as a checkout. HTML templates autoescape every value (Jinja2's
own escaping: no markup a server sends survives as markup); Markdown templates escape
with the `md`, `md_cell` and `fenced` filters here, since Markdown has no escaping of
its own that a library gives us. The templates do not redact: `report` passes what
they show through `redacted` (below) once, before anything is cut or escaped.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from functools import cache
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from masivo_conformance.console import CONTROL, printable
from masivo_conformance.scrub import redact_reproducer, redact_text

__all__ = [
    "MARKDOWN_MESSAGE_LIMIT",
    "brief",
    "clip",
    "code_spans",
    "environment",
    "md_cell",
    "md_code_block",
    "md_text",
    "redacted",
    "safe_target",
    "terminal_text",
]

T = TypeVar("T")

# A job summary holds at most 1 MiB; a server that answers with a whole page per failure
# must not push the matrix out of it. report.html keeps the full text.
MARKDOWN_MESSAGE_LIMIT = 3000
BRIEF_ITEMS = 5  # scenarios or requests named in a line before "and N more"

_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~#!])")


def redacted(value: T) -> T:
    """`value` with every string in it (through dataclasses, lists, tuples) redacted.

    Run once over what a report shows, before anything is cut or escaped: a secret cut
    in half, or split by escape characters, would no longer match its pattern.
    """
    return _redact(value)  # type: ignore[no-any-return]


def _redact(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: (
                redact_reproducer(getattr(value, f.name))
                if f.name == "reproducer"  # a curl line: whole or withheld, never edited
                else _redact(getattr(value, f.name))
            )
            for f in dataclasses.fields(value)
        }
        return dataclasses.replace(value, **changes)
    if isinstance(value, list | tuple):
        return type(value)(_redact(item) for item in value)
    return value


def code_spans(value: object) -> Markup:
    """Catalogue prose with its `backtick` spans as <code>; every part escaped first."""
    parts = str(value).split("`")
    if len(parts) % 2 == 0:  # an unmatched backtick: show the text as it is
        return escape(str(value))
    # Markup's % escapes its argument: a span's text stays text.
    return Markup("").join(
        Markup("<code>%s</code>") % part if i % 2 else escape(part) for i, part in enumerate(parts)
    )


def md_text(value: object) -> str:
    """A value as one line of Markdown prose: no markup of its own survives."""
    text = str(value).replace("&", "&amp;")
    return " ".join(_MD_SPECIAL.sub(r"\\\1", text).split())


def md_cell(value: object) -> str:
    """A value for a Markdown table cell: one line, pipes escaped so columns stay put."""
    return md_text(value) or " "


def clip(text: str, limit: int = MARKDOWN_MESSAGE_LIMIT) -> str:
    """`text` cut to `limit` characters, saying how much more report.html holds."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n... ({len(text) - limit} more characters in report.html)"


def brief(items: Sequence[str], shown: int = BRIEF_ITEMS) -> str:
    """The first `shown` items joined, and how many more there are."""
    more = f" and {len(items) - shown} more" if len(items) > shown else ""
    return ", ".join(items[:shown]) + more


def md_code_block(value: object, language: str = "text") -> str:
    """A fenced block that no backtick run inside `value` can close early."""
    text = CONTROL.sub("?", str(value)).rstrip("\n")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"


def terminal_text(value: object) -> str:
    """A value as a terminal or CI log may print it (`console.printable`)."""
    return printable(str(value))


def _no_controls(value: object) -> object:
    """Jinja2's `finalize`: every value a template prints loses its control characters
    (HTML5 forbids them; a Markdown viewer or terminal may obey them), markup kept."""
    if isinstance(value, Markup):
        # Already escaped; a control character becomes "?", which makes no markup.
        return Markup(CONTROL.sub("?", str(value)))  # noqa: S704
    if isinstance(value, str):
        return CONTROL.sub("?", value)
    return value


def safe_target(target: str) -> str:
    """The target as shown: a URL loses any user:password part before anything else."""
    parts = urlsplit(target)
    if parts.hostname and (parts.username or parts.password):
        host = parts.hostname if parts.port is None else f"{parts.hostname}:{parts.port}"
        return urlunsplit(parts._replace(netloc=host))
    return target


@cache
def environment() -> Environment:
    """One environment per process: templates are compiled once."""
    env = Environment(
        loader=PackageLoader("masivo_conformance.reporting", "templates"),
        # Everything but Markdown is HTML (or CSS included into it): escaped by default.
        autoescape=select_autoescape(disabled_extensions=("md",), default=True),
        undefined=StrictUndefined,  # a misspelt name fails the render, not the reader
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_no_controls,
    )
    env.filters.update(
        md=md_text,
        md_cell=md_cell,
        fenced=md_code_block,
        clip=clip,
        brief=brief,
        code_spans=code_spans,
    )
    return env
