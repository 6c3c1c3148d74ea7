"""Fixtures of the tests that tamper with answers (tests/hostile, and tests/cli where a
target refuses a step): a tamperer in front of a reference server. Registered in the
root conftest, so every test folder may ask for `hostile`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from masivo_conformance.server.embedded import EmbeddedServer
from tests.hostile.tamperer import Tamperer


@pytest.fixture
def hostile() -> Iterator[Tamperer]:
    """A started `Tamperer` (no rules yet: it passes everything through) in front of a
    started `EmbeddedServer` (`hostile.upstream`); both stop after the test."""
    with EmbeddedServer() as upstream, Tamperer(upstream) as tamperer:
        yield tamperer
