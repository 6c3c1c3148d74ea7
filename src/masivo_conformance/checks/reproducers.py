"""Curl lines that repeat a request: safe to run whatever the target chose to send.

A target chooses the ids in the URLs and bodies the suite sends next, and the tokens it
issues, which are secrets. So every value is redacted *before* it is quoted, never the
quoted text after (a secret chosen to match a piece of shell quoting would turn data into
commands), and each value becomes exactly one single-quoted shell word. The run's own key
and tokens are written as `"$MASIVO_API_KEY"` and `"$MASIVO_TOKEN"`, never as text.

A line is one printable line: control characters in a value are shown as `?` (bodies the
suite sends are JSON, which escapes them), and `##` inside quotes is written `#''#`, so
the line carries no CI log command (see `console.printable`) and is printed unchanged.
Any later redaction of a line goes through `scrub.redact_reproducer`, which leaves it as
it is or withholds it whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx

from masivo_conformance import scrub
from masivo_conformance.contract.routes import route_for

__all__ = [
    "REPRODUCER_LIMIT",
    "curl_command",
    "curl_for",
    "curl_for_prepared",
    "curl_line",
    "header_argument",
    "replayed_headers",
    "shell_word",
]

#: A curl line longer than this (a URL with a huge id the target chose) is withheld: a
#: report keeps it in a file, and megabytes of it would only bury the report.
REPRODUCER_LIMIT = 64 * 1024

# Credential headers and the variable that stands for the run's own value in a reproducer.
_VARIABLES = {"authorization": "MASIVO_TOKEN", "x-api-key": "MASIVO_API_KEY"}
# Headers worth repeating; curl adds the others (host, accept, user-agent...) itself.
_REPEATED = frozenset({*_VARIABLES, "content-type"})
# base64url and dots: what a JWT's header and payload segments may hold.
_TOKEN_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
# Words that need no quotes: nothing a shell reads specially.
_BARE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")
_HASH_PAIR = re.compile(r"#(?=#)")
_PREFIX_END = ")}; "  # where `_token_from_key`'s prefix ends and the curl command starts
# The token out of authorize's answer ({"data": "<jwt>"}), for sed -n.
_JWT_FROM_ANSWER = """'s/.*"data" *: *"\\([A-Za-z0-9._-]*\\)".*/\\1/p'"""


def shell_word(value: str) -> str:
    """`value` as one shell word that a POSIX shell hands over exactly (control
    characters shown as `?`): bare when nothing in it is special, else single-quoted."""
    value = _CONTROL.sub("?", value)
    if _BARE.fullmatch(value):
        return value
    # Inside single quotes nothing is special but the quote itself, written '\''; `##`
    # is split by an empty pair of quotes, which the shell joins back.
    quoted = _HASH_PAIR.sub("#''", value.replace("'", "'\\''"))
    return f"'{quoted}'"


def _with_variables(value: str, variable: str) -> str | None:
    """`value` as the inside of a double-quoted shell word, the run's own secrets
    replaced by `variable`; None when it holds no secret of the run (shown as sent)."""
    if scrub.is_secret(value):
        return f"${variable}"
    scheme, _, credential = value.partition(" ")
    if not _TOKEN_SEGMENT.fullmatch(scheme):
        return None  # only a plain scheme word may stand in double quotes beside it
    if credential and scrub.is_secret(credential):
        return f"{scheme} ${variable}"
    segments = credential.split(".")
    if (
        len(segments) == 3
        and scrub.is_secret(segments[2])
        and all(_TOKEN_SEGMENT.fullmatch(s) for s in segments[:2])
    ):
        # A real token's signature under other claims: any token of the target signs
        # the same way, so the reader's own token lends its signature (the shortest
        # prefix up to a second dot removed: header and payload).
        return f"{scheme} {segments[0]}.{segments[1]}.${{{variable}#*.*.}}"
    return None


def header_argument(name: str, value: str) -> str:
    """The shell word after curl's -H that sends `name: value` again.

    The run's real key and tokens become $MASIVO_API_KEY and $MASIVO_TOKEN; anything
    else is shown as sent, redacted (a forged token stays: it is evidence), or running
    the line would not show what the target did with it. An empty value uses curl's
    `name;` form (`name:` would make curl drop the header).
    """
    variable = _VARIABLES.get(name.lower())
    shown = None if variable is None else _with_variables(value, variable)
    if shown is not None and _TOKEN_SEGMENT.fullmatch(name):
        return f'"{name}: {shown}"'
    return shell_word(scrub.redact_text(f"{name}: {value}" if value else f"{name};"))


def replayed_headers(headers: Iterable[tuple[str, str]]) -> list[list[str]]:
    """[name, value, credential] of the headers a sequence reproducer sends again: the
    run's own key and tokens as `$MASIVO_API_KEY`/`$MASIVO_TOKEN` (credential "key" or
    "token": the script puts its own in), anything else as sent, redacted (credential
    "")."""
    kept = []
    for name, value in headers:
        variable = _VARIABLES.get(name.lower())
        if variable is None and name.lower() not in _REPEATED:
            continue
        shown = None if variable is None else _with_variables(value, variable)
        if shown is not None:
            kept.append([name, shown, "token" if variable == "MASIVO_TOKEN" else "key"])
        else:
            kept.append([name, scrub.redact_text(value), ""])
    return kept


def _token_from_key(method: str, url: str) -> str:
    """A prefix that sets MASIVO_TOKEN from MASIVO_API_KEY (authorize at the same base
    URL) when it is unset: a reader with only the key, as the README has them set, gets
    a token; neither is written into the line. Unquoted: an assignment is not split."""
    parts = urlsplit(url)
    routed = route_for(method, parts.path)
    prefix = routed.prefix if routed is not None else ""
    authorize = shell_word(
        scrub.redact_text(f"{parts.scheme}://{parts.netloc}{prefix}/auth/authorize")
    )
    return (
        f'MASIVO_TOKEN=${{MASIVO_TOKEN:-$(curl -sS -H "x-api-key: $MASIVO_API_KEY" {authorize}'
        f" | sed -n {_JWT_FROM_ANSWER}{_PREFIX_END}"
    )


def curl_command(line: str) -> str:
    """The curl command of a reproducer line, after the prefix `_token_from_key` puts
    before it: what a reader needs to see of it."""
    return line.split(_PREFIX_END, 1)[-1]


def curl_line(method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes | None) -> str:
    """A shell line that repeats a request; `headers` are (name, value) as sent, of
    which the credentials and the content type are repeated."""
    parts = [
        "curl",
        "-sS",
        "-X",
        shell_word(scrub.redact_text(method)),
        shell_word(scrub.redact_text(url)),
    ]
    for name, value in headers:
        if name.lower() in _REPEATED:
            parts += ["-H", header_argument(name, value)]
    if body:
        text = body.decode("utf-8", errors="replace")
        parts += ["--data-raw", shell_word(scrub.redact_text(text))]
    line = " ".join(parts)
    if "$MASIVO_TOKEN" in line or "${MASIVO_TOKEN#" in line:
        line = _token_from_key(method, url) + line
    if len(line) > REPRODUCER_LIMIT:
        return (
            f"# reproducer withheld: {len(line):,} characters, over the "
            f"{REPRODUCER_LIMIT:,} a report keeps"
        )
    return scrub.redact_reproducer(line)


def curl_for(request: httpx.Request) -> str:
    """A shell line that repeats an httpx `request`, with the run's credentials as
    variables."""
    encoding = request.headers.encoding
    headers = [  # as spelled, not lower-cased
        (name.decode(encoding), value.decode(encoding)) for name, value in request.headers.raw
    ]
    return curl_line(request.method, str(request.url), headers, request.content)


def curl_for_prepared(request: Any) -> str:
    """A shell line that repeats a `requests.PreparedRequest` (schemathesis's stack)."""
    sent = request.body
    body = sent.encode() if isinstance(sent, str) else sent if isinstance(sent, bytes) else None
    headers = [(str(name), str(value)) for name, value in request.headers.items()]
    return curl_line(str(request.method), str(request.url), headers, body)
