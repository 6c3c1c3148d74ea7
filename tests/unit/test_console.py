"""Nothing a target says reaches a terminal or a CI log as a command: `printable` for one
text, `SafeStream` for everything a command prints, in whatever pieces it is written."""

from __future__ import annotations

import io
import re
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from masivo_conformance import cli, contract
from masivo_conformance.console import SafeStream, printable, safe_output
from masivo_conformance.errors import TargetError

# What a GitHub, Azure or TeamCity runner would obey in a log line, and what a terminal
# would (an escape sequence, a carriage return rewriting the line).
GITHUB_COMMAND = re.compile(r"^[ \t]*::", re.MULTILINE)
HASH_COMMAND = "##"
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")


def obeyed(log: str) -> list[str]:
    """The pieces of `log` a CI runner or terminal would act on."""
    return (
        GITHUB_COMMAND.findall(log)
        + [HASH_COMMAND] * log.count(HASH_COMMAND)
        + CONTROL.findall(log)
    )


HOSTILE = (
    "ok\n  ::error file=x::forged\n::add-mask::k ##[error]y ##vso[task.complete]"
    "\x1b[2J\r✅ CONFORMANT"
)


def test_printable_neutralises_log_commands_and_control_characters() -> None:
    shown = printable(HOSTILE)
    assert obeyed(shown) == []
    assert "\\::error file=x::forged" in shown  # still readable
    assert shown.count("\n") == HOSTILE.count("\n")


@given(st.lists(st.text(st.sampled_from(" \t\n:#[x\x1b\r\u2028"), max_size=12), max_size=12))
def test_safe_stream_neutralises_whatever_the_pieces(pieces: list[str]) -> None:
    """pytest writes a line's indent, then its text: a command split over writes must
    not survive either."""
    out = io.StringIO()
    stream = SafeStream(out)
    for piece in pieces:
        stream.write(piece)
    assert obeyed(out.getvalue()) == []
    assert out.getvalue().count("\n") == "".join(pieces).count("\n")


def test_safe_stream_changes_ordinary_output_not_at_all() -> None:
    text = "GEN-1   MUST   pass   12 held\n  reproduce: curl -sS -X GET 'http://h/x?a=1#b'\n"
    out = io.StringIO()
    SafeStream(out).write(text)
    assert out.getvalue() == text


def test_a_terminal_keeps_colours_but_no_other_escape() -> None:
    out = io.StringIO()
    SafeStream(out, keep_style=True).write("\x1b[32mpassed\x1b[0m \x1b[2J\x1b]0;title\x07")
    assert out.getvalue() == "\x1b[32mpassed\x1b[0m ?[2J?]0;title?"


def test_safe_output_wraps_and_restores_both_streams(capsys: pytest.CaptureFixture[str]) -> None:
    with safe_output():
        print("::error::from stdout")
        print("##[error]from stderr", file=sys.stderr)
    print("::after")
    captured = capsys.readouterr()
    assert captured.out == "\\::error::from stdout\n::after\n"
    assert captured.err == "#\\#[error]from stderr\n"


def test_an_error_line_quoting_the_target_is_one_safe_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(_: object) -> int:
        raise TargetError("authorize answered 500: boom\n::error::forged\x1b[2J", "check it")

    monkeypatch.setattr(contract, "check_complete", lambda: None)
    parser = cli.build_parser()
    monkeypatch.setattr(cli, "build_parser", lambda: parser)
    args = parser.parse_args(["requirements"])
    monkeypatch.setattr(parser, "parse_args", lambda argv: args)
    monkeypatch.setattr(args, "execute", refuse, raising=False)
    assert cli.main(["requirements"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert obeyed(err) == []
