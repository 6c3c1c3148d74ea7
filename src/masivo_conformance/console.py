"""What may reach a terminal or a CI log: the target's text as data, never as commands.

A target chooses the text of its answers, and failure messages quote it. On a terminal,
control characters could clear the screen, move the cursor or print a fake verdict; in a
CI log, runners obey commands written in the log itself: GitHub's `::error::`,
`::add-mask::` or `::stop-commands::` at a line's start (after blanks), and `##[...]`,
Azure's `##vso[...]` and TeamCity's `##teamcity[...]` anywhere in a line. `printable`
makes one text safe to print; `SafeStream` wraps stdout and stderr for a whole command,
so nothing printed (the matrix, pytest's own report, warnings, log records) escapes it.
Neither redacts: secrets are `scrub`'s, and are removed before text gets here.
"""

from __future__ import annotations

import contextlib
import io
import re
import sys
from collections.abc import Iterator
from typing import Any, TextIO

__all__ = ["CONTROL", "SafeStream", "printable", "safe_output"]

# C0 and C1 control characters but tab and newline, and the Unicode line and paragraph
# separators (str.splitlines() breaks on them, so a later split would start a new line).
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
# On a terminal, pytest colours its report (SGR sequences) and rewrites its "collecting"
# line with a carriage return; neither can hide or clear what is printed elsewhere.
_STYLE = re.compile(r"\x1b\[[0-9;]*m|\r")
_LINE_COMMAND = re.compile(r"^([ \t]*):", re.MULTILINE)
_HASHES = re.compile(r"#(?=#)")


def _controls(text: str, keep_style: bool) -> str:
    if not keep_style:
        return CONTROL.sub("?", text)
    kept = _STYLE.split(text)
    styles = _STYLE.findall(text)
    parts = [CONTROL.sub("?", kept[0])]
    for style, rest in zip(styles, kept[1:], strict=True):
        parts += [style, CONTROL.sub("?", rest)]
    return "".join(parts)


def printable(text: str) -> str:
    """`text` as a terminal or CI log may show it: control characters as `?`, a line
    whose first non-blank character is `:` led by a backslash, and `##` written `#\\#`."""
    text = CONTROL.sub("?", text)
    text = _LINE_COMMAND.sub(r"\1\\:", text)
    return _HASHES.sub(r"#\\", text)


class SafeStream(io.TextIOBase):
    """A text stream that writes everything through `printable` to the stream it wraps.

    Writes come in pieces (pytest writes a line's indent, then its text), so whether a
    piece starts a line, and whether the last one ended with `#`, is carried over.
    `keep_style` (a terminal) lets colours and carriage returns through.
    """

    def __init__(self, stream: TextIO, *, keep_style: bool = False) -> None:
        super().__init__()
        self.wrapped = stream
        self._keep_style = keep_style
        self._blank_line = True  # nothing but blanks since the last newline
        self._hash = False  # the last character written was '#'

    def write(self, text: str) -> int:
        if not text:
            return 0
        clean = _controls(text, self._keep_style)
        head, newline, tail = clean.partition("\n")
        if self._blank_line:
            blanks = len(head) - len(head.lstrip(" \t"))
            if head[blanks : blanks + 1] == ":":
                head = f"{head[:blanks]}\\{head[blanks:]}"
        # Every line of the tail starts a line; the head continues the last write's.
        clean = head + newline + _LINE_COMMAND.sub(r"\1\\:", tail)
        if self._hash and clean.startswith("#"):
            clean = "\\" + clean
        clean = _HASHES.sub(r"#\\", clean)
        last_line = clean.rsplit("\n", 1)[-1]
        blank = not last_line.strip(" \t")
        self._blank_line = blank if newline else self._blank_line and blank
        self._hash = clean.endswith("#")
        self.wrapped.write(clean)
        return len(text)

    def flush(self) -> None:
        self.wrapped.flush()

    def isatty(self) -> bool:
        return self.wrapped.isatty()

    def fileno(self) -> int:
        return self.wrapped.fileno()

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.wrapped, "encoding", None) or "utf-8"

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.wrapped, "errors", None)

    def __getattr__(self, name: str) -> Any:
        # What a caller asks of a real stream beyond writing (buffer, mode, name).
        return getattr(self.wrapped, name)


@contextlib.contextmanager
def safe_output() -> Iterator[None]:
    """stdout and stderr as `SafeStream`s while the block runs (a whole command)."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = (
        stream
        if isinstance(stream, SafeStream)
        else SafeStream(stream, keep_style=_is_terminal(stream))
        for stream in saved
    )
    try:
        yield
    finally:
        for stream in (sys.stdout, sys.stderr):
            # A closed pipe is the command's to report, not this block's.
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        sys.stdout, sys.stderr = saved


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
