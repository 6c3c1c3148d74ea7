"""Reproducers: the curl line of a call sends again what was sent, with the run's own key
and tokens as $MASIVO_API_KEY and $MASIVO_TOKEN and every other credential as sent."""

from __future__ import annotations

import shlex
import subprocess
import time
from collections.abc import Iterator

import httpx
import jwt
import pytest
import requests
import schemathesis

from masivo_conformance import scrub
from masivo_conformance.checks.calls import Call, curl_for, header_argument
from masivo_conformance.suite import fuzzing
from masivo_conformance.suite.client import ApiClient
from masivo_conformance.suite.forged_tokens import forge_jwt

API_KEY = "mk_test_key_abcdef123456"
BASE = "https://mock.example.test/v1"


def mint(sub: str = "store") -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "iat": now, "exp": now + 3600}, "k" * 32, algorithm="HS256")


@pytest.fixture(autouse=True)
def no_registered_secrets() -> Iterator[None]:
    scrub.clear_secrets()
    yield
    scrub.clear_secrets()


def captured(api_key: str, token: str, *paths: str) -> list[httpx.Request]:
    """What a client sends for `paths` (POSTs with a body), authorize answering `token`."""
    sent: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        if request.url.path.endswith("/auth/authorize"):
            return httpx.Response(200, json={"data": token})
        return httpx.Response(200, json={"data": {}})

    api = ApiClient(BASE, api_key=api_key, transport=httpx.MockTransport(answer))
    try:
        for path in paths:
            api.request("POST", path, json_body={"reason": "it's | a test"})
    finally:
        api.close()
    return sent


def shell_word(argument: str, **env: str) -> str:
    """What bash makes of one shell word (quotes removed, variables expanded)."""
    completed = subprocess.run(
        ["bash", "-c", f"printf %s {argument}"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    return completed.stdout


def test_the_runs_key_and_issued_token_become_variables() -> None:
    token = mint()
    authorize, reverse = captured(API_KEY, token, "/events/ev-1/reverse")
    for request in (authorize, reverse):
        line = curl_for(request)
        assert API_KEY not in line
        assert token not in line
        assert "\n" not in line
    assert '"x-api-key: $MASIVO_API_KEY"' in curl_for(authorize)
    assert '"Authorization: Bearer $MASIVO_TOKEN"' in curl_for(reverse)
    assert shell_word(header_argument("Authorization", f"Bearer {token}"), MASIVO_TOKEN="t1") == (
        "Authorization: Bearer t1"
    )


def test_curl_for_repeats_method_url_and_body() -> None:
    line = curl_for(captured(API_KEY, mint(), "/events")[-1])
    assert line.split("; ", 1)[-1].startswith(f"curl -sS -X POST {BASE}/events ")
    assert "'content-type: application/json'" in line.lower()
    # shlex quoting: the shell hands curl the exact body, apostrophe included.
    assert shlex.split(line)[-1] == '{"reason": "it\'s | a test"}'


def test_a_forged_token_is_shown_as_sent_and_survives_redaction() -> None:
    real = mint()
    scrub.register_secret(real)
    forged = forge_jwt(real, exp=int(time.time()) + 3600)
    request = httpx.Request("GET", f"{BASE}/rewards", headers={"Authorization": f"Bearer {forged}"})
    line = curl_for(request)
    assert f"'Authorization: Bearer {forged}'" in line
    assert "$MASIVO_TOKEN" not in line
    assert scrub.redact_text(line) == line  # reports keep it: it is evidence, not a secret


def test_an_unknown_token_is_shown_as_sent_then_redacted_in_artefacts() -> None:
    """Neither the run's nor forged (a token from elsewhere): the line says what was sent,
    and the redaction every artefact passes through hides it all the same."""
    stranger = mint("someone-else")
    request = httpx.Request(
        "GET", f"{BASE}/rewards", headers={"Authorization": f"Bearer {stranger}"}
    )
    assert stranger not in scrub.redact_text(curl_for(request))


def test_a_wrong_key_is_shown_as_sent_and_an_empty_one_with_curls_semicolon() -> None:
    scrub.register_secret(API_KEY)
    assert header_argument("x-api-key", "wrong-key-1") == "'x-api-key: wrong-key-1'"
    assert header_argument("X-Api-Key", API_KEY) == '"X-Api-Key: $MASIVO_API_KEY"'
    # `-H 'x-api-key:'` would make curl drop the header; `x-api-key;` sends it empty.
    assert header_argument("x-api-key", "") == "'x-api-key;'"
    assert header_argument("Authorization", "Bearer") == "'Authorization: Bearer'"


def test_a_token_with_the_runs_signature_borrows_the_readers() -> None:
    """Claims edited under a real token's signature: that signature is a secret (with it
    and the claims, the token is rebuilt), so the line takes it from $MASIVO_TOKEN."""
    real = mint()
    scrub.register_secret(real)
    header, payload, _ = forge_jwt(real, exp=2_000_000_000).split(".")
    signature = real.rsplit(".", 1)[1]
    argument = header_argument("Authorization", f"Bearer {header}.{payload}.{signature}")
    assert signature not in argument
    assert argument == f'"Authorization: Bearer {header}.{payload}.${{MASIVO_TOKEN#*.*.}}"'
    readers = mint("reader")
    assert shell_word(argument, MASIVO_TOKEN=readers) == (
        f"Authorization: Bearer {header}.{payload}.{readers.rsplit('.', 1)[1]}"
    )
    assert scrub.redact_text(argument) == argument


def test_a_call_registers_the_token_an_authorize_answer_issues() -> None:
    token = "opaque-token-not-a-jwt-1234"  # a broken target's: only registration hides it
    call = Call.build("GET", f"{BASE}/auth/authorize", None, 200, {}, f'{{"data": "{token}"}}', "")
    assert call is not None
    assert call.operation == "authorize"
    assert scrub.is_secret(token)
    assert token not in scrub.redact_text(f"AUTH-2: authorize answered {call.text}")
    refused = "refused-token-000000"
    Call.build("GET", f"{BASE}/auth/authorize", None, 401, {}, f'{{"data": "{refused}"}}', "")
    assert not scrub.is_secret(refused)  # only what was issued


def test_schemathesis_reproducers_put_back_the_credentials_it_filtered() -> None:
    """schemathesis prints `[Filtered]` for every credential; the line must send the
    forged token the probe sent, and the run's own token as $MASIVO_TOKEN."""
    real = mint()
    scrub.register_secret(real)
    forged = forge_jwt(real)
    schema = fuzzing.schema_for(BASE, real)
    case = schema["/customers/{id}"]["GET"].Case(path_parameters={"id": "c-1"})
    lines = {}
    for name, token in (("real", real), ("forged", forged)):
        prepared = requests.Request(
            "GET", f"{BASE}/customers/c-1", headers={"Authorization": f"Bearer {token}"}
        ).prepare()
        response = schemathesis.Response(
            status_code=200,
            headers={"content-type": ["application/json"]},
            content=b'{"data": {}}',
            request=prepared,
            elapsed=0.0,
            verify=True,
        )
        call = fuzzing.observed(case, response)
        assert call is not None
        lines[name] = call.reproducer
    assert "[Filtered]" not in lines["real"] + lines["forged"]
    assert '"Authorization: Bearer $MASIVO_TOKEN"' in lines["real"]
    assert real not in lines["real"]
    assert f"'Authorization: Bearer {forged}'" in lines["forged"]
