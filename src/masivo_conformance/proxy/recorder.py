"""The proxy's traffic as vcrpy cassettes, redacted, that `judge` reads (and a team's
own vcrpy loads; `replay` and `drift` replay the suite's own scenarios, not these):
`proxy-<start>-0001.yaml`, `...-0002.yaml`, ... in the `--cassettes` folder.

A file is rotated after `per_file` exchanges or `max_bytes` of bodies, so a long session
is many small files, each readable alone (each holds its own `version` line). The open
file is rewritten whole, redacted as `judge --scrub-to` redacts
(`recording.exported.as_cassette`, `recording.shareable.scrubbed`), when it is rotated
and whenever `flush()` is called (each report, and at the end): a crash loses at most
the exchanges since the last flush. Its exchanges are held in memory until it rotates,
which bounds what the recorder holds. Secrets are registered with `scrub` before an
exchange is recorded (the judge's `register_secrets` does it), so the redaction knows
them.
"""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

from masivo_conformance.recording.exported import as_cassette
from masivo_conformance.recording.shareable import scrubbed
from masivo_conformance.recording.traffic import Exchange, dump_yaml

__all__ = ["MAX_FILE_BYTES", "PER_FILE", "CassetteRecorder"]

#: Exchanges per cassette: a file a person can read, and `judge` reads in a blink.
PER_FILE = 200
#: Body text per cassette; past it the file is rotated even with fewer exchanges.
MAX_FILE_BYTES = 4 * 1024 * 1024


class CassetteRecorder:
    """`add(exchange)` gives the exchange its place (file and index: its origin in
    findings, the same `judge` gives it when it reads the file back)."""

    def __init__(
        self, folder: Path, *, per_file: int = PER_FILE, max_bytes: int = MAX_FILE_BYTES
    ) -> None:
        self.folder = folder
        self.per_file, self.max_bytes = per_file, max_bytes
        self._stamp = time.strftime("%Y%m%dT%H%M%S")
        self._number = 0
        self._open: list[Exchange] = []
        self._bytes = 0
        self._dirty = False
        self.written: list[Path] = []

    @property
    def path(self) -> Path:
        return self.folder / f"proxy-{self._stamp}-{self._number:04d}.yaml"

    def add(self, exchange: Exchange) -> Exchange:
        size = len(exchange.response_text or "") + len(exchange.request_body or b"")
        if self._open and (len(self._open) >= self.per_file or self._bytes + size > self.max_bytes):
            self.flush()
            self._open, self._bytes = [], 0
        if not self._open:
            self._number += 1
        placed = replace(exchange, source=str(self.path), index=len(self._open) + 1)
        self._open.append(placed)
        self._bytes += size
        self._dirty = True
        return placed

    def flush(self) -> Path | None:
        """Write the open file (atomically: a reader never sees half of it)."""
        if not self._dirty:
            return None
        path = self.path
        text = dump_yaml(scrubbed("cassette", as_cassette(self._open)))
        self.folder.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".yaml.partial")
        partial.write_text(text, encoding="utf-8")
        os.replace(partial, path)
        if path not in self.written:
            self.written.append(path)
        self._dirty = False
        return path
