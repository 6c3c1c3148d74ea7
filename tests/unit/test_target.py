"""The brand a target names when none was given: shown as data, never as terminal or CI
commands, and never with a secret in it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from masivo_conformance import scrub
from masivo_conformance.errors import SettingsError
from masivo_conformance.suite import target
from masivo_conformance.suite.target import BRAND_SHOWN, shown_brand

BASE_URL = "https://app.masivo.ai/api/storefront/v1"
KEY = "mk_live_brand_key_5521"
HOSTILE = "b-1\x1b[2J\x1b]0;owned\x07\n::error::x\r\n##[group]y\u2028::add-mask::z"


@pytest.fixture(autouse=True)
def _no_secrets() -> Iterator[None]:
    scrub.clear_secrets()
    yield
    scrub.clear_secrets()


class Rewards:
    """What `_only_brand` asks of a client: one GET /rewards, answered with these brands."""

    def __init__(self, *brands: str) -> None:
        self.brands = brands

    def request(self, method: str, path: str, **_: Any) -> httpx.Response:
        assert (method, path) == ("GET", "/rewards")
        rewards = [{"id": f"r{i}", "brand_id": b} for i, b in enumerate(self.brands)]
        return httpx.Response(200, json={"data": rewards})


def only_brand(*brands: str) -> str:
    return target._only_brand(Rewards(*brands), BASE_URL)  # type: ignore[arg-type]


def assert_inert(text: str) -> None:
    """Nothing in `text` a terminal or a CI runner would act on."""
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\r" not in text
    lines = text.splitlines()  # also breaks on U+2028, as a later reader might
    assert not [line for line in lines if line.lstrip().startswith(("::", "##"))]


def test_the_only_brand_is_used_as_sent_and_printed_as_one_escaped_string(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert only_brand(HOSTILE) == HOSTILE  # the run uses what the target named
    err = capsys.readouterr().err
    assert err.count("\n") == 1, "one line"
    assert_inert(err)
    assert json.dumps(HOSTILE) in err  # readable as data: a JSON string, ASCII only
    assert err.isascii()


def test_a_brand_that_holds_the_key_is_printed_redacted(
    capsys: pytest.CaptureFixture[str],
) -> None:
    scrub.register_secret(KEY)
    only_brand(f"brand-{KEY}")
    err = capsys.readouterr().err
    assert KEY not in err
    assert json.dumps(f"brand-{scrub.REDACTED}") in err


def test_a_long_brand_is_cut_after_redaction(capsys: pytest.CaptureFixture[str]) -> None:
    scrub.register_secret(KEY)
    # The key straddles the cut: cutting first would leave half of it to be printed.
    brand = "x" * (BRAND_SHOWN - 5) + KEY + "y" * 5000
    only_brand(brand)
    err = capsys.readouterr().err
    assert KEY[:8] not in err
    assert "more characters" in err
    assert len(err) < BRAND_SHOWN + 300


def test_brands_listed_in_the_error_are_escaped_and_redacted() -> None:
    scrub.register_secret(KEY)
    with pytest.raises(SettingsError) as caught:
        only_brand(HOSTILE, f"k-{KEY}", "z" * 10_000)
    message = str(caught.value)
    assert "\n" not in message
    assert_inert(message)
    assert KEY not in message
    assert json.dumps(HOSTILE) in message
    assert "3 brands" in message
    assert len(message) < 3 * BRAND_SHOWN + 400


def test_shown_brand_of_an_ordinary_id_is_the_id_in_quotes() -> None:
    brand = "4d1c0d9e-7c1b-4b61-9f3e-2f0a1b2c3d4e"
    assert shown_brand(brand) == f'"{brand}"'
