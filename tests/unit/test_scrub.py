"""Scrubbing: secrets and personal data never reach what vcrpy writes to a cassette."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import yaml
from vcr.request import Request

from masivo_conformance import scrub
from masivo_conformance.recording import vcr_hooks
from masivo_conformance.suite.forged_tokens import forge_jwt

# The patterns the project's before-stop check greps cassettes for.
LEAK_PATTERNS = (
    re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"),
    re.compile(r"Bearer [A-Za-z0-9._-]{8,}"),
)
CANARY_KEY = "canary-key-4f1c9a77d2"  # not JWT-shaped: only registration can catch it
OPAQUE = "abcdefghijkl"  # an opaque bearer credential; kept apart so no source line leaks


def canary_jwt() -> str:
    return jwt.encode({"sub": "canary", "exp": int(time.time()) + 3600}, "k" * 32, "HS256")


def assert_clean(text: str, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in text
    for pattern in LEAK_PATTERNS:
        assert not pattern.search(text), pattern.pattern


@pytest.fixture(autouse=True)
def no_registered_secrets() -> Iterator[None]:
    scrub.clear_secrets()
    yield
    scrub.clear_secrets()


def test_redact_text_replaces_a_jwt_inside_other_text() -> None:
    token = canary_jwt()
    text = scrub.redact_text(f'{{"data":"{token}","next":1}}')
    assert text == '{"data":"<redacted>","next":1}'
    assert_clean(text, token)


def test_redact_text_replaces_a_jwt_cut_to_two_segments() -> None:
    header, payload, _ = canary_jwt().split(".")
    assert_clean(scrub.redact_text(f"token {header}.{payload}"), payload)


def test_redact_text_replaces_any_bearer_credential() -> None:
    text = scrub.redact_text("Authorization: bearer opaque.Token-123456 rest")
    assert text == f"Authorization: bearer {scrub.REDACTED} rest"
    assert_clean(text)


def test_redact_text_keeps_json_quotes_after_a_bearer_credential() -> None:
    text = scrub.redact_text(f'{{"h": "Bearer {OPAQUE}"}}')
    assert json.loads(text) == {"h": "Bearer <redacted>"}


def test_redact_text_replaces_registered_secret_that_is_not_a_jwt() -> None:
    assert scrub.redact_text(f"key={CANARY_KEY}") == f"key={CANARY_KEY}"
    scrub.register_secret(CANARY_KEY)
    assert scrub.redact_text(f"key={CANARY_KEY};again {CANARY_KEY}") == (
        "key=<redacted>;again <redacted>"
    )


def test_register_secret_ignores_empty_and_short_values() -> None:
    scrub.register_secret("")
    scrub.register_secret(None)
    scrub.register_secret("abc")
    assert scrub.redact_text("abc data") == "abc data"


def test_redact_text_is_idempotent_and_its_placeholder_is_not_jwt_shaped() -> None:
    once = scrub.redact_text(f"Bearer {canary_jwt()} and {canary_jwt()}")
    assert scrub.redact_text(once) == once
    assert not scrub.REDACTED.startswith("eyJ")
    assert_clean(once)


def test_registering_a_jwt_registers_its_signature_too() -> None:
    """A token made of a real one's signature under other claims rebuilds the real one
    with those claims: its signature is as secret as the token."""
    real = canary_jwt()
    scrub.register_secret(real)
    header, _, signature = real.split(".")
    edited = forge_jwt(real, exp=2_000_000_000).rsplit(".", 1)[0] + "." + signature
    assert signature not in scrub.redact_text(f"sent {edited}")
    assert scrub.is_secret(real)
    assert scrub.is_secret(signature)
    assert not scrub.is_secret(header)  # every HS256 token's header: nothing secret


def test_register_token_answer_registers_what_authorize_issued() -> None:
    scrub.register_token_answer({"data": "opaque-issued-token-77"})
    scrub.register_token_answer({"error": "unauthorized"})
    scrub.register_token_answer(None)
    assert scrub.redact_text("got opaque-issued-token-77") == "got <redacted>"


# -- forged tokens: evidence, shown as sent ----------------------------------------------------


def test_forge_jwt_keeps_the_claims_but_not_the_signature() -> None:
    real = jwt.encode(
        {"sub": "brand", "iss": "masivo", "exp": 2_000_000_000}, "secret" * 6, algorithm="HS256"
    )
    forged = forge_jwt(real, exp=2_000_000_001)
    claims = jwt.decode(forged, options={"verify_signature": False})
    assert claims == {"sub": "brand", "iss": "masivo", "exp": 2_000_000_001}
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(forged, "secret" * 6, algorithms=["HS256"])
    unsigned = forge_jwt(real, algorithm="none")
    assert unsigned.endswith(".")
    assert jwt.get_unverified_header(unsigned)["alg"] == "none"
    assert jwt.decode(forge_jwt("not a jwt"), options={"verify_signature": False}) == {
        "sub": "masivo-conformance"
    }


def test_is_forged_tells_the_suites_tokens_by_their_header() -> None:
    forged = forge_jwt(None, exp=2_000_000_000)
    assert scrub.is_forged(forged)
    assert scrub.is_forged(forged.rsplit(".", 1)[0])  # cut after its payload
    assert scrub.is_forged(forge_jwt(None, algorithm="none"))
    assert not scrub.is_forged(canary_jwt())
    for junk in ("", "eyJ", "eyJ!!.x", "not-base64.x.y", "WzFd.e30.x"):  # WzFd: a JSON list
        assert not scrub.is_forged(junk)


def test_redact_text_keeps_forged_tokens_and_redacts_real_and_unknown_ones() -> None:
    real, stranger = canary_jwt(), jwt.encode({"sub": "x"}, "q" * 32, algorithm="HS256")
    scrub.register_secret(real)
    forged = forge_jwt(real, exp=2_000_000_000)
    text = f"sent Bearer {forged}, had {real}, saw {stranger} and Bearer {stranger}"
    assert scrub.redact_text(text) == (
        f"sent Bearer {forged}, had <redacted>, saw <redacted> and Bearer <redacted>"
    )


def test_a_forged_header_does_not_save_a_real_signature() -> None:
    """Whatever its header says, a token carrying the run's signature loses it."""
    real = canary_jwt()
    scrub.register_secret(real)
    header, payload, _ = forge_jwt(real).split(".")
    signature = real.rsplit(".", 1)[1]
    text = scrub.redact_text(f"Bearer {header}.{payload}.{signature}")
    assert text == f"Bearer {header}.{payload}.<redacted>"


# -- log records -------------------------------------------------------------------------------


def test_log_records_are_redacted_once_a_secret_is_known(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Whoever prints or captures a record (pytest, uvicorn's handlers, the terminal) gets
    it redacted: the message, its arguments and its traceback."""
    token = canary_jwt()
    scrub.register_secret(CANARY_KEY)
    log = logging.getLogger("masivo_conformance.test")
    with caplog.at_level(logging.INFO, logger="masivo_conformance.test"):
        log.info("key %s token %s", CANARY_KEY, token)
        try:
            raise ValueError(f"refused {CANARY_KEY}")
        except ValueError:
            log.exception("failed")
    assert caplog.records[0].getMessage() == "key <redacted> token <redacted>"
    assert_clean(caplog.text, CANARY_KEY, token)
    assert "ValueError: refused <redacted>" in caplog.text


def test_scrub_headers_redacts_credentials_whatever_their_case() -> None:
    token = canary_jwt()
    headers = {
        "AUTHORIZATION": f"Bearer {token}",
        "X-Api-Key": CANARY_KEY,
        "Cookie": "session=abc",
        "set-cookie": ["a=1", "b=2"],
        "Content-Type": "application/json",
    }
    scrubbed = scrub.scrub_headers(headers)
    assert scrubbed == {
        "AUTHORIZATION": "<redacted>",
        "X-Api-Key": "<redacted>",
        "Cookie": "<redacted>",
        "set-cookie": ["<redacted>", "<redacted>"],
        "Content-Type": "application/json",
    }
    assert headers["X-Api-Key"] == CANARY_KEY  # the caller's mapping is left alone


def test_scrub_headers_redacts_a_registered_secret_in_any_header() -> None:
    scrub.register_secret(CANARY_KEY)
    assert scrub.scrub_headers({"X-Echo": [f"k {CANARY_KEY}"]}) == {"X-Echo": ["k <redacted>"]}


def test_scrub_json_masks_configured_fields_keeping_their_json_type() -> None:
    document = {
        "data": {
            "customer": {
                "id": "c-1",
                "Email": "ana@example.com",
                "document_number": 12345678,
                "phone": None,
                "contacts": [{"email": "b@example.com", "note": f"Bearer {canary_jwt()}"}],
            }
        }
    }
    customer = scrub.scrub_json(document)["data"]["customer"]
    assert customer["id"] == "c-1"
    assert customer["Email"] == "<redacted>"
    assert customer["document_number"] == 0
    assert customer["phone"] is None
    assert customer["contacts"] == [{"email": "<redacted>", "note": "Bearer <redacted>"}]


def test_scrub_json_uses_the_given_field_list() -> None:
    document = {"email": "a@b.c", "tax_id": "X-1"}
    assert scrub.scrub_json(document, fields=["tax_id"]) == {
        "email": "a@b.c",
        "tax_id": "<redacted>",
    }


def test_scrub_body_keeps_untouched_json_bytes_and_redacts_plain_text() -> None:
    raw = b'{ "data" : [1, 2] }'
    assert scrub.scrub_body(raw) is raw
    assert scrub.scrub_body(f"token=Bearer {OPAQUE}") == b"token=Bearer <redacted>"
    assert scrub.scrub_body(b"\xff\xfe\x00") == b"\xff\xfe\x00"
    assert scrub.scrub_body(None) is None


def vcr_yaml(value: Any) -> str:
    """What vcrpy's YAML serializer would write for a value."""
    from vcr.serializers import compat, yamlserializer  # noqa: PLC0415

    return str(yamlserializer.serialize(compat.convert_to_unicode(value)))


def test_request_hook_removes_canary_key_token_and_personal_data() -> None:
    token = canary_jwt()
    scrub.register_secret(CANARY_KEY)
    request = Request(
        "POST",
        "http://api.test/v1/customers?email=ana%40example.com&from=0",
        json.dumps({"id": "c-1", "email": "ana@example.com", "echo": CANARY_KEY}).encode(),
        {"Authorization": f"Bearer {token}", "x-api-key": CANARY_KEY},
    )
    scrubbed = vcr_hooks.before_record_request()(request)
    written = vcr_yaml(scrubbed._to_dict())
    assert_clean(written, token, CANARY_KEY, "ana@example.com", "ana%40example.com")
    assert json.loads(scrubbed.body) == {"id": "c-1", "email": "<redacted>", "echo": "<redacted>"}
    assert scrubbed.path == "/v1/customers"
    assert dict(scrubbed.query) == {"email": "<redacted>", "from": "0"}


def test_request_hook_keeps_an_innocent_query_as_sent() -> None:
    request = Request("GET", "http://api.test/rewards?to=10&from=0", None, {})
    assert vcr_hooks.before_record_request()(request).uri == "http://api.test/rewards?to=10&from=0"


def test_response_hook_removes_the_authorize_jwt_and_fixes_content_length() -> None:
    token = canary_jwt()
    body = json.dumps({"data": token}).encode()
    response: dict[str, Any] = {
        "status": {"code": 200, "message": "OK"},
        "headers": {"Content-Type": ["application/json"], "Content-Length": [str(len(body))]},
        "body": {"string": body},
    }
    scrubbed = vcr_hooks.before_record_response()(response)
    assert json.loads(scrubbed["body"]["string"]) == {"data": "<redacted>"}
    assert scrubbed["headers"]["Content-Length"] == [str(len(scrubbed["body"]["string"]))]
    assert_clean(vcr_yaml(scrubbed), token)
    assert response["body"]["string"] == body  # the client's own response is untouched


def test_response_hook_accepts_text_bodies_and_missing_bodies() -> None:
    hook = vcr_hooks.before_record_response()
    text = hook({"status": {"code": 200}, "headers": {}, "body": {"string": f"Bearer {OPAQUE}"}})
    assert text["body"]["string"] == b"Bearer <redacted>"
    empty = hook({"status": {"code": 204}, "headers": {}, "body": {"string": None}})
    assert empty["body"]["string"] is None


def test_hooks_leave_a_loaded_cassette_unchanged_when_run_again() -> None:
    """vcrpy re-applies the hooks to every interaction it loads for replay."""
    request_hook, response_hook = (
        vcr_hooks.before_record_request(),
        vcr_hooks.before_record_response(),
    )
    response = {
        "status": {"code": 200},
        "headers": {"Set-Cookie": ["s=1"]},
        "body": {"string": json.dumps({"data": canary_jwt(), "email": "a@b.c"}).encode()},
    }
    once = response_hook(response)
    assert response_hook(once) == once
    request = Request("GET", "http://h/x", None, {"Authorization": f"Bearer {OPAQUE}"})
    first = request_hook(request)
    assert first is not request
    assert request.headers["Authorization"] == f"Bearer {OPAQUE}"
    assert request_hook(first)._to_dict() == first._to_dict()
    assert yaml.safe_load(vcr_yaml(once))["headers"] == {"Set-Cookie": ["<redacted>"]}


def test_scrub_body_with_a_lone_surrogate_and_something_to_mask_is_valid_json() -> None:
    """A target's answer may hold a lone surrogate; masking an email beside it must not
    fail to encode (it did: record and drift crashed on such an answer)."""
    body = b'{"note": "\\ud800", "email": "a@example.com"}'
    scrubbed = scrub.scrub_body(body)
    assert scrubbed is not None
    assert json.loads(scrubbed) == {"note": "\ud800", "email": scrub.REDACTED}
