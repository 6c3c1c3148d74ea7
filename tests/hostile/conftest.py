"""Fixtures of the hostile-target tests: a tamperer in front of a reference server."""

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
