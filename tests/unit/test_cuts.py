"""Redact, then cut, everywhere: the target chooses where its echo of the key falls, so
the key is placed at every offset around every cut the suite makes, and no piece of it
may survive any of them (a cut made before redaction leaves all but one character)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from masivo_conformance import cli, scrub
from masivo_conformance.checks.evidence import ConformanceViolation
from masivo_conformance.checks.values import short
from masivo_conformance.reporting.report_templates import clip
from masivo_conformance.suite import recorder

KEY = "KEY-q7w8e9r0t1y2u3"  # none of its characters is the padding's
PAD = "."


@pytest.fixture(autouse=True)
def registered_key() -> Iterator[None]:
    scrub.clear_secrets()
    scrub.register_secret(KEY)
    yield
    scrub.clear_secrets()


def _violation(text: str) -> str:
    return ConformanceViolation("GEN-3", text).detail


def _error_line(text: str) -> str:
    return recorder.one_line(RuntimeError(text))


def _pytest_text(text: str) -> str:
    return recorder._printed(text)


def _cli_line(text: str) -> str:
    return scrub.excerpt(" ".join(text.split()), cli.ERROR_LINE_LIMIT)


def _markdown(text: str) -> str:
    return clip(scrub.redact_text(text))  # the reports redact the whole result first


# (what is cut, how, and where the cut falls for a text that is only padding and the key)
CUTS: list[tuple[str, Callable[[str], str], int]] = [
    ("excerpt", scrub.excerpt, scrub.QUOTE_LIMIT),
    ("short", short, 160 - 2),  # repr() adds a quote in front
    ("violation message", _violation, scrub.MESSAGE_LIMIT),
    ("test error line", _error_line, 300 - len("RuntimeError: ")),
    ("pytest report text", _pytest_text, recorder.REPORT_TEXT_LIMIT),
    ("error line of the command", _cli_line, cli.ERROR_LINE_LIMIT),
    ("job summary message", _markdown, 3000),
]


def pieces_of_the_key(text: str) -> list[str]:
    """Every run of four characters of the key found in `text`."""
    return [KEY[i : i + 4] for i in range(len(KEY) - 3) if KEY[i : i + 4] in text]


@pytest.mark.parametrize(("name", "cut", "limit"), CUTS, ids=[c[0] for c in CUTS])
def test_no_piece_of_the_key_survives_a_cut_wherever_it_falls(
    name: str, cut: Callable[[str], str], limit: int
) -> None:
    for offset in range(limit - len(KEY) - 2, limit + 3):
        shown = cut(PAD * offset + KEY + PAD * 40)
        assert pieces_of_the_key(shown) == [], f"{name}, key at {offset}: {shown[-60:]!r}"
    # and the cut did happen, or this test would prove nothing
    assert len(cut(PAD * (limit + 500))) < limit + 500
